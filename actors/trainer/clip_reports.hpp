#pragma once
// The peers this trainer saw clipped, as its metrics record reports them.
// Pure: the trainer feeds it each round's clip counts (the averager's tally,
// round_result::clip_counts, by peer id) and reads the list to publish.
//
// A dropped peer is grouped with no more, so its counts stop changing: it is
// remembered as dropped until max_kept crowds it out. A peer clipped but
// not dropped is forgotten once it has not been in this trainer's rounds for
// forget_after_rounds rounds: the report says what holds recently.

#include "actors/metrics/swarm_metrics.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

namespace ttt::trainer {

struct clip_report_policy {
  /// Peers remembered at most.
  size_t max_kept = 64;
  /// A peer not dropped is forgotten after this many of this trainer's
  /// rounds without it (0: at the next round without it).
  uint64_t forget_after_rounds = 16;
};

class clip_reports {
public:
  explicit clip_reports(clip_report_policy policy = {}) : policy_(policy) {}

  /// One round's counts: each judged member, clipped in `clipped_rounds` of
  /// its last `rounds` rounds here, and whether it is dropped.
  void record(const std::vector<metrics::clipped_peer>& counts);

  /// What to publish: the peers clipped at least once in their window, or
  /// dropped; most clipped first, then dropped, then most recently seen; at
  /// most `max_entries`.
  std::vector<metrics::clipped_peer>
  report(size_t max_entries = metrics::max_clipped_reports) const;

private:
  struct entry {
    metrics::clipped_peer counts;
    uint64_t last_round = 0; ///< the round that last counted it
  };

  clip_report_policy policy_;
  uint64_t rounds_ = 0;
  std::map<node_id, entry> peers_;
};

} // namespace ttt::trainer
