#pragma once
// The checkpointer actor: a thin shell around checkpoint_store. With a local
// trainer it writes the state the trainer offers (every `every` epochs, the
// newest `keep` kept) and hands back the newest valid checkpoint on start.
// In follow mode (a peer without a trainer, e.g. configs/aux.ini) it watches
// the swarm's state adverts, downloads newer state through its averager,
// checkpoints it, and serves and advertises it in turn, so the run's latest
// state survives even when every trainer is gone.

#include "actors/averager/interface.hpp"
#include "actors/checkpointer/interface.hpp"
#include "actors/checkpointer/state_sharing.hpp"
#include "actors/common/identity.hpp"
#include "actors/dht/interface.hpp"
#include "storage/database.hpp"

#include <caf/fwd.hpp>

#include <functional>
#include <string>

namespace ttt::checkpoint {

struct checkpointer_config {
  storage::database* db = nullptr; ///< outlives the actor
  std::string root;                ///< <data_dir>/checkpoints
  uint64_t every = 1;              ///< epochs between checkpoints (0: never)
  size_t keep = 3;                 ///< newest checkpoints kept (0: all)
  std::function<double()> clock;
  std::function<void(const std::string&)> log;
  /// On a thread of its own: writing a large state blocks.
  bool detached = false;
  /// Told of each checkpoint written and, in follow mode, of the newest one
  /// served at start; called on the checkpointer's thread, so it must not block.
  std::function<void(const checkpoint_meta&)> on_checkpoint;

  // -- follow mode -----------------------------------------------------------
  bool follow = false;
  std::string run_id;
  dht::dht_actor dht;
  averaging::averager_actor averager;
  identity self = identity::generate();
  /// Where this peer's averager is reached (empty host: do not advertise).
  std::string host;
  uint16_t port = 0;
  holder_resolver resolve;
  caf::timespan poll_interval = std::chrono::seconds(10);
  double advert_lifetime = 60;
  /// Downloaded state is checkpointed and served only when this many peers
  /// besides its holder vouch for it (see state_sharing.hpp); 0 trusts it.
  size_t vouch_quorum = 1;
};

checkpointer_actor spawn_checkpointer(caf::actor_system& sys, checkpointer_config config);

} // namespace ttt::checkpoint
