#include "actors/metrics/volunteer_status.hpp"

#include "actors/common/describe.hpp"
#include "actors/metrics/monitor.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>

#include <algorithm>
#include <cstdio>

namespace ttt::metrics {

status_tracker::status_tracker(node_id self, double window_seconds, double alive_window)
  : self_(self), window_(window_seconds), alive_window_(alive_window) {}

std::string status_tracker::observe(double now, uint64_t own_samples, uint64_t own_epoch, double sent_bytes,
                                    const std::vector<peer_metrics>& reports) {
  observation o;
  o.time = now;
  o.own = own_samples;
  o.sent = sent_bytes;
  for (const auto& r : reports)
    o.totals[r.peer] = r.total_samples;
  o.totals[self_] = own_samples; // this trainer's own count, not its last report
  double previous_time = history_.empty() ? now : history_.back().time;
  double previous_sent = history_.empty() ? sent_bytes : history_.back().sent;
  history_.push_back(std::move(o));
  // The baseline: the newest observation at least a window old, or the oldest.
  while (history_.size() > 1 && history_[1].time <= now - window_)
    history_.pop_front();
  const auto& current = history_.back();
  // Each counter's growth since the baseline; one that went down restarted,
  // and counts from 0. A trainer first seen later counts from then.
  auto growth = [](uint64_t from, uint64_t to) { return to >= from ? to - from : to; };
  uint64_t own_growth = growth(history_.front().own, current.own);
  uint64_t swarm_growth = 0;
  for (const auto& [peer, total] : current.totals) {
    for (const auto& past : history_) {
      auto it = past.totals.find(peer);
      if (it != past.totals.end()) {
        swarm_growth += growth(it->second, total);
        break;
      }
    }
  }
  share_ = swarm_growth > 0 ? std::min(1.0, static_cast<double>(own_growth) / static_cast<double>(swarm_growth)) : 0;
  double minutes = (now - history_.front().time) / 60;
  double upload = now > previous_time ? (sent_bytes - previous_sent) / (now - previous_time) : 0;

  char line[320];
  auto swarm = summarize(reports, now, alive_window_);
  std::string text = "status: ";
  if (swarm) {
    std::snprintf(line, sizeof(line), "swarm at epoch %llu, loss %.4f, %u peer%s; ",
                  static_cast<unsigned long long>(swarm->step), swarm->mean_loss, swarm->alive_peers,
                  swarm->alive_peers == 1 ? "" : "s");
    text += line;
  } else {
    text += "no trainer has reported to the swarm yet; ";
  }
  if (history_.size() == 1) { // nothing to measure a share or a speed against yet
    std::snprintf(line, sizeof(line), "you: epoch %llu, %llu samples", static_cast<unsigned long long>(own_epoch),
                  static_cast<unsigned long long>(own_samples));
    return text + line;
  }
  std::snprintf(line, sizeof(line), "you: epoch %llu, %llu samples, %.0f%% of the swarm's in the last %.0f min, "
                                    "sending %.2f MB/s",
                static_cast<unsigned long long>(own_epoch), static_cast<unsigned long long>(own_samples),
                100 * share_, std::max(1.0, minutes), std::max(0.0, upload) / 1e6);
  return text + line;
}

caf::actor spawn_volunteer_status(caf::actor_system& sys, volunteer_status_config cfg) {
  return sys.spawn([cfg](caf::event_based_actor* self) -> caf::behavior {
    auto tracker = std::make_shared<status_tracker>(cfg.self);
    self->delayed_send(self, cfg.interval, mon_poll_atom_v);
    return {
      [self, cfg, tracker](mon_poll_atom) {
        self->request(cfg.dht, std::chrono::seconds(30), dht_get_atom_v, metrics_key(cfg.run_id), true)
          .then(
            [cfg, tracker](dht::dht_records& records) {
              size_t refused = 0; // the monitor counts these; a volunteer's status does not
              auto reports = read_reports(records, refused);
              const auto& f = *cfg.figures;
              cfg.log(tracker->observe(cfg.clock(), static_cast<uint64_t>(f.value("ttt_node_samples_total")),
                                       static_cast<uint64_t>(f.value("ttt_node_epoch")),
                                       f.value("ttt_node_averaging_sent_bytes_total"), reports));
            },
            [cfg](caf::error& err) { cfg.log("status: cannot read the swarm's metrics: " + describe(err)); });
        self->delayed_send(self, cfg.interval, mon_poll_atom_v);
      },
    };
  });
}

} // namespace ttt::metrics
