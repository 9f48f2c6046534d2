#include "actors/trainer/progress.hpp"

#include "actors/common/capnp_io.hpp"
#include "schema/progress.capnp.h"

#include <algorithm>
#include <cmath>

namespace ttt::trainer {

namespace {

caf::error bad(std::string what) {
  return capnp_io::invalid(std::move(what));
}

} // namespace

global_progress aggregate(const peer_progress& local, const std::vector<peer_progress>& reports,
                          double now, const progress_settings& settings) {
  std::vector<const peer_progress*> live = {&local};
  for (const auto& r : reports)
    if (r.peer != local.peer && now - r.time <= settings.report_lifetime)
      live.push_back(&r);
  global_progress g;
  g.target_batch_size = settings.target_batch_size;
  for (const auto* r : live)
    g.epoch = std::max(g.epoch, r->epoch);
  double samples = 0;
  for (const auto* r : live) {
    if (r->epoch != g.epoch)
      continue;
    // A report is a snapshot: the peer has kept accumulating since.
    double since = std::max(0.0, now - r->time);
    samples += static_cast<double>(r->samples_accumulated) + r->samples_per_second * since;
    g.samples_per_second += r->samples_per_second;
    g.num_peers += 1;
    g.num_clients += r->client_mode ? 1 : 0;
  }
  g.samples_accumulated = static_cast<uint64_t>(samples);
  double missing = std::max(0.0, static_cast<double>(settings.target_batch_size) - samples);
  double time_left = missing == 0              ? 0
                     : g.samples_per_second > 0 ? missing / g.samples_per_second
                                                : settings.max_refresh_period;
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
