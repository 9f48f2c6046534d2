#pragma once
// LAMB as the 2021 run used it (torch_optimizer.Lamb without bias correction,
// the trust ratio's weight norm clamped, global gradient clipping before the
// step) and the linear warmup/decay schedule. Internal to model/ (torch).

#include "model/config.hpp"

#include <torch/torch.h>

#include <string>
#include <vector>

namespace ttt::model {

/// One parameter and its optimizer state.
struct lamb_slot {
  std::string name; ///< canonical dalle-pytorch name
  torch::Tensor param;
  torch::Tensor exp_avg, exp_avg_sq;
  double weight_decay = 0; ///< 0 for biases
};

class lamb {
public:
  /// Biases (names ending in "bias") get no weight decay.
  lamb(std::vector<std::pair<std::string, torch::Tensor>> named_params, const train_config& config);

  /// Clips the global gradient norm to max_grad_norm, then one LAMB step at
  /// `lr` with the parameters' .grad, or with `gradients` (one per slot, in
  /// slot order) when given. Returns the gradient norm before clipping.
  double step(double lr, const std::vector<torch::Tensor>* gradients = nullptr);

  /// The 2021 schedule: linear warmup from 0, then linear decay to 0 at total_steps.
  double learning_rate(int64_t step) const;

  std::vector<lamb_slot>& slots() { return slots_; }

private:
  std::vector<lamb_slot> slots_;
  train_config config_;
};

} // namespace ttt::model
