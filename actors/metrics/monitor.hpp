#pragma once
// The monitor role: every poll interval it reads the run's metrics records
// from the DHT (each signed by the trainer it names), aggregates the latest
// epoch, appends each new epoch to the RocksDB history and logs one line (with
// the epoch's eval score when trainers report one, even a poll or two late);
// it also gathers the peers the live trainers report clipped and logs a peer
// when it first shows up and whenever more trainers report it, and credits
// every live volunteer's samples and time online (contributions.hpp), kept
// in RocksDB `contributions` across restarts.

#include "actors/common/types.hpp"
#include "actors/dht/interface.hpp"
#include "actors/metrics/contributions.hpp"
#include "actors/metrics/dashboard.hpp"
#include "actors/metrics/swarm_metrics.hpp"

#include <caf/fwd.hpp>
#include <caf/typed_actor.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace ttt::storage {
class database;
}

namespace ttt::metrics {

/// DHT key of a run's metrics (subkey: each trainer's owner marker).
inline std::string metrics_key(const std::string& run_id) {
  return "metrics." + run_id;
}

struct monitor_config {
  dht::dht_actor dht;
  std::string run_id;
  storage::database* db = nullptr; ///< history; null keeps none
  std::function<double()> clock;
  caf::timespan poll_interval = std::chrono::seconds(5);
  double alive_window = 60; ///< seconds a report counts its peer as alive
  /// Samples a volunteer is credited at most per second of this monitor's
  /// clock (contribution_rules): what bounds a lying trainer's claims.
  double max_samples_per_second = 20000;
  std::function<void(const std::string&)> log;
  /// The name a peer's certificate gives it once verified (empty when it
  /// does not verify); unset: names are not shown.
  std::function<std::string(const node_id& peer, const std::string& certificate)> name_of;
  /// Where the dashboard reads the history and the peers (null: no dashboard).
  std::shared_ptr<dashboard_board> board;
};

using monitor_actor = caf::typed_actor<caf::reacts_to<mon_poll_atom>>;

monitor_actor spawn_monitor(caf::actor_system& sys, monitor_config config);

/// The metrics records under metrics_key, each decoded and about the peer
/// that signed it; every other record counts in `refused`.
std::vector<peer_metrics> read_reports(const dht::dht_records& records, size_t& refused);

/// Reads the history back, oldest first (the dashboard, tests).
std::vector<swarm_snapshot> read_history(storage::database& db);

/// Reads the volunteers' contributions back (at most max_volunteers; entries
/// that do not decode, or whose key is not their id, are skipped); an error
/// when the database cannot be read.
caf::expected<contribution_ledger> read_contributions(storage::database& db);

} // namespace ttt::metrics
