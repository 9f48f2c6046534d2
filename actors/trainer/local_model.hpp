#pragma once
// What the collaborative optimizer needs of the model it trains, as flat
// float vectors: libtorch stays behind this interface (model/ implements it;
// tests use a small exact model).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ttt::trainer {

/// One forward/backward over a micro-batch. (No CAF here: model/ implements
/// this interface and is built without CAF.)
struct micro_batch {
  double loss = 0;      ///< mean loss of the micro-batch
  uint64_t samples = 0; ///< samples it held
  std::string error;    ///< non-empty: the micro-batch failed (bad data...), why
};

/// One file of a model's training state ("model.safetensors", ...): the
/// unit a checkpoint directory holds and a newcomer downloads.
struct state_file {
  std::string name;  ///< a plain file name, no directories
  std::string bytes;
};

class local_model {
public:
  virtual ~local_model() = default;

  /// Where the model computes, in words (logs).
  virtual std::string device_description() const { return "the CPU"; }

  /// How well the model does on its data's own test, from 0 to 1 (on the
  /// shapes set: whether the pictures it draws for fixed captions follow
  /// them); none when its data has no such test. Changes nothing.
  virtual std::optional<double> evaluate() { return std::nullopt; }

  /// Runs one micro-batch and adds its gradients to the accumulated ones.
  /// A model that does not wait for its device returns loss 0 and reports
  /// the loss later through settle_losses().
  virtual micro_batch accumulate() = 0;

  /// The summed losses of the micro-batches accumulate() returned without
  /// theirs, since the last call (reading them may wait for the device).
  /// Trainers add this to their loss sum before they report it.
  virtual double settle_losses() { return 0.0; }

  /// The mean gradient over the samples accumulated since the last step,
  /// flattened in parameter order.
  virtual std::vector<float> gradients() const = 0;

  /// One optimizer step with `mean_gradients` (the swarm's weighted mean, or
  /// this peer's own when averaging failed); clears the accumulators.
  virtual void step(const std::vector<float>& mean_gradients) = 0;

  // -- overlapping averaging with compute (collaborative_config::overlap_averaging)

  /// True when the model implements the two calls below.
  virtual bool can_detach_gradients() const { return false; }

  /// The mean gradient over the samples accumulated so far, as gradients()
  /// gives it; the accumulators are then cleared, so that micro-batches of
  /// the next epoch can run while these gradients are averaged.
  virtual std::vector<float> detach_gradients() { return gradients(); }

  /// The optimizer step of the epoch whose gradients detach_gradients() took;
  /// what was accumulated since stays.
  virtual void delayed_step(const std::vector<float>& mean_gradients) { (void)mean_gradients; }

  /// The parameters, flattened in parameter order (tests, state averaging).
  virtual std::vector<float> parameters() const = 0;

  /// The full training state: parameters, optimizer state, the schedule's
  /// position and as much of the data position as is reasonable, as named
  /// files. actors/checkpointer writes them atomically (save) and bundles
  /// them for the averager to serve (to_bytes). Empty: this model keeps no state.
  virtual std::vector<state_file> export_state() const { return {}; }

  /// Replaces the training state with files export_state made (here, or on
  /// another peer of the run) and clears the accumulated gradients. Returns
  /// why it could not (nothing changed then); empty on success.
  virtual std::string import_state(const std::vector<state_file>& files) {
    (void)files;
    return "this model cannot load state";
  }
  // -- DiLoCo (actors/trainer/diloco.hpp) -----------------------------------

  /// One local inner optimizer step (AdamW) with the mean gradient over the
  /// samples accumulated since the last step; clears the accumulators. The
  /// inner optimizer's state stays on this peer across outer steps.
  virtual void inner_step() = 0;

  /// Overwrites the parameters with `values` (flattened in parameter order,
  /// as parameters() gives them): the outer step's result.
  virtual void set_parameters(const std::vector<float>& values) = 0;
};

} // namespace ttt::trainer
