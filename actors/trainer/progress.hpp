#pragma once
// The collaborative optimizer's view of the swarm (hivemind's
// ProgressTracker), as pure functions over the progress records read from
// the DHT. Each peer reports (epoch, samples accumulated, samples/s, time);
// the global epoch is the largest reported; the swarm's samples for it are
// the reports of that epoch, extrapolated to `now` by each peer's rate; the
// epoch ends when they reach target_batch_size (or the estimate says so).

#include "actors/common/node_id.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <string>
#include <string_view>
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
};

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

/// The swarm's progress as `local` sees it at `now`, from the reports of
/// others (the local report is counted once, whether or not it is among them).
global_progress aggregate(const peer_progress& local, const std::vector<peer_progress>& reports,
                          double now, const progress_settings& settings);

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
