#pragma once
// AdamW (Loshchilov & Hutter; torch.optim.AdamW's update with bias
// correction) with global gradient clipping before the step: DiLoCo's inner
// optimizer. Internal to model/ (torch).

#include "model/adamw_settings.hpp"

#include <torch/torch.h>

#include <string>
#include <vector>

namespace ttt::model {

class adamw {
public:
  /// Biases (names ending in "bias") get no weight decay.
  adamw(std::vector<std::pair<std::string, torch::Tensor>> named_params, adamw_settings settings);

  /// Clips the global gradient norm, then one AdamW step (the warmup's
  /// learning rate at this step). Returns the gradient norm before clipping.
  double step();

  int64_t steps() const { return step_; }

  /// The learning rate of step `step` (counted from 1): the warmup, then the
  /// linear decay when the settings have a total.
  double learning_rate(int64_t step) const;

private:
  struct slot {
    torch::Tensor param, exp_avg, exp_avg_sq;
    double weight_decay = 0;
  };
  std::vector<slot> slots_;
  adamw_settings settings_;
  int64_t step_ = 0;
};

} // namespace ttt::model
