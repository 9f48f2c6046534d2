#pragma once
// The trainer's collaborative optimizer in hivemind's mode: accumulate
// micro-batches, publish signed progress to the DHT, and when the swarm has
// target_batch_size samples for the epoch, find a group (matchmaking through
// the DHT), all-reduce the gradients weighted by each peer's samples, and
// apply the same step on every peer. If no group forms or the round fails,
// the peer steps with its own gradients (and resyncs later).

#include "actors/averager/interface.hpp"
#include "actors/averager/matchmaker.hpp"
#include "actors/checkpointer/interface.hpp"
#include "actors/checkpointer/state_sharing.hpp"
#include "actors/common/identity.hpp"
#include "actors/common/node_metrics.hpp"
#include "actors/dht/interface.hpp"
#include "actors/trainer/local_model.hpp"
#include "actors/trainer/progress.hpp"

#include <caf/fwd.hpp>
#include <caf/typed_actor.hpp>

#include <functional>
#include <memory>
#include <string>

namespace ttt::trainer {

/// How one epoch ended on this peer.
struct epoch_report {
  uint64_t epoch = 0;         ///< the epoch that ended
  uint64_t samples = 0;       ///< this peer's samples in it
  double mean_loss = 0;       ///< over this peer's micro-batches
  size_t group_size = 0;      ///< peers it averaged with (1: stepped alone)
  bool averaged = false;      ///< false: stepped with its own gradients
  bool partial = false;       ///< the all-reduce lost someone mid-round
  /// The group also averaged its parameters after the step (every
  /// average_state_every epochs): peers that drifted apart (a step alone, a
  /// partial round) come back together.
  bool parameters_averaged = false;
  /// BLAKE2b-64 of the parameters after the step, in hex: peers that agree
  /// on it hold the same model, bit for bit.
  std::string parameters_digest;
};

struct collaborative_config {
  std::string run_id;
  std::shared_ptr<local_model> model;
  dht::dht_actor dht;
  averaging::matchmaker_actor matchmaker;
  averaging::averager_actor averager;
  identity self = identity::generate();
  /// How other peers reach this one (host empty: client mode), its share of reducing.
  averaging::declaration declaration;
  /// The averager of a group member, by the member's declaration; a null
  /// handle for members that reach us first (see averaging::round_request).
  std::function<averaging::averager_peer(const averaging::declaration&)> resolve;
  progress_settings progress;
  averaging::matchmaking_settings matchmaking;
  averaging::round_config round;
  uint64_t epochs = 0; ///< stop after this many epochs (0: never)
  /// After every this many epochs' steps the group averages its parameters
  /// too (hivemind's average_state_every; 0: never).
  uint64_t average_state_every = 0;
  /// Every this many epochs the model is evaluated on its data's own test
  /// (local_model::evaluate: on the shapes set, whether its pictures follow
  /// their captions) and the score goes out with the epoch's metrics, for
  /// the dashboard (0: never).
  uint64_t eval_every = 0;
  /// Overlap averaging with compute (hivemind's delay_optimizer_step): once
  /// an epoch's gradients are handed to the all-reduce, the model goes on
  /// accumulating the next epoch's on the parameters it has, and the averaged
  /// step lands when the round ends (one epoch stale, as in hivemind). Needs a
  /// model with detach_gradients(); others wait for the round as without it.
  bool overlap_averaging = false;
  /// Delay between micro-batches (0 in a node; tests simulate compute time).
  caf::timespan pace = caf::timespan{0};
  std::function<double()> clock;
  std::function<void(const std::string&)> log;
  /// Called after every epoch (tests, the node's checkpointer).
  std::function<void(const epoch_report&)> on_epoch;
  /// Run on a thread of its own: a real model blocks on compute.
  bool detached = false;

  // -- state: checkpoints, resuming, sharing ----------------------------------
  /// This peer's checkpointer: on start the trainer resumes from its newest
  /// valid checkpoint, and after every epoch it offers the state (the
  /// checkpointer writes the due ones). Null: neither.
  checkpoint::checkpointer_actor checkpointer;
  /// Epochs between checkpoints (the checkpointer's setting): the state is
  /// exported for it only when one is due.
  uint64_t checkpoint_every = 1;
  /// After every epoch, serve the state through the averager and advertise
  /// it under state.<run_id> (only when declaration.host is set: reachable).
  bool share_state = false;
  /// When the swarm's global epoch is past this peer's, download the state
  /// from the best holder and continue from there.
  bool load_state = false;
  /// Reaches a holder's averager (the node: through its gateway).
  checkpoint::holder_resolver resolve_holder;
  double state_advert_lifetime = 120;
  /// Seconds before another download try after a failed one.
  double state_retry = 5;
  /// After every epoch, vouch in the DHT for the digest of this peer's state
  /// (what it would serve), so that newcomers can tell honest state.
  bool vouch_state = true;
  double vouch_lifetime = 600;
  /// Downloaded state is installed only when at least this many peers
  /// besides its holder vouch for its digest, and more than for any other
  /// (checkpoint::vouched). 0 trusts the holder: only for a swarm of one.
  size_t vouch_quorum = 1;
  /// This peer's certificate of the run (closed runs), sent with its metrics
  /// so that the dashboard shows the name the authority gave it.
  std::string certificate;
  /// The name the volunteer chose for the dashboard's leaderboard, sent with
  /// its metrics (shown unverified: a verified certificate's name wins).
  /// Empty: the leaderboard shows the start of this peer's id.
  std::string volunteer_name;
  /// This node's Prometheus figures: each epoch's loss, samples, rate, and
  /// averaging rounds, time and bytes go there (null: none kept).
  std::shared_ptr<node_metrics> figures;
  /// Called when state was loaded: (epochs completed, "checkpoint" or "peer",
  /// digest of the parameters loaded) (tests).
  std::function<void(uint64_t, const std::string&, const std::string&)> on_state_loaded;
};

using collaborative_actor = caf::typed_actor<caf::reacts_to<trn_tick_atom>>;

collaborative_actor spawn_collaborative_trainer(caf::actor_system& sys, collaborative_config config);

/// DHT key of a run's progress records (subkey: each peer's owner marker).
inline std::string progress_key(const std::string& run_id) {
  return "progress." + run_id;
}

} // namespace ttt::trainer
