#pragma once
// The collaborative optimizer's view of the swarm (hivemind's
// ProgressTracker), as pure functions over the progress records read from
// the DHT. Each peer reports (epoch, samples accumulated, samples/s, time);
// the swarm's samples for the global epoch are the reports of that epoch,
// extrapolated to `now` by each peer's rate; the epoch ends when they reach
// target_batch_size (or the estimate says so).
// Every report is a claim, and a peer may lie (THREATS.md), so claims are
// bounded: a report from the future (past the clock skew) is ignored; the
// global epoch is this peer's, or the next one when several peers report
// having stepped past it, never whatever one peer says; and each peer is
// credited with at most a share of the target until it has been seen
// contributing to this peer's averaging rounds, then with at most a multiple
// of what it contributed.

#include "actors/common/node_id.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ttt::trainer {

struct peer_progress {
  node_id peer;
  uint64_t epoch = 0;
  uint64_t samples_accumulated = 0;
  double samples_per_second = 0;
  double time = 0; ///< when the report was made
  bool client_mode = false;
};

struct progress_settings {
  uint64_t target_batch_size = 4096;
  /// Bounds on how often a peer looks at (and republishes) progress.
  double min_refresh_period = 0.5;
  double max_refresh_period = 30;
  /// Reports older than this are left out (a dead peer's stale samples must
  /// not end an epoch).
  double report_lifetime = 60;
  /// Reports made further in the future than this are left out.
  double max_clock_skew = 30;
  /// Peers that must report a later epoch before this peer counts itself
  /// behind (fewer when fewer peers are eligible to vouch for it).
  size_t epoch_quorum = 2;
  /// Of the target batch, what a peer not yet seen contributing may be
  /// credited with: no single unproven peer ends an epoch.
  double newcomer_share = 0.5;
  /// A peer seen contributing w samples is credited with at most this times w.
  double credit_factor = 2;
};

/// What this peer saw others contribute to its averaging rounds lately:
/// peer -> the weight (samples) of its latest contribution.
using seen_contributions = std::unordered_map<node_id, double>;

struct global_progress {
  uint64_t epoch = 0;
  uint64_t samples_accumulated = 0; ///< extrapolated to `now`
  uint64_t target_batch_size = 0;
  double samples_per_second = 0;    ///< of the peers in `epoch`
  size_t num_peers = 0;             ///< reporting for `epoch`
  size_t num_clients = 0;
  double eta_next_epoch = 0;        ///< when the target should be reached
  double next_fetch_time = 0;       ///< when to look again
};

/// Whether report `r` counts at `now`: not older than the report lifetime,
/// not from further in the future than the clock skew.
inline bool live(const peer_progress& r, double now, const progress_settings& settings) {
  return now - r.time <= settings.report_lifetime && r.time <= now + settings.max_clock_skew;
}

/// The swarm's progress as `local` sees it at `now`, from the reports of
/// others (the local report is counted once, whether or not it is among
/// them). When `seen` is not empty, only the peers in it vouch for a later
/// epoch (this peer has averaged with them; a fresh identity has not).
global_progress aggregate(const peer_progress& local, const std::vector<peer_progress>& reports,
                          double now, const progress_settings& settings,
                          const seen_contributions& seen = {});

/// True when the swarm has (or is estimated to have) the target batch for
/// the local epoch: time to all-reduce and step.
bool ready_to_step(const peer_progress& local, const global_progress& global, double now);

/// True when the swarm has moved past the local epoch: this peer must load
/// state from its peers before contributing again.
inline bool behind(const peer_progress& local, const global_progress& global) {
  return global.epoch > local.epoch;
}

std::string encode(const peer_progress& p);
caf::expected<peer_progress> decode_progress(std::string_view bytes);

} // namespace ttt::trainer
