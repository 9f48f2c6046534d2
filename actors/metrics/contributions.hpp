#pragma once
// The volunteers' contributions as the monitor credits them (the dashboard's
// leaderboard). At each poll, every live report whose signature verified
// moves its volunteer's entry: the credited samples grow by the growth of
// the total its trainer claims (the whole total when it fell: the trainer
// restarted and counts from 0 again), but by no more than the monitor allows
// per second of its own clock since it last credited that volunteer, so
// that whatever a trainer claims, its credit grows at most as fast as time
// allows; the time online grows by the monitor's time between consecutive
// polls that saw it alive. Pure: time comes in, and the monitor keeps the
// ledger in RocksDB (`contributions`, encode/decode_contribution) so that
// totals survive its restarts; a volunteer keeps its id, so its own restarts
// keep its entry too.

#include "actors/common/node_id.hpp"
#include "actors/metrics/swarm_metrics.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ttt::metrics {

/// Volunteers the monitor keeps at most; past it, new ones are not credited.
constexpr size_t max_volunteers = 10000;

/// Hex digits of its id a volunteer without a name is shown by.
constexpr size_t id_name_digits = 12;

/// One volunteer's entry in the ledger.
struct contribution {
  node_id peer;
  /// A verified certificate's name, else the one the volunteer chose, else
  /// the first id_name_digits hex digits of its id (printable, at most
  /// max_volunteer_name_bytes).
  std::string name;
  bool name_verified = false;    ///< the name is a verified certificate's
  std::string device_kind;       ///< from its latest report
  uint64_t samples = 0;          ///< credited in total
  uint64_t last_total = 0;       ///< the latest total_samples its reports claimed
  double seconds_online = 0;
  double first_seen = 0;         ///< the monitor's clock at its first sighting
  double last_seen = 0;          ///< ... at the latest poll that saw it alive
  /// ... at its first sighting or when its claimed total last grew: the
  /// bound of its next credit runs from there.
  double last_credited = 0;
};

/// Whether the leaderboard marks `c`'s name as unverified: one the volunteer
/// chose, not a certificate's nor its id's.
bool chosen_name(const contribution& c);

/// What bounds the credit.
struct contribution_rules {
  /// Samples a volunteer is credited at most per second of the monitor's
  /// clock since it last credited it.
  double max_samples_per_second = 20000;
  /// A first sighting is credited at most max_samples_per_second × this; the
  /// time online grows by at most this per poll (a gap between polls longer
  /// than a report lives says nothing of the time between).
  double alive_window = 60;
  size_t max_volunteers = metrics::max_volunteers;
};

/// Everything the monitor knows of the volunteers.
struct contribution_ledger {
  std::map<node_id, contribution> volunteers;
  /// The monitor's clock at its previous poll; none before this process'
  /// first one (its time online then starts again).
  std::optional<double> last_poll;
  /// Live volunteers the latest poll left out: the ledger was full.
  uint64_t untracked = 0;
};

/// Credits one poll at the monitor's time `now` with `live`: the poll's live
/// reports, each signed by the peer it names (`name` set where its
/// certificate verified). Returns the volunteers whose entries changed.
std::vector<node_id> credit_poll(contribution_ledger& ledger, const std::vector<peer_metrics>& live, double now,
                                 const contribution_rules& rules);

/// The ledger's figures beside the leaderboard's rows.
struct leaderboard_totals {
  uint64_t volunteers = 0; ///< in the ledger
  uint64_t samples = 0;    ///< credited to all of them: the whole of every share
  uint64_t untracked = 0;  ///< contribution_ledger::untracked
};

leaderboard_totals totals_of(const contribution_ledger& ledger);

/// The `count` volunteers credited most, most first (ties: by id).
std::vector<contribution> top_contributions(const contribution_ledger& ledger, size_t count);

/// Texts cut to what decode_contribution accepts.
std::string encode(const contribution& c);
/// Refuses malformed bytes, an id not 20 bytes long, a name or device that
/// is not printable text within its bound, and times that are not finite
/// non-negative numbers.
caf::expected<contribution> decode_contribution(std::string_view bytes);

} // namespace ttt::metrics
