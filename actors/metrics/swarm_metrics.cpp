#include "actors/metrics/swarm_metrics.hpp"

#include "schema/progress.capnp.h"

#include <caf/sec.hpp>
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <cmath>
#include <cstring>

namespace ttt::metrics {

namespace {

caf::error bad(std::string what) {
  return caf::make_error(caf::sec::invalid_argument, std::move(what));
}

std::string to_bytes(capnp::MessageBuilder& message) {
  auto words = capnp::messageToFlatArray(message);
  auto bytes = words.asBytes();
  return std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
}

template <class Root, class F>
auto decode_small(std::string_view bytes, const char* what, F&& convert)
  -> decltype(convert(std::declval<typename Root::Reader>())) {
  if (bytes.empty() || bytes.size() % sizeof(capnp::word) != 0 || bytes.size() > 4096)
    return bad(std::string(what) + " is not a small Cap'n Proto message");
  try {
    auto words = kj::heapArray<capnp::word>(bytes.size() / sizeof(capnp::word));
    std::memcpy(words.begin(), bytes.data(), bytes.size());
    capnp::ReaderOptions options;
    options.traversalLimitInWords = 2 * words.size() + 64;
    capnp::FlatArrayMessageReader reader(words.asPtr(), options);
    return convert(reader.getRoot<Root>());
  } catch (const kj::Exception& e) {
    return bad(std::string("malformed ") + what + ": " + e.getDescription().cStr());
  }
}

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
  root.setPeerId(capnp::Data::Reader(m.peer.bytes.data(), m.peer.size));
  root.setStep(m.step);
  root.setSamplesPerSecond(m.samples_per_second);
  root.setSamplesAccumulated(m.samples_accumulated);
  root.setLoss(m.loss);
  root.setMiniSteps(m.mini_steps);
  root.setTime(m.time);
  return to_bytes(message);
}

caf::expected<peer_metrics> decode_metrics(std::string_view bytes) {
  return decode_small<schema::MetricsRecord>(
    bytes, "metrics record", [](schema::MetricsRecord::Reader r) -> caf::expected<peer_metrics> {
      auto raw = r.getPeerId();
      auto id = node_id::from_bytes(
        std::string_view(reinterpret_cast<const char*>(raw.begin()), raw.size()));
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
  return decode_small<schema::SwarmSnapshot>(
    bytes, "swarm snapshot", [](schema::SwarmSnapshot::Reader r) -> caf::expected<swarm_snapshot> {
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
