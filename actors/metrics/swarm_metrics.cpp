#include "actors/metrics/swarm_metrics.hpp"

#include "actors/common/capnp_io.hpp"
#include "schema/progress.capnp.h"

#include <cmath>

namespace ttt::metrics {

namespace {

caf::error bad(std::string what) {
  return capnp_io::invalid(std::move(what));
}

using capnp_io::to_bytes;
constexpr size_t max_record_bytes = 2048;

bool finite_non_negative(double x) {
  return std::isfinite(x) && x >= 0;
}

} // namespace

std::optional<swarm_snapshot> summarize(const std::vector<peer_metrics>& reports, double now,
                                        double alive_window) {
  std::optional<uint64_t> latest;
  for (const auto& r : reports)
    if (now - r.time <= alive_window && (!latest || r.step > *latest))
      latest = r.step;
  if (!latest)
    return std::nullopt;
  swarm_snapshot s;
  s.step = *latest;
  s.time = now;
  double loss = 0;
  uint64_t mini_steps = 0;
  for (const auto& r : reports) {
    if (r.step != *latest || now - r.time > alive_window)
      continue;
    s.alive_peers += 1;
    s.samples_per_second += r.samples_per_second;
    s.samples += r.samples_accumulated;
    loss += r.loss;
    mini_steps += r.mini_steps;
  }
  s.mean_loss = mini_steps > 0 ? loss / static_cast<double>(mini_steps) : 0;
  return s;
}

std::string encode(const peer_metrics& m) {
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<schema::MetricsRecord>();
  root.setPeerId(capnp_io::as_data(m.peer.raw()));
  root.setStep(m.step);
  root.setSamplesPerSecond(m.samples_per_second);
  root.setSamplesAccumulated(m.samples_accumulated);
  root.setLoss(m.loss);
  root.setMiniSteps(m.mini_steps);
  root.setTime(m.time);
  root.setCertificate(capnp_io::as_data(m.certificate));
  return to_bytes(message);
}

caf::expected<peer_metrics> decode_metrics(std::string_view bytes) {
  return capnp_io::read<schema::MetricsRecord>(
    bytes, max_record_bytes, "metrics record",
    [](schema::MetricsRecord::Reader r) -> caf::expected<peer_metrics> {
      auto id = node_id::from_bytes(capnp_io::as_view(r.getPeerId()));
      if (!id)
        return bad("metrics record: peer id must be 20 bytes");
      peer_metrics m;
      m.peer = *id;
      m.step = r.getStep();
      m.samples_per_second = r.getSamplesPerSecond();
      m.samples_accumulated = r.getSamplesAccumulated();
      m.loss = r.getLoss();
      m.mini_steps = r.getMiniSteps();
      m.time = r.getTime();
      m.certificate = std::string(capnp_io::as_view(r.getCertificate()));
      if (!finite_non_negative(m.samples_per_second) || !std::isfinite(m.loss) ||
          !finite_non_negative(m.time))
        return bad("metrics record: a figure is not a finite number");
      return m;
    });
}

std::string encode(const swarm_snapshot& s) {
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<schema::SwarmSnapshot>();
  root.setStep(s.step);
  root.setAlivePeers(s.alive_peers);
  root.setMeanLoss(s.mean_loss);
  root.setSamplesPerSecond(s.samples_per_second);
  root.setSamples(s.samples);
  root.setTime(s.time);
  return to_bytes(message);
}

caf::expected<swarm_snapshot> decode_snapshot(std::string_view bytes) {
  return capnp_io::read<schema::SwarmSnapshot>(
    bytes, max_record_bytes, "swarm snapshot",
    [](schema::SwarmSnapshot::Reader r) -> caf::expected<swarm_snapshot> {
      swarm_snapshot s;
      s.step = r.getStep();
      s.alive_peers = r.getAlivePeers();
      s.mean_loss = r.getMeanLoss();
      s.samples_per_second = r.getSamplesPerSecond();
      s.samples = r.getSamples();
      s.time = r.getTime();
      return s;
    });
}

std::string history_key(uint64_t step) {
  std::string key(8, '\0');
  for (int i = 0; i < 8; ++i)
    key[static_cast<size_t>(i)] = static_cast<char>(step >> (8 * (7 - i)));
  return key;
}

} // namespace ttt::metrics
