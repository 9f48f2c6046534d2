#pragma once
// Matchmaking through the DHT, as a pure decision function.
//
// Every peer that wants to average in a round declares itself under the
// round's key, with a deadline = its start + matchmaking_time. Peers are
// ordered by (deadline, peer id); the order is cut into chunks of
// target_group_size, and the first peer of each chunk leads it. A leader
// gathers until its chunk is full or its deadline passes, then announces the
// group (id and member order) under "<key>.group" if it has at least
// min_group_size members. A follower joins the announced group that lists it.
//
// Why this shape: a follower only ever waits for a peer with an earlier
// (deadline, id) to lead it, so two peers can never wait for each other, and
// peers that start at different moments still meet: the earliest one leads.
// Only DHT stores and gets are needed, so client-mode peers (no incoming
// connections) take part like any other.
//
// Claims are bounded: a declaration whose deadline lies outside
// [now - announce_grace, now + matchmaking_time + announce_grace] is
// ignored (a peer cannot lead by declaring a deadline long past, nor hold a
// place with one far ahead; declarations expire at deadline + grace in the
// DHT anyway), and the bandwidths of a group are bounded when it is read
// (announcement::group, bound_bandwidths). Peers in `excluded` (dropped by
// this peer, e.g. for being clipped too often) are never grouped with.

#include "actors/averager/allreduce.hpp"
#include "actors/dht/types.hpp"

#include <caf/expected.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ttt::averaging {

/// One peer's declaration, as stored in the DHT.
struct declaration {
  node_id peer;
  std::string public_key;
  std::string host; ///< empty for a client-mode peer
  uint16_t port = 0;
  peer_mode mode = peer_mode::node;
  double bandwidth = 1;
  double deadline = 0; ///< Unix seconds

  std::string address() const { return host + ":" + std::to_string(port); }
};

/// A group as its leader announced it.
struct announcement {
  std::string group_id; ///< 20 raw bytes
  std::vector<declaration> members; ///< members[0] leads

  /// The group as the all-reduce sees it (peer ids are raw node ids), with
  /// the declared bandwidths bounded (bound_bandwidths): every member reads
  /// the same announcement, so every member computes the same spans.
  group_info group() const;
  /// This peer's index in members, if it is one.
  std::optional<size_t> index_of(const node_id& peer) const;
};

struct matchmaking_settings {
  size_t target_group_size = 4;
  size_t min_group_size = 2;
  double matchmaking_time = 5; ///< seconds a leader gathers followers
  /// How long after its deadline a follower waits for its leader's
  /// announcement; declarations live this much past their deadline too.
  double announce_grace = 5;
  /// Peers this peer will not group with: left out of the groups it leads,
  /// and an announcement listing one is refused.
  std::vector<node_id> excluded;
};

/// Whether `d`'s deadline is one an honest peer declaring now could have
/// chosen, within the announce grace either way.
bool plausible_deadline(const declaration& d, double now, const matchmaking_settings& settings);

enum class step {
  wait,     ///< look again later
  announce, ///< this peer leads: store `group` under "<key>.group"
  joined,   ///< `group` lists this peer: averaging can start
  failed,   ///< no group for this peer this round; `why` says why
};

struct decision {
  step what = step::wait;
  announcement group;
  std::string why;
};

/// What `self` does now, given the unexpired declarations and announcements
/// it read from the DHT.
decision decide(const declaration& self, const std::vector<declaration>& declared,
                const std::vector<announcement>& announced, double now,
                const matchmaking_settings& settings);

/// The group id of `members` under `key`: BLAKE2b-160 of the key and the ids.
std::string make_group_id(std::string_view key, const std::vector<declaration>& members);

/// Cap'n Proto codecs of schema/matchmaking.capnp, with limits.
std::string encode(const declaration& d);
caf::expected<declaration> decode_declaration(std::string_view bytes);
std::string encode(const announcement& a);
caf::expected<announcement> decode_announcement(std::string_view bytes);

/// The DHT keys of a round: declarations under "mm.<round>", the leaders'
/// announcements under "mmgroup.<round>"; both prefixes are schema-bound.
inline std::string declaration_key(std::string_view round) {
  return "mm." + std::string(round);
}
inline std::string announcement_key(std::string_view round) {
  return "mmgroup." + std::string(round);
}

} // namespace ttt::averaging
