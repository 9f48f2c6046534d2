#pragma once
// Kademlia's routing table (Maymounkov & Mazières 2002, as hivemind uses it):
// k-buckets over id-space prefixes, split when full if they cover our own id
// or their depth is not a multiple of `depth_modulo`; a full bucket that
// cannot split keeps newcomers in a replacement list and asks the caller to
// ping its least-recently-seen entry. Pure: no clock, no network; time and
// randomness are arguments.
// Against poisoning and eclipse: a known peer's address changes only when the
// caller has checked the new one (a ping answered there by that identity),
// and a bucket holds at most `max_per_subnet` peers of one network.

#include "actors/dht/types.hpp"

#include <cstdint>
#include <optional>
#include <random>
#include <vector>

namespace ttt::dht {

class routing_table {
public:
  struct bucket {
    node_id prefix; ///< the first `depth` bits are the bucket's; the rest are zero
    int depth = 0;
    std::vector<peer_info> nodes;        ///< least recently seen first, at most k
    std::vector<peer_info> replacements; ///< most recent last, at most k
    double last_updated = 0;

    bool covers(const node_id& id) const { return prefix.common_prefix_bits(id) >= depth; }
  };

  /// `max_per_subnet` 0: no bound per network.
  routing_table(node_id self, size_t bucket_size = 20, int depth_modulo = 5,
                size_t max_per_subnet = 0);

  /// Records that `peer` was seen alive at `now`. Returns the peer to ping
  /// when `peer` landed in the replacement list of a full bucket: if that
  /// ping fails, call on_failure() with it and the newest replacement moves in.
  /// A known peer seen at another address keeps its old one unless
  /// `address_checked` (see moved()).
  std::optional<peer_info> on_seen(const peer_info& peer, double now, bool address_checked = false);

  /// True when `peer` is known at another address than the one it gives.
  bool moved(const peer_info& peer) const;

  /// Removes `id` from its bucket (promoting a replacement) and from the replacement lists.
  void on_failure(const node_id& id);

  /// Up to `count` known peers closest to `target`, closest first, without `exclude`.
  std::vector<peer_info> nearest(const node_id& target, size_t count,
                                 const std::optional<node_id>& exclude = std::nullopt) const;

  bool contains(const node_id& id) const;
  std::optional<peer_info> find(const node_id& id) const;
  size_t size() const;
  std::vector<peer_info> all() const;
  const std::vector<bucket>& buckets() const { return buckets_; }
  const node_id& self() const { return self_; }

  /// Random ids inside every bucket not updated since `older_than`; looking
  /// them up refreshes those buckets.
  std::vector<node_id> refresh_targets(double older_than, std::mt19937_64& rng) const;

private:
  bool subnet_full(const bucket& b, const peer_info& peer) const;
  bucket& bucket_for(const node_id& id);
  void split(size_t index);

  node_id self_;
  size_t bucket_size_;
  int depth_modulo_;
  size_t max_per_subnet_;
  std::vector<bucket> buckets_;
};

/// The network a host is in, for the bound per subnet: the /24 of an IPv4
/// address, the /48 of an IPv6 address, the name itself otherwise; empty for
/// loopback (a node's own machine is not an attacker's network).
std::string subnet_of(const std::string& host);

} // namespace ttt::dht
