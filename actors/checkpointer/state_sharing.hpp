#pragma once
// Serving and loading training state between peers: the advert a holder
// stores under "state.<run_id>" (signed, its owner marker as subkey), the
// holders a newcomer hands to the averager's download, best first, and the
// vouches that make downloaded state trustworthy: a holder's advert and
// checksum are its own claims, so state is accepted only when other peers
// vouch (signed, per epoch) for the digest of exactly what was downloaded.

#include "actors/averager/interface.hpp"
#include "actors/averager/state_advert.hpp"
#include "actors/checkpointer/checkpoint_core.hpp"
#include "actors/common/identity.hpp"
#include "actors/dht/types.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace ttt::checkpoint {

/// Reaches a holder's averager (null handle: unreachable).
using holder_resolver = std::function<averaging::averager_peer(const averaging::state_advert&)>;

/// The signed record advertising that `self`, at host:port, serves the state
/// of `epoch` (epochs completed) until now + lifetime.
dht::dht_record advert_record(const std::string& run_id, const identity& self, const std::string& host,
                              uint16_t port, uint64_t epoch, double now, double lifetime);

/// The holders of state for epoch `min_epoch` or later among `records` (a get
/// of the state key), best first, resolved; `self` and `distrusted` (holders
/// that served unvouched state) are left out.
std::vector<averaging::state_holder> resolve_holders(const dht::dht_records& records,
                                                     const node_id& self, uint64_t min_epoch,
                                                     const holder_resolver& resolve,
                                                     const std::set<node_id>& distrusted = {});

/// What peers vouch for: BLAKE2b-256 over a state's epoch and its files
/// (names, sizes, bytes, sorted by name), except files named "peer.*": those
/// hold what differs between honest peers (a data stream's position), are
/// not vouched for, and a model must take them as untrusted hints.
std::string state_digest(const training_state& state);

/// The DHT key of the vouches for the state after `epoch` epochs.
std::string vouch_key(const std::string& run_id, uint64_t epoch);

/// `self`'s signed vouch that its state after `epoch` epochs digests to `digest`.
dht::dht_record vouch_record(const std::string& run_id, const identity& self, uint64_t epoch,
                             const std::string& digest, double now, double lifetime);

/// The vouches for one epoch's state, as a downloader judges them.
struct vouch_count {
  size_t for_digest = 0;   ///< distinct peers other than the holder vouching for the digest
  size_t best_other = 0;   ///< the most peers vouching for any other digest
  size_t total = 0;        ///< distinct peers vouching for anything of that epoch
};

/// Counts the well-formed vouches among `records` (a get of vouch_key) for
/// `epoch` and `digest`, each signer once, `holder`'s own left out of
/// for_digest (a holder cannot vouch for what it serves).
vouch_count count_vouches(const dht::dht_records& records, uint64_t epoch, const std::string& digest,
                          const node_id& holder);

/// Vouched: at least `quorum` peers besides the holder vouch for the digest,
/// and more than for any other digest. `quorum` 0 trusts the holder.
inline bool vouched(const vouch_count& c, size_t quorum) {
  return quorum == 0 || (c.for_digest >= quorum && c.for_digest > c.best_other);
}

/// The quorum to ask of a swarm in which `others` peers besides the holder
/// and this one are seen alive: the configured one, or all of them when
/// fewer. More identities only raise it, so a liar cannot lower it; a swarm
/// whose only other peer is the holder has nobody to ask and trusts it.
inline size_t quorum_among(size_t quorum, size_t others) {
  return std::min(quorum, others);
}

/// Holders that served state nobody vouched for, each left out until a
/// time: a liar costs one download per period, an honest holder refused
/// before its vouches spread is asked again later.
class distrust_list {
public:
  void add(const node_id& holder, double until) { until_[holder] = until; }
  std::set<node_id> at(double now) const {
    std::set<node_id> out;
    for (const auto& [peer, until] : until_)
      if (now < until)
        out.insert(peer);
    return out;
  }

private:
  std::map<node_id, double> until_;
};

} // namespace ttt::checkpoint
