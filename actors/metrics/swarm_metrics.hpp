#pragma once
// The metrics every trainer publishes per epoch, and the monitor's swarm-wide
// aggregate of them (as dalle-hivemind's aux peer computed it: the latest
// step's alive peers, mean loss = Σ loss / Σ mini-steps, total samples/s and
// samples). Pure; codecs for the DHT and the monitor's history.

#include "actors/common/node_id.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ttt::metrics {

struct peer_metrics {
  node_id peer;
  uint64_t step = 0;
  double samples_per_second = 0;
  uint64_t samples_accumulated = 0;
  double loss = 0;         ///< sum over the epoch's mini-batches
  uint32_t mini_steps = 0; ///< how many mini-batches `loss` sums
  double time = 0;
  std::string certificate; ///< the trainer's certificate of the run (empty: none)
  std::string name;        ///< from that certificate, once verified (the monitor sets it)
};

struct swarm_snapshot {
  uint64_t step = 0;
  uint32_t alive_peers = 0;
  double mean_loss = 0;
  double samples_per_second = 0;
  uint64_t samples = 0;
  double time = 0;
};

/// The aggregate of the latest step among reports newer than `now - alive_window`;
/// nullopt when there is none.
std::optional<swarm_snapshot> summarize(const std::vector<peer_metrics>& reports, double now,
                                        double alive_window);

std::string encode(const peer_metrics& m);
caf::expected<peer_metrics> decode_metrics(std::string_view bytes);
std::string encode(const swarm_snapshot& s);
caf::expected<swarm_snapshot> decode_snapshot(std::string_view bytes);

/// History key of a step: big-endian, so RocksDB iterates steps in order.
std::string history_key(uint64_t step);

} // namespace ttt::metrics
