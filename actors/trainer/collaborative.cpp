#include "actors/trainer/collaborative.hpp"

#include "actors/common/describe.hpp"
#include "actors/trainer/epoch_figures.hpp"
#include "actors/trainer/records.hpp"
#include "actors/trainer/trainer_loop.hpp"
#include "actors/dht/validator.hpp"
#include "actors/metrics/swarm_metrics.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <cstdio>
#include <limits>
#include <set>
#include <optional>
#include <utility>


namespace ttt::trainer {

namespace {

struct trainer_state {
  static inline const char* name = "trainer";
  collaborative_config cfg;
  uint64_t epoch = 0;
  uint64_t samples = 0;  ///< accumulated in this epoch
  /// Computed since this process started, all epochs (the leaderboard's claim).
  uint64_t total_samples = 0;
  double loss_sum = 0;
  uint32_t mini_steps = 0;
  double epoch_started = 0;
  double next_report = 0;
  double next_fetch = 0;
  bool fetching = false;
  bool in_round = false; ///< matchmaking or all-reduce of this epoch in progress
  bool stopped = false;
  bool loading = false;  ///< resuming from a checkpoint or downloading state
  double next_state_try = 0;
  /// Looks for served state at start even when no progress record shows the
  /// swarm ahead (a swarm restarted from nothing but an aux peer's state);
  /// a few tries, since the DHT may still be joining.
  int first_looks_left = 3;
  bool tick_scheduled = false; ///< a tick is on its way: one chain of micro-batches at a time
  /// Overlap (collaborative_config::overlap_averaging, a model that can):
  /// micro-batches go on while the epoch's round runs.
  bool overlap = false;
  /// The epoch's gradients are in its round; micro-batches count for the next epoch.
  bool overlapping = false;
  std::vector<float> detached; ///< this peer's gradients of that epoch (stepping alone uses them)
  uint64_t next_samples = 0;
  double next_loss_sum = 0;
  uint32_t next_mini_steps = 0;
  /// What peers were seen contributing to this peer's rounds (credits their claims).
  seen_contributions seen;
  /// Holders that served state nobody vouched for: not asked for a while.
  checkpoint::distrust_list distrusted;
  /// Peers whose progress reports were live at the last look.
  std::set<node_id> live_peers;
  /// The peers this peer's rounds clipped recently, for its metrics.
  clip_reports clipped;
  /// This peer's samples per second while computing (an average over its
  /// recent micro-batches, across epochs): what its progress reports claim,
  /// so that others can tell when the epoch ends from its first report on.
  double rate = 0;
  /// When the swarm's samples should reach the target, as of the last look
  /// (for this epoch; infinity: not known). Checked after every
  /// micro-batch, so the round begins on time between looks.
  double eta = std::numeric_limits<double>::infinity();
  /// Where this epoch's time went: computing, waiting for the group,
  /// averaging (logged with the epoch).
  double compute_seconds = 0;
  /// Seconds one micro-batch takes here (an average, like `rate`).
  double batch_seconds = 0;
  double round_began = 0;
  double averaging_began = 0;
  /// Value bytes this peer sent in all its rounds so far (logged per epoch).
  uint64_t bytes_sent = 0;
  figures_counted counted; ///< what count_epoch has put in the node's figures

  double now() const { return cfg.clock(); }

  /// How far ahead the epoch's end may be for this peer to begin the round
  /// rather than compute one more micro-batch: a quarter of one. Waiting for
  /// the end itself, every peer computes past the target (3 dalle-tiny
  /// trainers at target 192: 231 samples an epoch on average); half a
  /// micro-batch ahead, the swarm stops short of it (175). Measured in
  /// bench/learn.sh (bench/RESULTS.md, "learning").
  double lookahead() const { return batch_seconds / 4; }

  peer_progress local() const {
    double elapsed = now() - epoch_started;
    double epoch_rate = elapsed > 0 ? static_cast<double>(samples) / elapsed : 0;
    return peer_progress{cfg.self.id(), epoch, samples, rate > 0 ? rate : epoch_rate, now(),
                         cfg.declaration.host.empty()};
  }

  /// A record under `key`, this peer's subkey, signed by it.
  dht::dht_record signed_record(std::string key, std::string value, double ttl) const {
    return trainer::signed_record(cfg.self, std::move(key), std::move(value), now() + ttl);
  }
};

using trainer_ptr = collaborative_actor::stateful_pointer<trainer_state>;

/// The state after `st.epoch` completed epochs: to the checkpointer (it
/// writes the due ones) and, when this peer shares, to its averager to serve,
/// with an advert in the DHT.
void offer_state(trainer_ptr self, const epoch_report& r, bool checkpoint = true) {
  auto& st = self->state;
  bool serve = st.cfg.share_state && !st.cfg.declaration.host.empty();
  checkpoint = checkpoint && st.cfg.checkpointer && checkpoint::due(st.epoch, st.cfg.checkpoint_every);
  bool vouch = st.cfg.vouch_state && st.epoch > 0;
  if (!checkpoint && !serve && !vouch)
    return;
  checkpoint::training_state state{st.epoch, st.cfg.model->export_state()};
  if (state.files.empty())
    return;
  std::string blob = serve ? checkpoint::encode(state) : std::string();
  if (vouch) {
    auto rec = checkpoint::vouch_record(st.cfg.run_id, st.cfg.self, st.epoch, checkpoint::state_digest(state),
                                        st.now(), st.cfg.vouch_lifetime);
    self->request(st.cfg.dht, caf::infinite, dht_store_atom_v, rec)
      .then([](bool) {}, [self](caf::error& err) {
        self->state.cfg.log("cannot vouch for this peer's state: " + describe(err));
      });
  }
  if (serve) {
    self->request(st.cfg.averager, caf::infinite, avg_serve_atom_v, st.epoch, std::move(blob))
      .then([](bool) {}, [](caf::error&) {});
    auto rec = checkpoint::advert_record(st.cfg.run_id, st.cfg.self, st.cfg.declaration.host,
                                         st.cfg.declaration.port, st.epoch, st.now(),
                                         st.cfg.state_advert_lifetime);
    self->request(st.cfg.dht, caf::infinite, dht_store_atom_v, rec)
      .then([](bool) {}, [self](caf::error& err) {
        self->state.cfg.log("cannot advertise state: " + describe(err));
      });
  }
  if (checkpoint) {
    checkpoint::checkpoint_request req{std::move(state), r.samples, r.mean_loss};
    self->request(st.cfg.checkpointer, caf::infinite, ckpt_save_atom_v, std::move(req))
      .then([](bool) {}, [self](caf::error& err) {
        self->state.cfg.log("checkpointer failed: " + describe(err));
      });
  }
}

void publish_metrics(trainer_ptr self, const epoch_report& r, double samples_per_second) {
  auto& st = self->state;
  // Every field, in order: `name` is the monitor's to set.
  metrics::peer_metrics m{st.cfg.self.id(), r.epoch, samples_per_second, r.samples, st.loss_sum, st.mini_steps,
                          st.now(), st.cfg.certificate, {}, st.clipped.report(), evaluate_if_due(st.cfg, r.epoch),
                          st.total_samples, st.cfg.volunteer_name, st.cfg.model->device_description()};
  auto rec = metrics_record(st.cfg.self, st.cfg.run_id, m, st.now() + 2 * st.cfg.progress.report_lifetime);
  self->request(st.cfg.dht, caf::infinite, dht_store_atom_v, rec).then([](bool) {}, [](caf::error&) {});
}

void close_epoch(trainer_ptr self, epoch_report r);
void fetch_progress(trainer_ptr self);

/// Keeps one chain of micro-batches going (the overlap keeps it running
/// through rounds; without it a round's end restarts it).
void keep_ticking(trainer_ptr self) {
  auto& st = self->state;
  if (st.tick_scheduled)
    return;
  st.tick_scheduled = true;
  schedule_tick(self);
}

/// The epoch's optimizer step with `mean_gradients`: the same on every peer
/// that got the same average. With the overlap, the accumulation of the next
/// epoch's gradients since they were detached stays.
void apply_step(trainer_ptr self, const std::vector<float>& mean_gradients) {
  auto& st = self->state;
  if (st.overlapping)
    st.cfg.model->delayed_step(mean_gradients);
  else
    st.cfg.model->step(mean_gradients);
}

/// Ends the epoch with `mean_gradients`.
void finish_epoch(trainer_ptr self, const std::vector<float>& mean_gradients, epoch_report r) {
  apply_step(self, mean_gradients);
  close_epoch(self, std::move(r));
}

/// After the step, every average_state_every epochs: the group's mean of its
/// parameters (equal weights), in a round of its own with the same members.
void average_parameters(trainer_ptr self, averaging::round_request req, epoch_report r) {
  auto& st = self->state;
  req.group.group_id += ".params";
  req.values = st.cfg.model->parameters();
  req.total_elements = req.values.size();
  req.weight = 1;
  self->request(st.cfg.averager, caf::infinite, avg_run_atom_v, std::move(req))
    .then(
      [self, r](averaging::round_result& result) mutable {
        self->state.bytes_sent += result.bytes_sent;
        self->state.cfg.model->set_parameters(result.values);
        r.parameters_averaged = true;
        close_epoch(self, r);
      },
      [self, r](caf::error& err) {
        self->state.cfg.log("epoch " + std::to_string(self->state.epoch) +
                            ": parameter averaging failed (" + describe(err) + "), keeping this peer's");
        close_epoch(self, r);
      });
}

void close_epoch(trainer_ptr self, epoch_report r) {
  auto& st = self->state;
  r.epoch = st.epoch;
  r.samples = st.samples;
  r.parameters_digest = parameters_digest(st.cfg.model->parameters());
  // Losses still pending are the epoch's own, or with the overlap the next's
  // (this epoch's were settled when its gradients were detached).
  double settled = st.cfg.model->settle_losses();
  (st.overlapping ? st.next_loss_sum : st.loss_sum) += settled;
  r.mean_loss = st.mini_steps > 0 ? st.loss_sum / st.mini_steps : 0;
  auto rate = st.local().samples_per_second;
  publish_metrics(self, r, rate);
  char line[384];
  double now = st.now();
  double matched = st.averaging_began > 0 ? st.averaging_began : now;
  std::snprintf(line, sizeof(line),
                "epoch %llu done: loss %.4f, %llu samples here, parameters %s, %s "
                "(%.2f s: computing %.2f, matchmaking %.2f, averaging %.2f; %.1f MB sent so far)",
                static_cast<unsigned long long>(r.epoch), r.mean_loss,
                static_cast<unsigned long long>(r.samples), r.parameters_digest.c_str(),
                r.averaged ? ("averaged with " + std::to_string(r.group_size) + " peers" +
                              (r.partial ? " (partial)" : "") + (r.parameters_averaged ? ", parameters too" : ""))
                               .c_str()
                           : "stepped alone",
                now - st.epoch_started, st.compute_seconds,
                st.round_began > 0 ? matched - st.round_began : 0.0,
                st.averaging_began > 0 ? now - st.averaging_began : 0.0, st.bytes_sent / 1e6);
  st.cfg.log(line);
  count_epoch(st.cfg.figures.get(), st.counted, r, rate, st.total_samples, st.bytes_sent,
              st.round_began > 0 ? now - st.round_began : 0.0);
  st.compute_seconds = 0;
  st.round_began = st.averaging_began = 0;
  st.eta = std::numeric_limits<double>::infinity();
  st.epoch += 1;
  // With the overlap, the next epoch has begun already.
  st.samples = std::exchange(st.next_samples, 0);
  st.loss_sum = std::exchange(st.next_loss_sum, 0);
  st.mini_steps = std::exchange(st.next_mini_steps, 0);
  st.overlapping = false;
  st.detached.clear();
  st.epoch_started = st.now();
  st.in_round = false;
  st.next_fetch = st.now();
  publish_progress(self);
  offer_state(self, r);
  if (st.cfg.on_epoch)
    st.cfg.on_epoch(r);
  if (st.cfg.epochs != 0 && st.epoch >= st.cfg.epochs) {
    st.stopped = true;
    st.cfg.log("trained " + std::to_string(st.epoch) + " epochs: stopping");
    return;
  }
  // Knowing this peer's rate, a look at once: its answer (the others'
  // rates) comes with the first micro-batch and tells when this epoch should
  // end. Without a rate yet, the look waits for the first micro-batch.
  if (st.rate > 0 && !st.fetching)
    fetch_progress(self);
  keep_ticking(self);
}

void step_alone(trainer_ptr self, const std::string& why) {
  self->state.cfg.log("epoch " + std::to_string(self->state.epoch) +
                      ": no averaging (" + why + "), stepping with local gradients");
  auto& st = self->state;
  finish_epoch(self, st.overlapping ? st.detached : st.cfg.model->gradients(), epoch_report{});
}

/// What the round showed of its members: the weights they contributed
/// (progress claims are credited against them), how often CenteredClip
/// clipped them (reported in this peer's metrics), and the peers it found
/// lying too often (left out of this peer's groups from now on).
void note_contributions(trainer_state& st, const averaging::announcement& group,
                        const averaging::round_result& result) {
  auto me = group.index_of(st.cfg.self.id());
  for (size_t i = 0; i < result.contributed.size() && i < group.members.size(); ++i)
    if (result.contributed[i] > 0 && (!me || i != *me))
      st.seen[group.members[i].peer] = result.contributed[i];
  st.clipped.record(clip_counts_of(group, result));
  for (const auto& raw : result.newly_dropped)
    if (auto id = node_id::from_bytes(raw)) {
      st.seen.erase(*id);
      st.cfg.matchmaking.excluded.push_back(*id);
    }
}

void run_allreduce(trainer_ptr self, const averaging::announcement& group) {
  auto& st = self->state;
  auto round = group_round(st.cfg, group);
  if (!round) {
    step_alone(self, "the group does not list this peer");
    return;
  }
  auto& req = *round;
  st.averaging_began = st.now();
  auto size = group.members.size();
  // The parameters' round reuses the members and handles (not the values).
  bool average_state = st.cfg.average_state_every > 0 && (st.epoch + 1) % st.cfg.average_state_every == 0;
  auto params_req = average_state ? std::optional<averaging::round_request>(req) : std::nullopt;
  req.weight = static_cast<double>(std::max<uint64_t>(st.samples, 1));
  // Nobody's weight exceeds a whole target batch, whatever it claims.
  req.config.max_weight = std::min(req.config.max_weight,
                                   static_cast<double>(std::max<uint64_t>(st.cfg.progress.target_batch_size, 1)));
  if (st.overlap) {
    // The epoch's losses are settled now: what follows is the next epoch's.
    st.loss_sum += st.cfg.model->settle_losses();
    st.detached = st.cfg.model->detach_gradients();
    st.overlapping = true;
    req.values = st.detached;
    keep_ticking(self);
  } else {
    req.values = st.cfg.model->gradients();
  }
  req.total_elements = req.values.size();
  self->request(st.cfg.averager, caf::infinite, avg_run_atom_v, std::move(req))
    .then(
      [self, size, params_req, group](averaging::round_result& result) {
        note_contributions(self->state, group, result);
        self->state.bytes_sent += result.bytes_sent;
        epoch_report r;
        r.group_size = size;
        r.averaged = true;
        r.partial = result.partial();
        if (!params_req) {
          finish_epoch(self, result.values, r);
          return;
        }
        apply_step(self, result.values);
        average_parameters(self, *params_req, r);
      },
      [self](caf::error& err) { step_alone(self, "all-reduce failed: " + describe(err)); });
}

void begin_round(trainer_ptr self) {
  auto& st = self->state;
  st.in_round = true;
  st.round_began = st.now();
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

/// Installs `files` as the model's state after `epoch` completed epochs;
/// false (logged, nothing changed) when the model refuses them.
bool install_state(trainer_ptr self, uint64_t epoch, const std::vector<state_file>& files,
                   const std::string& how) {
  auto& st = self->state;
  auto why = st.cfg.model->import_state(files);
  if (!why.empty()) {
    st.cfg.log("cannot load state of epoch " + std::to_string(epoch) + " (" + how + "): " + why);
    return false;
  }
  st.epoch = epoch;
  st.eta = std::numeric_limits<double>::infinity();
  st.samples = st.next_samples = 0;
  st.loss_sum = st.next_loss_sum = 0;
  st.mini_steps = st.next_mini_steps = 0;
  st.overlapping = false;
  st.detached.clear();
  st.epoch_started = st.now();
  auto d = parameters_digest(st.cfg.model->parameters());
  st.cfg.log("loaded state of epoch " + std::to_string(epoch) + " from " + how + ", parameters " + d);
  if (st.cfg.on_state_loaded)
    st.cfg.on_state_loaded(epoch, how, d);
  return true;
}

/// The swarm is at `global_epoch`, past this peer: download the state from
/// the best holder (the averager falls back along the list), load it, and
/// contribute from there on.
void load_from_peers(trainer_ptr self, uint64_t global_epoch, bool first_look) {
  auto& st = self->state;
  st.loading = true;
  if (!first_look)
    st.cfg.log("epoch " + std::to_string(st.epoch) + " is behind the swarm's " +
               std::to_string(global_epoch) + ": loading state from peers");
  auto give_up = [self, first_look](const std::string& why) {
    auto& st = self->state;
    if (!first_look)
      st.cfg.log("cannot load state from peers: " + why + "; training on");
    st.loading = false;
    st.next_state_try = st.now() + st.cfg.state_retry;
    keep_ticking(self);
  };
  self->request(st.cfg.dht, caf::infinite, dht_get_atom_v, averaging::state_key(st.cfg.run_id), true)
    .then(
      [self, give_up](dht::dht_records& records) {
        auto& st = self->state;
        averaging::fetch_request req;
        req.holders = checkpoint::resolve_holders(records, st.cfg.self.id(), st.epoch + 1,
                                                  st.cfg.resolve_holder, st.distrusted.at(st.now()));
        if (req.holders.empty())
          return give_up("no holder advertises state past epoch " + std::to_string(st.epoch));
        st.first_looks_left = 0;
        auto holders = req.holders;
        self->request(st.cfg.averager, caf::infinite, avg_fetch_atom_v, std::move(req))
          .then(
            [self, give_up, holders](averaging::fetched_state& fetched) {
              auto& st = self->state;
              auto state = checkpoint::decode_training_state(fetched.blob);
              if (!state)
                return give_up(describe(state.error()));
              if (state->epoch != fetched.epoch)
                return give_up("the state's epoch disagrees with its advert");
              auto holder = holders.at(fetched.holder).peer;
              auto digest = checkpoint::state_digest(*state);
              // Installed only when other peers vouch for exactly these bytes.
              self->request(st.cfg.dht, caf::infinite, dht_get_atom_v,
                            checkpoint::vouch_key(st.cfg.run_id, state->epoch), true)
                .then(
                  [self, give_up, holder, digest, state = std::move(*state)](dht::dht_records& vouches) {
                    auto& st = self->state;
                    auto count = checkpoint::count_vouches(vouches, state.epoch, digest, holder);
                    auto others = st.live_peers;
                    others.erase(holder);
                    others.erase(st.cfg.self.id());
                    auto quorum = checkpoint::quorum_among(st.cfg.vouch_quorum, others.size());
                    if (!checkpoint::vouched(count, quorum)) {
                      st.distrusted.add(holder, st.now() + 12 * st.cfg.state_retry);
                      return give_up("the state of epoch " + std::to_string(state.epoch) + " from " +
                                     holder.to_hex().substr(0, 12) + " is not vouched for (" +
                                     std::to_string(count.for_digest) + " other peers vouch for it, " +
                                     std::to_string(count.best_other) + " for another state, quorum " +
                                     std::to_string(quorum) + "): trying another holder next");
                    }
                    if (!install_state(self, state.epoch, state.files, "peer"))
                      return give_up("the model refused it");
                    st.loading = false;
                    st.next_fetch = st.now();
                    publish_progress(self);
                    keep_ticking(self);
                  },
                  [give_up](caf::error& err) { give_up("cannot read the vouches: " + describe(err)); });
            },
            [give_up](caf::error& err) { give_up(describe(err)); });
      },
      [give_up](caf::error& err) { give_up(describe(err)); });
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
        st.live_peers.clear();
        for (const auto& r : records) {
          auto p = decode_progress(r.value);
          auto owner = r.has_subkey ? dht::owner_of(r.subkey) : std::nullopt;
          if (p && owner && peer_id_of(*owner) == p->peer) {
            reports.push_back(*p);
            if (live(*p, st.now(), st.cfg.progress))
              st.live_peers.insert(p->peer);
          }
        }
        auto local = st.local();
        auto global = aggregate(local, reports, st.now(), st.cfg.progress, st.seen);
        st.next_fetch = global.next_fetch_time;
        if (st.in_round || st.stopped || st.loading)
          return;
        st.eta = global.epoch == local.epoch ? global.eta_next_epoch : std::numeric_limits<double>::infinity();
        bool is_behind = behind(local, global);
        if (st.cfg.load_state && (is_behind || st.first_looks_left > 0) &&
            st.now() >= st.next_state_try) {
          if (!is_behind)
            st.first_looks_left -= 1;
          load_from_peers(self, global.epoch, !is_behind);
          return;
        }
        if (ready_to_step(local, global, st.now() + st.lookahead()))
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
  st.tick_scheduled = false;
  if (st.stopped || st.loading || (st.in_round && !st.overlap))
    return; // a round's end (or a load's) schedules the next micro-batch
  double began = st.now();
  auto batch = st.cfg.model->accumulate();
  if (!batch.error.empty()) {
    st.cfg.log("micro-batch failed: " + batch.error + "; stopping");
    st.stopped = true;
    return;
  }
  double took = st.now() - began;
  st.compute_seconds += took;
  st.total_samples += batch.samples;
  if (took > 0 && batch.samples > 0) {
    double rate = static_cast<double>(batch.samples) / took;
    st.rate = st.rate > 0 ? 0.8 * st.rate + 0.2 * rate : rate;
    st.batch_seconds = st.batch_seconds > 0 ? 0.8 * st.batch_seconds + 0.2 * took : took;
  }
  if (st.overlapping) { // the next epoch's, while this one's round runs
    st.next_samples += batch.samples;
    st.next_loss_sum += batch.loss;
    st.next_mini_steps += 1;
  } else {
    st.samples += batch.samples;
    st.loss_sum += batch.loss;
    st.mini_steps += 1;
  }
  double now = st.now();
  if (now >= st.next_report)
    publish_progress(self);
  if (!st.in_round && !st.overlapping && now + st.lookahead() >= st.eta)
    begin_round(self); // the last look said the swarm reaches the target by now
  if (now >= st.next_fetch && !st.fetching && !st.in_round)
    fetch_progress(self);
  keep_ticking(self);
}

/// Resumes from the newest valid checkpoint, if any, then trains.
void start(trainer_ptr self) {
  auto& st = self->state;
  if (!st.cfg.checkpointer) {
    keep_ticking(self);
    return;
  }
  st.loading = true;
  self->request(st.cfg.checkpointer, caf::infinite, ckpt_load_atom_v)
    .then(
      [self](checkpoint::loaded_checkpoint& latest) {
        auto& st = self->state;
        st.loading = false;
        if (!latest.found) {
          st.cfg.log("no checkpoint to resume from: starting at epoch 0");
        } else if (install_state(self, latest.meta.epoch, latest.files,
                                 "checkpoint " + latest.meta.path)) {
          // Serve it at once: a whole swarm restarted has holders again.
          offer_state(self, epoch_report{}, false);
        }
        keep_ticking(self);
      },
      [self](caf::error& err) {
        auto& st = self->state;
        st.loading = false;
        st.cfg.log("cannot read checkpoints: " + describe(err) + "; starting at epoch 0");
        keep_ticking(self);
      });
}

collaborative_actor::behavior_type trainer_impl(trainer_ptr self, collaborative_config cfg) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  if (!st.cfg.log)
    st.cfg.log = [](const std::string&) {};
  st.epoch_started = st.now();
  st.overlap = st.cfg.overlap_averaging && st.cfg.model->can_detach_gradients();
  start(self);
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
