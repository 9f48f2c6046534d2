#pragma once
// The trainer's second mode, DiLoCo (Douillard et al. 2023; OpenDiLoCo 2024):
// every peer takes `inner_steps` local AdamW steps on its own data (each on
// `inner_batch_size` samples, accumulated micro-batch by micro-batch), then
// the group all-reduces the pseudo-gradient θ_start − θ_local in 8-bit
// (weighted by the samples each peer trained on), and every peer applies the
// same outer Nesterov step from θ_start. An outer step is an epoch: progress
// records, metrics and the "epoch N done" log line are as in hivemind mode.
// A peer that finds no group (or whose all-reduce fails) applies the outer
// step with its own pseudo-gradient. Optionally the round overlaps the next
// epoch's inner steps (see diloco_settings::overlap).

#include "actors/trainer/collaborative.hpp"
#include "actors/trainer/outer_optimizer.hpp"

#include <string>

namespace ttt::trainer {

/// The trainer's mode, as `[trainer] mode` names it.
enum class trainer_mode { hivemind, diloco };

/// Parses "hivemind" or "diloco"; false on anything else.
bool parse_trainer_mode(const std::string& text, trainer_mode& out);

struct diloco_settings {
  uint64_t inner_steps = 50;      ///< H: local steps between two outer steps
  uint64_t inner_batch_size = 32; ///< samples per inner step (whole micro-batches, at least this many)
  outer_settings outer;           ///< lr 0.7, Nesterov momentum 0.9
  /// Overlap the round with the next epoch's inner steps: the outer step
  /// lands one epoch late (the inner progress made meanwhile is kept on top
  /// of the new θ), so the peer computes while the group gathers and averages
  /// ("one-step-delayed" DiLoCo; Kale et al. 2025 study its effect on loss).
  /// False: the DiLoCo of the paper, idle during the round.
  bool overlap = false;
  /// The pseudo-gradient's codec: blockwise 8-bit (int8, one scale per 4096 values).
  averaging::codec_choice codecs = averaging::codec_choice::fixed(averaging::codec::blockwise_8bit);
};

/// Spawns a DiLoCo trainer. From `config` it uses everything but
/// `progress.target_batch_size` (an epoch ends after H inner steps here) and
/// `round.codecs` (replaced by `settings.codecs`). Matchmaking rounds are
/// named "<run_id>.diloco.<epoch>"; with target_group_size 1 the peer never
/// matchmakes and steps alone.
collaborative_actor spawn_diloco_trainer(caf::actor_system& sys, collaborative_config config,
                                         diloco_settings settings);

} // namespace ttt::trainer
