#pragma once
// A volunteer's status line, once a minute: the swarm's epoch, loss and live
// peers (from the run's metrics records in the DHT), this trainer's samples
// and its share of the swarm's samples over the last hour, and its upload
// speed while averaging. A pure tracker of the figures, and the actor that
// feeds it.

#include "actors/common/node_id.hpp"
#include "actors/common/node_metrics.hpp"
#include "actors/dht/interface.hpp"
#include "actors/metrics/swarm_metrics.hpp"

#include <caf/fwd.hpp>

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ttt::metrics {

/// Keeps an hour of observations and says the volunteer's status.
class status_tracker {
public:
  explicit status_tracker(node_id self, double window_seconds = 3600, double alive_window = 60);

  /// One observation at `now`: this trainer's own figures (samples since it
  /// started, bytes it sent averaging) and every trainer's latest report.
  /// Returns the status line.
  std::string observe(double now, uint64_t own_samples, uint64_t own_epoch, double sent_bytes,
                      const std::vector<peer_metrics>& reports);

  /// This volunteer's share of the swarm's samples over the window, in
  /// [0, 1]; the last observe's.
  double share() const { return share_; }

private:
  struct observation {
    double time = 0;
    uint64_t own = 0;
    double sent = 0;
    std::map<node_id, uint64_t> totals; ///< each trainer's reported total
  };
  node_id self_;
  double window_;
  double alive_window_;
  std::deque<observation> history_;
  double share_ = 0;
};

struct volunteer_status_config {
  dht::dht_actor dht;
  std::string run_id;
  node_id self;
  std::shared_ptr<const node_metrics> figures; ///< the trainer's own (samples, epoch, bytes sent)
  caf::timespan interval = std::chrono::minutes(1);
  std::function<double()> clock;
  std::function<void(const std::string&)> log;
};

/// Logs the status line every `interval`, the first one after the first interval.
caf::actor spawn_volunteer_status(caf::actor_system& sys, volunteer_status_config config);

} // namespace ttt::metrics
