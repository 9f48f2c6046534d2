#include "actors/trainer/collaborative.hpp"

#include "actors/common/describe.hpp"
#include "actors/dht/validator.hpp"
#include "actors/metrics/swarm_metrics.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <cstdio>

#include <sodium.h>

namespace ttt::trainer {

namespace {

struct trainer_state {
  static inline const char* name = "trainer";
  collaborative_config cfg;
  uint64_t epoch = 0;
  uint64_t samples = 0;  ///< accumulated in this epoch
  double loss_sum = 0;
  uint32_t mini_steps = 0;
  double epoch_started = 0;
  double next_report = 0;
  double next_fetch = 0;
  bool fetching = false;
  bool in_round = false; ///< matchmaking or all-reduce of this epoch in progress
  bool stopped = false;

  double now() const { return cfg.clock(); }

  peer_progress local() const {
    double elapsed = now() - epoch_started;
    return peer_progress{cfg.self.id(), epoch, samples,
                         elapsed > 0 ? static_cast<double>(samples) / elapsed : 0, now(),
                         cfg.declaration.host.empty()};
  }

  /// A record under `key`, this peer's subkey, signed by it.
  dht::dht_record signed_record(std::string key, std::string value, double ttl) const {
    dht::dht_record rec;
    rec.key = std::move(key);
    rec.subkey = dht::owner_marker(cfg.self.public_key());
    rec.has_subkey = true;
    rec.value = std::move(value);
    rec.expiration = now() + ttl;
    dht::sign_record(rec, cfg.self);
    return rec;
  }
};

using trainer_ptr = collaborative_actor::stateful_pointer<trainer_state>;

std::string digest(const std::vector<float>& values) {
  unsigned char out[8];
  crypto_generichash(out, sizeof(out), reinterpret_cast<const unsigned char*>(values.data()),
                     values.size() * sizeof(float), nullptr, 0);
  static const char hex[] = "0123456789abcdef";
  std::string text;
  for (auto b : out) {
    text += hex[b >> 4];
    text += hex[b & 15];
  }
  return text;
}

void schedule_tick(trainer_ptr self) {
  auto& st = self->state;
  if (st.cfg.pace.count() > 0)
    self->delayed_send(self, st.cfg.pace, trn_tick_atom_v);
  else
    self->send(self, trn_tick_atom_v);
}

void publish_progress(trainer_ptr self) {
  auto& st = self->state;
  auto rec = st.signed_record(progress_key(st.cfg.run_id), encode(st.local()),
                              st.cfg.progress.report_lifetime);
  self->request(st.cfg.dht, caf::infinite, dht_store_atom_v, rec)
    .then([](bool) {}, [self](caf::error& err) {
      self->state.cfg.log("cannot publish progress: " + describe(err));
    });
  st.next_report = st.now() + st.cfg.progress.min_refresh_period;
}

void publish_metrics(trainer_ptr self, const epoch_report& r, double samples_per_second) {
  auto& st = self->state;
  metrics::peer_metrics m{st.cfg.self.id(), r.epoch, samples_per_second, r.samples,
                          st.loss_sum, st.mini_steps, st.now()};
  auto rec = st.signed_record("metrics." + st.cfg.run_id, metrics::encode(m),
                              2 * st.cfg.progress.report_lifetime);
  self->request(st.cfg.dht, caf::infinite, dht_store_atom_v, rec).then([](bool) {}, [](caf::error&) {});
}

/// Ends the epoch with `mean_gradients`: the same step on every peer that
/// got the same average.
void finish_epoch(trainer_ptr self, const std::vector<float>& mean_gradients, epoch_report r) {
  auto& st = self->state;
  st.cfg.model->step(mean_gradients);
  r.epoch = st.epoch;
  r.samples = st.samples;
  r.parameters_digest = digest(st.cfg.model->parameters());
  r.mean_loss = st.mini_steps > 0 ? st.loss_sum / st.mini_steps : 0;
  auto rate = st.local().samples_per_second;
  publish_metrics(self, r, rate);
  char line[256];
  std::snprintf(line, sizeof(line), "epoch %llu done: loss %.4f, %llu samples here, parameters %s, %s",
                static_cast<unsigned long long>(r.epoch), r.mean_loss,
                static_cast<unsigned long long>(r.samples), r.parameters_digest.c_str(),
                r.averaged ? ("averaged with " + std::to_string(r.group_size) + " peers" +
                              (r.partial ? " (partial)" : ""))
                               .c_str()
                           : "stepped alone");
  st.cfg.log(line);
  st.epoch += 1;
  st.samples = 0;
  st.loss_sum = 0;
  st.mini_steps = 0;
  st.epoch_started = st.now();
  st.in_round = false;
  st.next_fetch = st.now();
  publish_progress(self);
  if (st.cfg.on_epoch)
    st.cfg.on_epoch(r);
  if (st.cfg.epochs != 0 && st.epoch >= st.cfg.epochs) {
    st.stopped = true;
    st.cfg.log("trained " + std::to_string(st.epoch) + " epochs: stopping");
    return;
  }
  schedule_tick(self);
}

void step_alone(trainer_ptr self, const std::string& why) {
  self->state.cfg.log("epoch " + std::to_string(self->state.epoch) +
                      ": no averaging (" + why + "), stepping with local gradients");
  finish_epoch(self, self->state.cfg.model->gradients(), epoch_report{});
}

void run_allreduce(trainer_ptr self, const averaging::announcement& group) {
  auto& st = self->state;
  auto me = group.index_of(st.cfg.self.id());
  if (!me) {
    step_alone(self, "the group does not list this peer");
    return;
  }
  averaging::round_request req;
  req.group = group.group();
  req.self_index = *me;
  bool client = st.cfg.declaration.host.empty();
  for (size_t i = 0; i < group.members.size(); ++i) {
    // Connect only to members before us (a client to everyone): the others
    // connect to us, so two peers never open crossing connections.
    bool connect = i != *me && (client || i < *me);
    req.handles.push_back(connect ? st.cfg.resolve(group.members[i]) : averaging::averager_peer{});
  }
  req.values = st.cfg.model->gradients();
  req.total_elements = req.values.size();
  req.weight = static_cast<double>(std::max<uint64_t>(st.samples, 1));
  req.config = st.cfg.round;
  auto size = group.members.size();
  self->request(st.cfg.averager, caf::infinite, avg_run_atom_v, std::move(req))
    .then(
      [self, size](averaging::round_result& result) {
        epoch_report r;
        r.group_size = size;
        r.averaged = true;
        r.partial = result.partial();
        finish_epoch(self, result.values, r);
      },
      [self](caf::error& err) { step_alone(self, "all-reduce failed: " + describe(err)); });
}

void begin_round(trainer_ptr self) {
  auto& st = self->state;
  st.in_round = true;
  publish_progress(self);
  averaging::match_request req;
  req.round = st.cfg.run_id + ".grad." + std::to_string(st.epoch);
  req.self = st.cfg.declaration;
  req.self.deadline = 0;
  req.settings = st.cfg.matchmaking;
  self->request(st.cfg.matchmaker, caf::infinite, avg_match_atom_v, req)
    .then([self](averaging::announcement& group) { run_allreduce(self, group); },
          [self](caf::error& err) { step_alone(self, describe(err)); });
}

void fetch_progress(trainer_ptr self) {
  auto& st = self->state;
  st.fetching = true;
  self->request(st.cfg.dht, caf::infinite, dht_get_atom_v, progress_key(st.cfg.run_id), true)
    .then(
      [self](dht::dht_records& records) {
        auto& st = self->state;
        st.fetching = false;
        std::vector<peer_progress> reports;
        for (const auto& r : records) {
          auto p = decode_progress(r.value);
          auto owner = r.has_subkey ? dht::owner_of(r.subkey) : std::nullopt;
          if (p && owner && peer_id_of(*owner) == p->peer)
            reports.push_back(*p);
        }
        auto local = st.local();
        auto global = aggregate(local, reports, st.now(), st.cfg.progress);
        st.next_fetch = global.next_fetch_time;
        if (st.in_round || st.stopped)
          return;
        if (ready_to_step(local, global, st.now()))
          begin_round(self);
      },
      [self](caf::error&) {
        auto& st = self->state;
        st.fetching = false;
        st.next_fetch = st.now() + st.cfg.progress.min_refresh_period;
      });
}

void tick(trainer_ptr self) {
  auto& st = self->state;
  if (st.stopped || st.in_round)
    return; // a round's end schedules the next micro-batch
  auto batch = st.cfg.model->accumulate();
  if (!batch.error.empty()) {
    st.cfg.log("micro-batch failed: " + batch.error + "; stopping");
    st.stopped = true;
    return;
  }
  st.samples += batch.samples;
  st.loss_sum += batch.loss;
  st.mini_steps += 1;
  double now = st.now();
  if (now >= st.next_report)
    publish_progress(self);
  if (now >= st.next_fetch && !st.fetching)
    fetch_progress(self);
  schedule_tick(self);
}

collaborative_actor::behavior_type trainer_impl(trainer_ptr self, collaborative_config cfg) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  if (!st.cfg.log)
    st.cfg.log = [](const std::string&) {};
  st.epoch_started = st.now();
  schedule_tick(self);
  return {
    [self](trn_tick_atom) { tick(self); },
  };
}

} // namespace

collaborative_actor spawn_collaborative_trainer(caf::actor_system& sys,
                                                collaborative_config config) {
  if (config.detached)
    return sys.spawn<caf::detached>(trainer_impl, std::move(config));
  return sys.spawn(trainer_impl, std::move(config));
}

} // namespace ttt::trainer
