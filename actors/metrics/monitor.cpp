#include "actors/metrics/monitor.hpp"

#include "actors/common/describe.hpp"
#include "actors/dht/validator.hpp"
#include "storage/database.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <cstdio>
#include <optional>

namespace ttt::metrics {

namespace {

struct monitor_state {
  static inline const char* name = "monitor";
  monitor_config cfg;
  std::optional<uint64_t> last_logged; ///< the latest step already in the history
  size_t refused = 0;                  ///< records not signed by the peer they name
};

using monitor_ptr = monitor_actor::stateful_pointer<monitor_state>;

std::string format(const swarm_snapshot& s) {
  char line[256];
  std::snprintf(line, sizeof(line),
                "epoch %llu: loss %.4f, %u alive peers, %.1f samples/s, %llu samples",
                static_cast<unsigned long long>(s.step), s.mean_loss, s.alive_peers,
                s.samples_per_second, static_cast<unsigned long long>(s.samples));
  return line;
}

void on_records(monitor_ptr self, const dht::dht_records& records) {
  auto& st = self->state;
  std::vector<peer_metrics> reports;
  for (const auto& r : records) {
    auto m = decode_metrics(r.value);
    auto owner = r.has_subkey ? dht::owner_of(r.subkey) : std::nullopt;
    // The DHT checked the signature against the subkey's owner; the record
    // must also be about that owner, or one peer could speak for another.
    if (!m || !owner || peer_id_of(*owner) != m->peer) {
      ++st.refused;
      continue;
    }
    if (st.cfg.name_of && !m->certificate.empty())
      m->name = st.cfg.name_of(m->peer, m->certificate);
    reports.push_back(*m);
  }
  double now = st.cfg.clock();
  if (st.cfg.board) {
    std::vector<peer_metrics> alive;
    for (const auto& r : reports)
      if (r.time >= now - st.cfg.alive_window)
        alive.push_back(r);
    st.cfg.board->set_peers(std::move(alive), st.refused, now);
  }
  auto snapshot = summarize(reports, now, st.cfg.alive_window);
  if (!snapshot || (st.last_logged && snapshot->step <= *st.last_logged))
    return;
  st.last_logged = snapshot->step;
  if (st.cfg.board)
    st.cfg.board->append(*snapshot);
  if (st.cfg.db)
    if (auto err = st.cfg.db->put(storage::column::metrics_history, history_key(snapshot->step),
                                  encode(*snapshot)))
      st.cfg.log("monitor: cannot write history: " + describe(err));
  st.cfg.log(format(*snapshot));
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
      st.last_logged = history.back().step;
    if (st.cfg.board)
      st.cfg.board->set_history(std::move(history));
  }
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

std::vector<swarm_snapshot> read_history(storage::database& db) {
  std::vector<swarm_snapshot> out;
  (void)db.for_each(storage::column::metrics_history, [&](std::string_view, std::string_view v) {
    if (auto s = decode_snapshot(v))
      out.push_back(*s);
    return true;
  });
  return out;
}

} // namespace ttt::metrics
