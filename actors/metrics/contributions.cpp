#include "actors/metrics/contributions.hpp"

#include "actors/common/capnp_io.hpp"
#include "schema/progress.capnp.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ttt::metrics {

namespace {

// Two texts of at most 64 bytes, an id and seven figures: under 300 bytes.
constexpr size_t max_contribution_bytes = 1024;

std::string id_name(const node_id& peer) {
  return peer.to_hex().substr(0, id_name_digits);
}

/// The name `report` gives its volunteer: its verified certificate's, else
/// the one it chose, else its id's.
void take_name(contribution& c, const peer_metrics& report) {
  auto certified = cut_to_printable(report.name, max_volunteer_name_bytes);
  auto chosen = cut_to_printable(report.volunteer_name, max_volunteer_name_bytes);
  c.name_verified = !certified.empty();
  c.name = !certified.empty() ? certified : !chosen.empty() ? chosen : id_name(report.peer);
}

/// At most `samples_per_second` × `seconds` samples, whole.
uint64_t allowance(double samples_per_second, double seconds) {
  double allowed = std::floor(samples_per_second * std::max(0.0, seconds));
  // 2^64 as a double: anything from there up does not fit.
  if (!(allowed < 18446744073709551616.0))
    return std::numeric_limits<uint64_t>::max();
  return static_cast<uint64_t>(allowed);
}

uint64_t saturating_add(uint64_t a, uint64_t b) {
  return a > std::numeric_limits<uint64_t>::max() - b ? std::numeric_limits<uint64_t>::max() : a + b;
}

bool finite_non_negative(double x) {
  return std::isfinite(x) && x >= 0;
}

std::string_view as_text(capnp::Text::Reader text) {
  return std::string_view(text.begin(), text.size());
}

} // namespace

bool chosen_name(const contribution& c) {
  return !c.name_verified && c.name != id_name(c.peer);
}

std::vector<node_id> credit_poll(contribution_ledger& ledger, const std::vector<peer_metrics>& live, double now,
                                 const contribution_rules& rules) {
  std::vector<node_id> changed;
  uint64_t untracked = 0;
  for (const auto& report : live) {
    auto it = ledger.volunteers.find(report.peer);
    bool first_sighting = it == ledger.volunteers.end();
    if (first_sighting) {
      if (ledger.volunteers.size() >= rules.max_volunteers) {
        ++untracked;
        continue;
      }
      contribution fresh;
      fresh.peer = report.peer;
      fresh.first_seen = now;
      fresh.last_credited = now;
      it = ledger.volunteers.emplace(report.peer, std::move(fresh)).first;
    }
    auto& c = it->second;
    // A report listed twice in one poll is credited once: the second finds
    // no time since the first.
    if (first_sighting || c.last_seen != now)
      changed.push_back(c.peer);
    uint64_t claimed = report.total_samples >= c.last_total ? report.total_samples - c.last_total
                                                            : report.total_samples;
    if (claimed > 0) {
      double seconds = first_sighting ? rules.alive_window : now - c.last_credited;
      c.samples = saturating_add(c.samples, std::min(claimed, allowance(rules.max_samples_per_second, seconds)));
      c.last_credited = std::max(c.last_credited, now); // a clock set back opens no new allowance
    }
    // What the bound cut is gone: the next report's growth counts from here.
    c.last_total = report.total_samples;
    if (!first_sighting && ledger.last_poll && c.last_seen == *ledger.last_poll)
      c.seconds_online += std::clamp(now - *ledger.last_poll, 0.0, rules.alive_window);
    c.last_seen = now;
    take_name(c, report);
    c.device_kind = cut_to_printable(report.device_kind, max_device_kind_bytes);
  }
  ledger.last_poll = now;
  ledger.untracked = untracked;
  return changed;
}

leaderboard_totals totals_of(const contribution_ledger& ledger) {
  leaderboard_totals totals;
  totals.volunteers = ledger.volunteers.size();
  for (const auto& [peer, c] : ledger.volunteers)
    totals.samples = saturating_add(totals.samples, c.samples);
  totals.untracked = ledger.untracked;
  return totals;
}

std::vector<contribution> top_contributions(const contribution_ledger& ledger, size_t count) {
  std::vector<const contribution*> all;
  all.reserve(ledger.volunteers.size());
  for (const auto& [peer, c] : ledger.volunteers)
    all.push_back(&c);
  count = std::min(count, all.size());
  // The map iterates by id, so a stable order keeps ties by id.
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(count), all.end(),
                    [](const contribution* a, const contribution* b) {
                      return a->samples != b->samples ? a->samples > b->samples : a->peer < b->peer;
                    });
  std::vector<contribution> out;
  out.reserve(count);
  for (size_t i = 0; i < count; ++i)
    out.push_back(*all[i]);
  return out;
}

std::string encode(const contribution& c) {
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<schema::Contribution>();
  root.setPeerId(capnp_io::as_data(c.peer.raw()));
  root.setName(cut_to_printable(c.name, max_volunteer_name_bytes));
  root.setNameVerified(c.name_verified);
  root.setDeviceKind(cut_to_printable(c.device_kind, max_device_kind_bytes));
  root.setSamples(c.samples);
  root.setLastTotal(c.last_total);
  root.setSecondsOnline(c.seconds_online);
  root.setFirstSeen(c.first_seen);
  root.setLastSeen(c.last_seen);
  root.setLastCredited(c.last_credited);
  return capnp_io::to_bytes(message);
}

caf::expected<contribution> decode_contribution(std::string_view bytes) {
  return capnp_io::read<schema::Contribution>(
    bytes, max_contribution_bytes, "contribution",
    [](schema::Contribution::Reader r) -> caf::expected<contribution> {
      auto id = node_id::from_bytes(capnp_io::as_view(r.getPeerId()));
      if (!id)
        return capnp_io::invalid("contribution: peer id must be 20 bytes");
      auto name = as_text(r.getName());
      auto device = as_text(r.getDeviceKind());
      if (!printable_text(name, max_volunteer_name_bytes) || !printable_text(device, max_device_kind_bytes))
        return capnp_io::invalid("contribution: a name or device that is not printable text within its bound");
      contribution c;
      c.peer = *id;
      c.name = std::string(name);
      c.name_verified = r.getNameVerified();
      c.device_kind = std::string(device);
      c.samples = r.getSamples();
      c.last_total = r.getLastTotal();
      c.seconds_online = r.getSecondsOnline();
      c.first_seen = r.getFirstSeen();
      c.last_seen = r.getLastSeen();
      c.last_credited = r.getLastCredited();
      for (double t : {c.seconds_online, c.first_seen, c.last_seen, c.last_credited})
        if (!finite_non_negative(t))
          return capnp_io::invalid("contribution: a time that is not a finite number");
      return c;
    });
}

} // namespace ttt::metrics
