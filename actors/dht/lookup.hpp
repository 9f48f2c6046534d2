#pragma once
// One iterative Kademlia lookup: asks up to `alpha` peers at a time for the
// peers (and, for a value lookup, the records) they know closest to
// `target`, moving towards it until the `k` closest peers that answered have
// all been asked. Pure: the actor shell sends the queries this object names
// and reports back answers and failures.

#include "actors/dht/protocol.hpp"
#include "actors/dht/record_store.hpp"

#include <map>
#include <vector>

namespace ttt::dht {

class lookup {
public:
  struct options {
    size_t k = 20;
    size_t alpha = 3;
    bool find_value = false; ///< also collect records under `target`
    bool latest = false;     ///< value lookups: keep going for the latest version
  };

  lookup(node_id self, node_id target, const std::vector<peer_info>& seeds, options opts);

  /// The next peers to ask (each marked in flight); empty when none is due now.
  std::vector<peer_info> next_queries();

  /// `from` answered with `result`; its records must already be validated.
  void on_response(const node_id& from, const find_result& result, double now);
  void on_failure(const node_id& from);

  bool done() const;
  bool found_value() const { return !records_.empty(); }

  /// Peers that answered, closest to the target first.
  std::vector<peer_info> closest_responders(size_t count) const;
  /// Responders that had no value: where a found value gets cached.
  std::vector<peer_info> responders_without_value(size_t count) const;
  /// The records found, merged: the latest version of the value or of each subkey.
  dht_records records(double now) const;
  const node_id& target() const { return target_; }
  /// Peers that failed to answer (the caller drops them from its routing table).
  const std::vector<node_id>& failed() const { return failed_; }

private:
  enum class state { fresh, in_flight, responded, failed };
  struct candidate {
    peer_info peer;
    state st = state::fresh;
    bool had_value = false;
  };

  void add(const peer_info& p);

  node_id self_;
  node_id target_;
  options opts_;
  std::map<node_id, candidate> candidates_; ///< by distance to target
  size_t in_flight_ = 0;
  record_store records_store_;
  std::vector<dht_record> records_; ///< raw, for found_value()
  std::vector<node_id> failed_;
};

} // namespace ttt::dht
