#pragma once
// The checkpointer's typed actor interface. Local only: its messages are
// plain structs between this peer's own actors (the trainer hands it state
// and asks for the newest valid checkpoint); state crosses peers through the
// averager's checksummed download, never through this actor.

#include "actors/checkpointer/checkpoint_core.hpp"
#include "actors/common/types.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

namespace ttt::checkpoint {

/// The state of a peer after an epoch, offered for a checkpoint.
struct checkpoint_request {
  training_state state; ///< state.epoch: epochs completed
  uint64_t samples = 0; ///< this peer's samples in the epoch that ended
  double loss = 0;      ///< its mean loss there
};

using checkpointer_actor = caf::typed_actor<
  // Writes a checkpoint when state.epoch is due (every `checkpoint_every`
  // epochs); replies true when it wrote one.
  caf::replies_to<ckpt_save_atom, checkpoint_request>::with<bool>,
  // The newest checkpoint whose files pass their checks (found = false: none).
  caf::replies_to<ckpt_load_atom>::with<loaded_checkpoint>,
  // Internal (follow mode): look at the swarm's state adverts again.
  caf::reacts_to<ckpt_poll_atom>>;

} // namespace ttt::checkpoint

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ttt::checkpoint::checkpoint_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ttt::checkpoint::loaded_checkpoint)
