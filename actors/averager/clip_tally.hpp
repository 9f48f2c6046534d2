#pragma once
// Which peers this peer has seen clipped, round after round, and which it
// drops for that. Pure: the averager actor feeds it each round's outcome on
// the span this peer reduced (the only one whose clipping it saw itself).
//
// An honest contribution is rarely clipped (CenteredClip's radius is twice
// the median distance to the median), so a peer clipped in most of its
// recent rounds is scaling, inverting or otherwise distorting what it
// sends. Once past the threshold it is dropped for the rest of the run:
// this peer no longer accepts it as a group member (see
// matchmaking_settings::excluded and the averager's round start).

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace ttt::averaging {

struct clip_policy {
  /// Rounds remembered per peer (the most recent ones it took part in here).
  uint32_t window_rounds = 8;
  /// A peer clipped in at least this many of them is dropped; 0: never drop.
  uint32_t drop_after = 6;
  /// Peers remembered at most; the longest unseen is forgotten first (a
  /// dropped peer is never forgotten).
  size_t max_peers = 4096;
};

class clip_tally {
public:
  explicit clip_tally(clip_policy policy = {}) : policy_(policy) {}

  /// Records one round: `judged` are the contributors whose values this
  /// peer's span combined (any order; duplicates ignored), `clipped` those of
  /// them CenteredClip clipped. Returns the peers this round pushed past the
  /// threshold (each is returned once in a run).
  std::vector<std::string> record(const std::vector<std::string>& judged,
                                  const std::vector<std::string>& clipped);

  bool dropped(std::string_view peer) const { return dropped_.count(std::string(peer)) > 0; }
  const std::set<std::string>& dropped_peers() const { return dropped_; }

  struct count {
    uint32_t clipped = 0;
    uint32_t rounds = 0;
  };
  /// The peer's recent rounds here, if it has any.
  std::optional<count> counts(std::string_view peer) const;

  /// "peer X clipped in 7 of the last 8 rounds: dropped from this peer's
  /// groups", X printed as hex unless it is printable text.
  std::string drop_message(std::string_view peer) const;

  const clip_policy& policy() const { return policy_; }

private:
  struct history {
    std::deque<bool> clipped; // most recent last
    uint64_t last_seen = 0;   // round counter
  };

  clip_policy policy_;
  uint64_t rounds_ = 0;
  std::map<std::string, history, std::less<>> peers_;
  std::set<std::string> dropped_;
};

/// A peer id as text: itself if printable, else lowercase hex.
std::string printable_peer(std::string_view peer);

} // namespace ttt::averaging
