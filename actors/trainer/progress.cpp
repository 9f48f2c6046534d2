#include "actors/trainer/progress.hpp"

#include "actors/common/capnp_io.hpp"
#include "schema/progress.capnp.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ttt::trainer {

namespace {

caf::error bad(std::string what) {
  return capnp_io::invalid(std::move(what));
}

} // namespace

namespace {

/// One peer's claim for the global epoch, bounded.
struct credited {
  double samples = 0; ///< now
  double rate = 0;
  double cap = 0;     ///< the most it may reach
};

/// Seconds from now until the credited samples reach `missing` more: each
/// claim grows at its rate until it meets its cap.
double time_to_reach(const std::vector<credited>& claims, double missing, double give_up) {
  std::vector<std::pair<double, double>> stops; // (when a claim meets its cap, its rate)
  double rate = 0;
  for (const auto& c : claims)
    if (c.rate > 0 && c.samples < c.cap) {
      rate += c.rate;
      stops.emplace_back((c.cap - c.samples) / c.rate, c.rate);
    }
  std::sort(stops.begin(), stops.end());
  double t = 0;
  for (const auto& [at, r] : stops) {
    if (rate <= 0)
      break;
    double gained = rate * (at - t);
    if (gained >= missing)
      return t + missing / rate;
    missing -= gained;
    t = at;
    rate -= r;
  }
  return rate > 0 ? t + missing / rate : give_up;
}

} // namespace

global_progress aggregate(const peer_progress& local, const std::vector<peer_progress>& reports,
                          double now, const progress_settings& settings,
                          const seen_contributions& seen) {
  // The latest live report of each other peer.
  std::unordered_map<node_id, const peer_progress*> latest;
  for (const auto& r : reports) {
    if (r.peer == local.peer || !live(r, now, settings))
      continue;
    auto& slot = latest[r.peer];
    if (!slot || slot->time < r.time)
      slot = &r;
  }
  global_progress g;
  g.target_batch_size = settings.target_batch_size;
  // One epoch ahead at most, and only with several eligible peers behind it.
  size_t eligible = 0;
  size_t ahead = 0;
  for (const auto& [peer, r] : latest) {
    if (!seen.empty() && seen.count(peer) == 0)
      continue;
    ++eligible;
    ahead += r->epoch > local.epoch ? 1 : 0;
  }
  size_t quorum = std::max<size_t>(1, std::min(settings.epoch_quorum, eligible));
  g.epoch = ahead >= quorum ? local.epoch + 1 : local.epoch;
  double target = static_cast<double>(settings.target_batch_size);
  std::vector<credited> claims;
  auto credit = [&](const peer_progress& r, double cap) {
    double since = std::clamp(now - r.time, 0.0, settings.report_lifetime);
    credited c;
    c.cap = cap;
    c.samples = std::min(static_cast<double>(r.samples_accumulated) + r.samples_per_second * since, cap);
    c.rate = r.samples_per_second;
    claims.push_back(c);
    g.samples_per_second += std::min(r.samples_per_second, cap);
    g.num_peers += 1;
    g.num_clients += r.client_mode ? 1 : 0;
  };
  if (local.epoch == g.epoch)
    credit(local, std::numeric_limits<double>::infinity()); // our own count is no claim
  for (const auto& [peer, r] : latest) {
    if (r->epoch != g.epoch)
      continue;
    double cap = settings.newcomer_share * target;
    if (auto it = seen.find(peer); it != seen.end())
      cap = std::max(cap, settings.credit_factor * it->second);
    credit(*r, cap);
  }
  double samples = 0;
  for (const auto& c : claims)
    samples += c.samples;
  g.samples_accumulated = static_cast<uint64_t>(std::min(samples, 1e18));
  double missing = std::max(0.0, target - samples);
  double time_left = missing == 0 ? 0 : time_to_reach(claims, missing, settings.max_refresh_period);
  g.eta_next_epoch = now + time_left;
  // Look again about when the epoch should end, within the bounds.
  g.next_fetch_time =
    now + std::clamp(time_left / 2, settings.min_refresh_period, settings.max_refresh_period);
  return g;
}

bool ready_to_step(const peer_progress& local, const global_progress& global, double now) {
  if (global.epoch != local.epoch)
    return false;
  return global.samples_accumulated >= global.target_batch_size || now >= global.eta_next_epoch;
}

std::string encode(const peer_progress& p) {
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<schema::ProgressRecord>();
  root.setPeerId(capnp_io::as_data(p.peer.raw()));
  root.setEpoch(p.epoch);
  root.setSamplesAccumulated(p.samples_accumulated);
  root.setSamplesPerSecond(p.samples_per_second);
  root.setTime(p.time);
  root.setClientMode(p.client_mode);
  return capnp_io::to_bytes(message);
}

caf::expected<peer_progress> decode_progress(std::string_view bytes) {
  return capnp_io::read<schema::ProgressRecord>(
    bytes, 1024, "progress record",
    [](schema::ProgressRecord::Reader r) -> caf::expected<peer_progress> {
      auto id = node_id::from_bytes(capnp_io::as_view(r.getPeerId()));
      if (!id)
        return bad("progress record: peer id must be 20 bytes");
      peer_progress p;
      p.peer = *id;
      p.epoch = r.getEpoch();
      p.samples_accumulated = r.getSamplesAccumulated();
      p.samples_per_second = r.getSamplesPerSecond();
      p.time = r.getTime();
      p.client_mode = r.getClientMode();
      if (!std::isfinite(p.samples_per_second) || p.samples_per_second < 0 ||
          p.samples_per_second > 1e9)
        return bad("progress record: samples per second out of range");
      if (!std::isfinite(p.time) || p.time < 0)
        return bad("progress record: bad time");
      if (p.samples_accumulated > (uint64_t{1} << 40))
        return bad("progress record: samples accumulated out of range");
      return p;
    });
}

} // namespace ttt::trainer
