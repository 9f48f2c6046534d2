#include "actors/metrics/swarm_metrics.hpp"

#include "actors/common/capnp_io.hpp"
#include "schema/progress.capnp.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

namespace ttt::metrics {

namespace {

caf::error bad(std::string what) {
  return capnp_io::invalid(std::move(what));
}

using capnp_io::to_bytes;
// A record with a certificate (under 600 bytes) and max_clipped_reports
// entries (48 bytes each) is under 1.5 KiB.
constexpr size_t max_record_bytes = 4096;

bool finite_non_negative(double x) {
  return std::isfinite(x) && x >= 0;
}

bool valid_eval_score(double x) {
  return x >= 0 && x <= 1; // false for NaN and the infinities
}

std::string_view as_text(capnp::Text::Reader text) {
  return std::string_view(text.begin(), text.size());
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
  double eval_sum = 0;
  for (const auto& r : reports) {
    if (r.step != *latest || now - r.time > alive_window)
      continue;
    s.alive_peers += 1;
    s.samples_per_second += r.samples_per_second;
    s.samples += r.samples_accumulated;
    loss += r.loss;
    mini_steps += r.mini_steps;
    if (has_eval_score(r.eval_score)) {
      eval_sum += r.eval_score;
      s.eval_reporters += 1;
    }
  }
  s.mean_loss = mini_steps > 0 ? loss / static_cast<double>(mini_steps) : 0;
  if (s.eval_reporters > 0)
    s.eval_score = eval_sum / s.eval_reporters;
  return s;
}

std::vector<clipped_summary> summarize_clipped(const std::vector<peer_metrics>& reports, size_t max_peers) {
  std::map<node_id, clipped_summary> by_peer;
  std::map<node_id, std::set<node_id>> reporters, dropped;
  for (const auto& r : reports) {
    for (const auto& c : r.clipped) {
      if (c.peer == r.peer || (c.clipped_rounds == 0 && !c.dropped))
        continue;
      auto& s = by_peer[c.peer];
      if (s.reporters == 0 || c.clipped_rounds > s.most_clipped) {
        s.most_clipped = c.clipped_rounds;
        s.rounds = c.rounds;
      }
      s.peer = c.peer;
      // A reporter that lists a peer twice is one reporter.
      if (reporters[c.peer].insert(r.peer).second) {
        s.reporters += 1;
        s.reported_by.push_back(r.peer);
      }
      if (c.dropped && dropped[c.peer].insert(r.peer).second)
        s.dropped_by += 1;
    }
  }
  std::vector<clipped_summary> out;
  out.reserve(by_peer.size());
  for (auto& [peer, s] : by_peer) {
    std::sort(s.reported_by.begin(), s.reported_by.end());
    out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end(), [](const clipped_summary& a, const clipped_summary& b) {
    if (a.reporters != b.reporters)
      return a.reporters > b.reporters;
    if (a.most_clipped != b.most_clipped)
      return a.most_clipped > b.most_clipped;
    return a.peer < b.peer;
  });
  if (out.size() > max_peers)
    out.resize(max_peers);
  return out;
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
  auto count = std::min(m.clipped.size(), max_clipped_reports);
  auto clipped = root.initClipped(static_cast<unsigned>(count));
  for (size_t i = 0; i < count; ++i) {
    const auto& c = m.clipped[i];
    auto entry = clipped[static_cast<unsigned>(i)];
    auto rounds = std::min(c.rounds, max_clip_rounds);
    entry.setPeerId(capnp_io::as_data(c.peer.raw()));
    entry.setClippedRounds(std::min(c.clipped_rounds, rounds));
    entry.setRounds(rounds);
    entry.setDropped(c.dropped);
  }
  if (valid_eval_score(m.eval_score))
    root.setEvalScore(m.eval_score);
  root.setTotalSamples(m.total_samples);
  root.setVolunteerName(cut_to_printable(m.volunteer_name, max_volunteer_name_bytes));
  root.setDeviceKind(cut_to_printable(m.device_kind, max_device_kind_bytes));
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
      m.eval_score = r.getEvalScore();
      if (!finite_non_negative(m.samples_per_second) || !std::isfinite(m.loss) ||
          !finite_non_negative(m.time))
        return bad("metrics record: a figure is not a finite number");
      if (has_eval_score(m.eval_score) && !valid_eval_score(m.eval_score))
        return bad("metrics record: an eval score outside [0, 1]");
      m.total_samples = r.getTotalSamples();
      // The texts' whole bytes: a NUL inside is a control character too.
      auto name = as_text(r.getVolunteerName());
      auto device = as_text(r.getDeviceKind());
      if (!printable_text(name, max_volunteer_name_bytes))
        return bad("metrics record: a volunteer name that is not at most " +
                   std::to_string(max_volunteer_name_bytes) + " bytes of printable UTF-8");
      if (!printable_text(device, max_device_kind_bytes))
        return bad("metrics record: a device that is not at most " + std::to_string(max_device_kind_bytes) +
                   " bytes of printable UTF-8");
      m.volunteer_name = std::string(name);
      m.device_kind = std::string(device);
      auto clipped = r.getClipped();
      if (clipped.size() > max_clipped_reports)
        return bad("metrics record: more than " + std::to_string(max_clipped_reports) + " clipped peers");
      for (auto entry : clipped) {
        auto peer = node_id::from_bytes(capnp_io::as_view(entry.getPeerId()));
        if (!peer)
          return bad("metrics record: a clipped peer's id must be 20 bytes");
        if (entry.getRounds() > max_clip_rounds || entry.getClippedRounds() > entry.getRounds())
          return bad("metrics record: a clipped peer's counts are impossible");
        m.clipped.push_back({*peer, entry.getClippedRounds(), entry.getRounds(), entry.getDropped()});
      }
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
  root.setEvalScore(s.eval_score);
  root.setEvalReporters(s.eval_reporters);
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
      s.eval_score = r.getEvalScore();
      s.eval_reporters = r.getEvalReporters();
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
