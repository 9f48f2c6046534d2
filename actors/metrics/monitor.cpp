#include "actors/metrics/monitor.hpp"

#include "actors/common/describe.hpp"
#include "actors/dht/validator.hpp"
#include "storage/database.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>

namespace ttt::metrics {

namespace {

struct monitor_state {
  static inline const char* name = "monitor";
  monitor_config cfg;
  std::optional<swarm_snapshot> latest; ///< the latest step's record in the history
  size_t refused = 0;                  ///< records malformed or not signed by the peer they name
  /// Reporters per clipped peer at the last log line about it: a peer is
  /// logged again only when more trainers report it. Holds only peers
  /// reported at the last poll, so no more than max_clipped_shown.
  std::map<node_id, uint32_t> clipped_logged;
  /// Every volunteer's credit (also in the database's `contributions`).
  contribution_ledger ledger;
  /// The ledger was read back, so writing it keeps what the database held.
  bool write_contributions = false;
};

using monitor_ptr = monitor_actor::stateful_pointer<monitor_state>;

std::string format(const swarm_snapshot& s) {
  char line[256];
  std::snprintf(line, sizeof(line),
                "epoch %llu: loss %.4f, %u alive peers, %.1f samples/s, %llu samples",
                static_cast<unsigned long long>(s.step), s.mean_loss, s.alive_peers,
                s.samples_per_second, static_cast<unsigned long long>(s.samples));
  std::string text = line;
  if (has_eval_score(s.eval_score)) {
    std::snprintf(line, sizeof(line), ", eval score %.4f", s.eval_score);
    text += line;
  }
  return text;
}

std::string format_late_score(const swarm_snapshot& s) {
  char line[128];
  std::snprintf(line, sizeof(line), "epoch %llu: eval score %.4f from %u trainer%s",
                static_cast<unsigned long long>(s.step), s.eval_score, s.eval_reporters,
                s.eval_reporters == 1 ? "" : "s");
  return line;
}

void write_history(monitor_state& st, const swarm_snapshot& s) {
  if (st.cfg.db)
    if (auto err = st.cfg.db->put(storage::column::metrics_history, history_key(s.step), encode(s)))
      st.cfg.log("monitor: cannot write history: " + describe(err));
}

/// Records `snapshot`, or amends the latest record's eval score. A step is
/// recorded at the first poll that sees it; a trainer that evaluates the
/// epoch before publishing its report shows up later, so the score of the
/// latest step follows the most reports that carry one.
void record(monitor_state& st, const swarm_snapshot& snapshot) {
  if (st.latest && snapshot.step == st.latest->step) {
    if (snapshot.eval_reporters <= st.latest->eval_reporters)
      return;
    st.latest->eval_score = snapshot.eval_score;
    st.latest->eval_reporters = snapshot.eval_reporters;
    if (st.cfg.board)
      st.cfg.board->amend_latest(*st.latest);
    write_history(st, *st.latest);
    st.cfg.log(format_late_score(*st.latest));
    return;
  }
  if (st.latest && snapshot.step < st.latest->step)
    return;
  st.latest = snapshot;
  if (st.cfg.board)
    st.cfg.board->append(snapshot);
  write_history(st, snapshot);
  st.cfg.log(format(snapshot));
}

/// One line per clipped peer when it first shows up and whenever more
/// trainers report it.
void log_clipped(monitor_state& st, const std::vector<clipped_summary>& clipped) {
  std::map<node_id, uint32_t> logged;
  for (const auto& c : clipped) {
    auto before = st.clipped_logged.find(c.peer);
    if (before == st.clipped_logged.end() || before->second < c.reporters) {
      std::string line = "peer " + c.peer.to_hex() + " reported clipped by " +
                         (c.reporters == 1 ? std::string("1 trainer only")
                                           : std::to_string(c.reporters) + " trainers") +
                         " (at most " + std::to_string(c.most_clipped) + " of " + std::to_string(c.rounds) +
                         " rounds, dropped by " + std::to_string(c.dropped_by) + ")";
      st.cfg.log(line);
    }
    logged[c.peer] = before == st.clipped_logged.end() ? c.reporters : std::max(before->second, c.reporters);
  }
  st.clipped_logged = std::move(logged);
}

/// Credits the poll's live reports, writes the entries that changed and
/// shows the leaderboard; logs when the ledger first turns a volunteer away.
void credit(monitor_state& st, const std::vector<peer_metrics>& alive, double now) {
  contribution_rules rules;
  rules.max_samples_per_second = st.cfg.max_samples_per_second;
  rules.alive_window = st.cfg.alive_window;
  bool was_full = st.ledger.untracked > 0;
  auto changed = credit_poll(st.ledger, alive, now, rules);
  if (st.write_contributions)
    for (const auto& peer : changed)
      if (auto err = st.cfg.db->put(storage::column::contributions, peer.raw(),
                                    encode(st.ledger.volunteers.at(peer)))) {
        st.cfg.log("monitor: cannot write contributions: " + describe(err));
        break;
      }
  if (st.ledger.untracked > 0 && !was_full)
    st.cfg.log("monitor: " + std::to_string(st.ledger.volunteers.size()) +
               " volunteers credited, the most it keeps: new ones are not (" +
               std::to_string(st.ledger.untracked) + " live now)");
  if (st.cfg.board)
    st.cfg.board->set_leaderboard(top_contributions(st.ledger, max_leaderboard_entries), totals_of(st.ledger));
}

void on_records(monitor_ptr self, const dht::dht_records& records) {
  auto& st = self->state;
  auto reports = read_reports(records, st.refused);
  if (st.cfg.name_of)
    for (auto& m : reports)
      if (!m.certificate.empty())
        m.name = st.cfg.name_of(m.peer, m.certificate);
  double now = st.cfg.clock();
  std::vector<peer_metrics> alive;
  for (const auto& r : reports)
    if (r.time >= now - st.cfg.alive_window)
      alive.push_back(r);
  credit(st, alive, now);
  auto clipped = summarize_clipped(alive);
  log_clipped(st, clipped);
  if (st.cfg.board)
    st.cfg.board->set_peers(std::move(alive), std::move(clipped), st.refused, now);
  if (auto snapshot = summarize(reports, now, st.cfg.alive_window))
    record(st, *snapshot);
}

monitor_actor::behavior_type monitor_impl(monitor_ptr self, monitor_config cfg) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  if (!st.cfg.log)
    st.cfg.log = [](const std::string&) {};
  if (st.cfg.board)
    st.cfg.board->set_run(st.cfg.run_id);
  if (st.cfg.db) {
    auto history = read_history(*st.cfg.db);
    if (!history.empty())
      st.latest = history.back();
    if (st.cfg.board)
      st.cfg.board->set_history(std::move(history));
    if (auto ledger = read_contributions(*st.cfg.db)) {
      st.ledger = std::move(*ledger);
      st.write_contributions = true;
    } else {
      st.cfg.log("monitor: cannot read contributions (credited in memory only, the database's kept): " +
                 describe(ledger.error()));
    }
  }
  if (st.cfg.board)
    st.cfg.board->set_leaderboard(top_contributions(st.ledger, max_leaderboard_entries), totals_of(st.ledger));
  self->send(self, mon_poll_atom_v);
  return {
    [self](mon_poll_atom) {
      auto& st = self->state;
      self->request(st.cfg.dht, st.cfg.poll_interval * 4, dht_get_atom_v,
                    metrics_key(st.cfg.run_id), true)
        .then([self](dht::dht_records& records) { on_records(self, records); },
              [](caf::error&) { /* the DHT is unreachable for now: try again next poll */ });
      self->delayed_send(self, st.cfg.poll_interval, mon_poll_atom_v);
    },
  };
}

} // namespace

monitor_actor spawn_monitor(caf::actor_system& sys, monitor_config config) {
  return sys.spawn(monitor_impl, std::move(config));
}

std::vector<peer_metrics> read_reports(const dht::dht_records& records, size_t& refused) {
  std::vector<peer_metrics> reports;
  for (const auto& r : records) {
    auto m = decode_metrics(r.value);
    auto owner = r.has_subkey ? dht::owner_of(r.subkey) : std::nullopt;
    // The DHT checked the signature against the subkey's owner; the record
    // must also be about that owner, or one peer could speak for another.
    if (!m || !owner || peer_id_of(*owner) != m->peer) {
      ++refused;
      continue;
    }
    reports.push_back(*m);
  }
  return reports;
}

std::vector<swarm_snapshot> read_history(storage::database& db) {
  std::vector<swarm_snapshot> out;
  (void)db.for_each(storage::column::metrics_history, [&](std::string_view, std::string_view v) {
    if (auto s = decode_snapshot(v))
      out.push_back(*s);
    return true;
  });
  return out;
}

caf::expected<contribution_ledger> read_contributions(storage::database& db) {
  contribution_ledger ledger;
  auto err = db.for_each(storage::column::contributions, [&](std::string_view key, std::string_view v) {
    auto c = decode_contribution(v);
    if (c && c->peer.raw() == key)
      ledger.volunteers.emplace(c->peer, std::move(*c));
    return ledger.volunteers.size() < max_volunteers;
  });
  if (err)
    return err;
  return ledger;
}

} // namespace ttt::metrics
