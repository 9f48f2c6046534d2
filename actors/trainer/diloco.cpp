#include "actors/trainer/diloco.hpp"

#include "actors/common/describe.hpp"
#include "actors/trainer/epoch_figures.hpp"
#include "actors/trainer/records.hpp"
#include "actors/trainer/trainer_loop.hpp"
#include "actors/dht/validator.hpp"
#include "actors/metrics/swarm_metrics.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>


namespace ttt::trainer {

bool parse_trainer_mode(const std::string& text, trainer_mode& out) {
  if (text == "hivemind")
    out = trainer_mode::hivemind;
  else if (text == "diloco")
    out = trainer_mode::diloco;
  else
    return false;
  return true;
}

namespace {

using steady = std::chrono::steady_clock;

double seconds_since(steady::time_point t) {
  return std::chrono::duration<double>(steady::now() - t).count();
}

struct diloco_state {
  static inline const char* name = "diloco_trainer";
  collaborative_config cfg;
  diloco_settings settings;
  outer_optimizer outer;
  std::vector<float> start; ///< θ_start: the parameters after the last outer step
  uint64_t epoch = 0;          ///< the epoch whose inner steps run now
  uint64_t samples = 0;        ///< trained on in this epoch
  uint64_t total_samples = 0;  ///< trained on since this process started (the leaderboard's claim)
  uint64_t inner_samples = 0;  ///< accumulated for the next inner step
  uint64_t inner_done = 0;     ///< inner steps in this epoch
  double loss_sum = 0;
  uint32_t mini_steps = 0;
  double epoch_started = 0;
  double next_report = 0;
  steady::time_point wall_started = steady::now();
  double compute_seconds = 0; ///< inside forward/backward/optimizers since the last outer step
  // The round in flight (at most one): the epoch it closes, the local
  // parameters and pseudo-gradient it was started with, what to report.
  bool round_in_flight = false;
  std::vector<float> sent_local;
  std::vector<float> sent_pseudo_gradient;
  epoch_report pending;
  double pending_loss_sum = 0;
  uint32_t pending_mini_steps = 0;
  double pending_rate = 0; ///< samples/s of the epoch the round closes
  uint64_t epochs_done = 0;
  bool waiting = false; ///< no inner steps until the round in flight ends
  bool stopped = false;
  /// The peers this peer's rounds clipped recently, for its metrics.
  clip_reports clipped;
  /// Value bytes this peer sent in all its rounds so far (logged per epoch).
  uint64_t bytes_sent = 0;
  figures_counted counted; ///< what count_epoch has put in the node's figures

  double now() const { return cfg.clock(); }

  peer_progress local() const {
    double elapsed = now() - epoch_started;
    return peer_progress{cfg.self.id(), epoch, samples,
                         elapsed > 0 ? static_cast<double>(samples) / elapsed : 0, now(),
                         cfg.declaration.host.empty()};
  }

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

using diloco_ptr = collaborative_actor::stateful_pointer<diloco_state>;

/// The metrics of the epoch the round in flight closes.
void publish_metrics(diloco_ptr self, const epoch_report& r) {
  auto& st = self->state;
  // Every field, in order: `name` is the monitor's to set.
  metrics::peer_metrics m{st.cfg.self.id(), r.epoch, st.pending_rate, r.samples, st.pending_loss_sum,
                          st.pending_mini_steps, st.now(), st.cfg.certificate, {}, st.clipped.report(),
                          evaluate_if_due(st.cfg, r.epoch), st.total_samples, st.cfg.volunteer_name,
                          st.cfg.model->device_description()};
  auto rec = metrics_record(st.cfg.self, st.cfg.run_id, m, st.now() + 2 * st.cfg.progress.report_lifetime);
  self->request(st.cfg.dht, caf::infinite, dht_store_atom_v, rec).then([](bool) {}, [](caf::error&) {});
}

void launch_round(diloco_ptr self);

/// After `st.epochs_done` outer steps, the state to the checkpointer when one
/// is due: the group's θ (with overlap, without the inner progress this
/// peer made since), so that ttt generate, eval and export read the model
/// the group agreed on.
void save_checkpoint(diloco_ptr self, const epoch_report& r) {
  auto& st = self->state;
  if (!st.cfg.checkpointer || !checkpoint::due(st.epochs_done, st.cfg.checkpoint_every))
    return;
  auto local = st.cfg.model->parameters();
  bool drifted = local != st.start;
  if (drifted)
    st.cfg.model->set_parameters(st.start);
  checkpoint::training_state state{st.epochs_done, st.cfg.model->export_state()};
  if (drifted)
    st.cfg.model->set_parameters(local);
  if (state.files.empty())
    return;
  checkpoint::checkpoint_request req{std::move(state), r.samples, r.mean_loss};
  self->request(st.cfg.checkpointer, caf::infinite, ckpt_save_atom_v, std::move(req))
    .then([](bool) {}, [self](caf::error& err) {
      self->state.cfg.log("checkpointer failed: " + describe(err));
    });
}

/// Ends the round in flight with `mean_pseudo_gradient` (the group's, or
/// this peer's own): the outer step from θ_start, the same θ on every peer
/// that got the same average. With overlap, the inner steps this peer took
/// meanwhile are kept on top of the new θ.
void complete_round(diloco_ptr self, const std::vector<float>& mean_pseudo_gradient, epoch_report r) {
  auto& st = self->state;
  auto t0 = steady::now();
  st.start = st.outer.step(st.start, mean_pseudo_gradient);
  auto local = st.cfg.model->parameters();
  for (size_t i = 0; i < local.size(); ++i)
    local[i] = st.start[i] + (local[i] - st.sent_local[i]); // exactly θ without overlap
  st.cfg.model->set_parameters(local);
  st.compute_seconds += seconds_since(t0);
  r.epoch = st.pending.epoch;
  r.samples = st.pending.samples;
  r.mean_loss = st.pending.mean_loss;
  r.parameters_digest = parameters_digest(st.start);
  publish_metrics(self, r);
  double wall = seconds_since(st.wall_started);
  char line[320];
  std::snprintf(line, sizeof(line),
                "epoch %llu done: loss %.4f, %llu samples here, parameters %s, %s, %llu inner steps, "
                "compute %.1f%%, %.1f MB sent so far",
                static_cast<unsigned long long>(r.epoch), r.mean_loss,
                static_cast<unsigned long long>(r.samples), r.parameters_digest.c_str(),
                r.averaged ? ("averaged with " + std::to_string(r.group_size) + " peers" +
                              (r.partial ? " (partial)" : ""))
                               .c_str()
                           : "stepped alone",
                static_cast<unsigned long long>(st.settings.inner_steps),
                wall > 0 ? 100.0 * st.compute_seconds / wall : 0.0, st.bytes_sent / 1e6);
  st.cfg.log(line);
  count_epoch(st.cfg.figures.get(), st.counted, r, st.pending_rate, st.total_samples, st.bytes_sent,
              std::max(0.0, wall - st.compute_seconds));
  st.compute_seconds = 0;
  st.wall_started = steady::now();
  st.round_in_flight = false;
  st.epochs_done += 1;
  save_checkpoint(self, r);
  if (st.cfg.on_epoch)
    st.cfg.on_epoch(r);
  if (st.cfg.epochs != 0 && st.epochs_done >= st.cfg.epochs) {
    st.stopped = true;
    st.cfg.log("trained " + std::to_string(st.epochs_done) + " epochs: stopping");
    return;
  }
  if (!st.waiting)
    return; // overlapping: inner steps go on
  st.waiting = false;
  if (st.inner_done >= st.settings.inner_steps) {
    launch_round(self); // the next epoch's inner steps ended while this round ran
    return;
  }
  schedule_tick(self);
}

void step_alone(diloco_ptr self, const std::string& why) {
  auto& st = self->state;
  if (!why.empty())
    st.cfg.log("epoch " + std::to_string(st.pending.epoch) + ": no averaging (" + why +
               "), outer step with the local pseudo-gradient");
  auto own = std::move(st.sent_pseudo_gradient);
  complete_round(self, own, epoch_report{});
}

void run_allreduce(diloco_ptr self, const averaging::announcement& group) {
  auto& st = self->state;
  auto round = group_round(st.cfg, group);
  if (!round) {
    step_alone(self, "the group does not list this peer");
    return;
  }
  auto& req = *round;
  req.values = st.sent_pseudo_gradient;
  req.total_elements = req.values.size();
  req.weight = static_cast<double>(std::max<uint64_t>(st.pending.samples, 1));
  req.config.codecs = st.settings.codecs;
  auto size = group.members.size();
  self->request(st.cfg.averager, caf::infinite, avg_run_atom_v, std::move(req))
    .then(
      [self, size, group](averaging::round_result& result) {
        self->state.clipped.record(clip_counts_of(group, result));
        self->state.bytes_sent += result.bytes_sent;
        epoch_report r;
        r.group_size = size;
        r.averaged = true;
        r.partial = result.partial();
        complete_round(self, result.values, r);
      },
      [self](caf::error& err) { step_alone(self, "all-reduce failed: " + describe(err)); });
}

/// The epoch's inner steps are done: start the round that averages its
/// pseudo-gradient. Without overlap (and after the last epoch) no inner step
/// runs until the round ends; with overlap the next epoch's inner steps
/// start at once.
void launch_round(diloco_ptr self) {
  auto& st = self->state;
  st.sent_local = st.cfg.model->parameters();
  st.sent_pseudo_gradient = pseudo_gradient(st.start, st.sent_local);
  st.pending = epoch_report{};
  st.pending.epoch = st.epoch;
  st.pending.samples = st.samples;
  st.loss_sum += st.cfg.model->settle_losses();
  st.pending.mean_loss = st.mini_steps > 0 ? st.loss_sum / st.mini_steps : 0;
  st.pending_loss_sum = st.loss_sum;
  st.pending_mini_steps = st.mini_steps;
  st.pending_rate = st.local().samples_per_second;
  st.round_in_flight = true;
  uint64_t round_epoch = st.epoch;
  bool last = st.cfg.epochs != 0 && round_epoch + 1 >= st.cfg.epochs;
  st.waiting = !st.settings.overlap || last;
  st.epoch += 1;
  st.samples = 0;
  st.inner_samples = 0;
  st.inner_done = 0;
  st.loss_sum = 0;
  st.mini_steps = 0;
  st.epoch_started = st.now();
  publish_progress(self);
  if (!st.waiting)
    schedule_tick(self);
  if (st.cfg.matchmaking.target_group_size <= 1) {
    step_alone(self, "");
    return;
  }
  averaging::match_request req;
  req.round = st.cfg.run_id + ".diloco." + std::to_string(round_epoch);
  req.self = st.cfg.declaration;
  req.self.deadline = 0;
  req.settings = st.cfg.matchmaking;
  self->request(st.cfg.matchmaker, caf::infinite, avg_match_atom_v, req)
    .then([self](averaging::announcement& group) { run_allreduce(self, group); },
          [self](caf::error& err) { step_alone(self, describe(err)); });
}

void tick(diloco_ptr self) {
  auto& st = self->state;
  if (st.stopped || st.waiting)
    return; // the round's end schedules the next micro-batch
  auto t0 = steady::now();
  auto batch = st.cfg.model->accumulate();
  if (!batch.error.empty()) {
    st.cfg.log("micro-batch failed: " + batch.error + "; stopping");
    st.stopped = true;
    return;
  }
  st.samples += batch.samples;
  st.total_samples += batch.samples;
  st.inner_samples += batch.samples;
  st.loss_sum += batch.loss;
  st.mini_steps += 1;
  if (st.inner_samples >= st.settings.inner_batch_size) {
    st.cfg.model->inner_step();
    st.inner_samples = 0;
    st.inner_done += 1;
  }
  st.compute_seconds += seconds_since(t0);
  if (st.inner_done >= st.settings.inner_steps) {
    if (st.round_in_flight)
      st.waiting = true; // overlapping, and the previous round is still running
    else
      launch_round(self);
    return;
  }
  if (st.now() >= st.next_report)
    publish_progress(self);
  schedule_tick(self);
}

collaborative_actor::behavior_type diloco_impl(diloco_ptr self, collaborative_config cfg,
                                               diloco_settings settings) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.settings = settings;
  if (st.settings.inner_steps == 0)
    st.settings.inner_steps = 1;
  st.outer = outer_optimizer(settings.outer);
  if (!st.cfg.log)
    st.cfg.log = [](const std::string&) {};
  st.start = st.cfg.model->parameters();
  st.epoch_started = st.now();
  st.wall_started = steady::now();
  schedule_tick(self);
  return {
    [self](trn_tick_atom) { tick(self); },
  };
}

} // namespace

collaborative_actor spawn_diloco_trainer(caf::actor_system& sys, collaborative_config config,
                                         diloco_settings settings) {
  if (config.detached)
    return sys.spawn<caf::detached>(diloco_impl, std::move(config), settings);
  return sys.spawn(diloco_impl, std::move(config), settings);
}

} // namespace ttt::trainer
