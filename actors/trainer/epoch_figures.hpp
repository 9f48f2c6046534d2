#pragma once
// One completed epoch in this node's Prometheus figures ([metrics] listen),
// the same for both trainers (hivemind and DiLoCo).

#include "actors/common/node_metrics.hpp"
#include "actors/trainer/collaborative.hpp"

#include <cstdint>

namespace ttt::trainer {

/// What a trainer has counted into its figures so far: they take the growth.
struct figures_counted {
  uint64_t samples = 0;
  uint64_t bytes_sent = 0;
};

/// Counts the epoch `r` into `figures` (null: nothing): its loss and rate,
/// the samples and bytes since the last call (`total_samples` and
/// `bytes_sent` are this process's totals), the round's outcome and the
/// seconds it took.
inline void count_epoch(node_metrics* figures, figures_counted& counted, const epoch_report& r,
                        double samples_per_second, uint64_t total_samples, uint64_t bytes_sent,
                        double averaging_seconds) {
  if (figures == nullptr)
    return;
  figures->set("ttt_node_epoch", static_cast<double>(r.epoch));
  figures->set("ttt_node_loss", r.mean_loss);
  figures->set("ttt_node_samples_per_second", samples_per_second);
  figures->add("ttt_node_epochs_total");
  figures->add("ttt_node_samples_total", static_cast<double>(total_samples - counted.samples));
  figures->add("ttt_node_averaging_sent_bytes_total", static_cast<double>(bytes_sent - counted.bytes_sent));
  figures->add("ttt_node_averaging_seconds_total", averaging_seconds);
  figures->add("ttt_node_averaging_rounds_total", 1,
               prometheus_label("outcome", !r.averaged ? "alone" : r.partial ? "partial" : "averaged"));
  counted = {total_samples, bytes_sent};
}

} // namespace ttt::trainer
