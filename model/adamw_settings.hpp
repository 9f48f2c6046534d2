#pragma once
// The settings of DiLoCo's inner optimizer (model/adamw.hpp), torch-free so
// that apps/ can fill them from a profile.

#include <cstdint>

namespace ttt::model {

/// AdamW's settings; the defaults suit dalle-tiny.
struct adamw_settings {
  double learning_rate = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double weight_decay = 0.1;  ///< decoupled; 0 for biases
  double max_grad_norm = 1.0; ///< global clipping before the step (0: none)
  int64_t warmup_steps = 0;   ///< linear warmup of the learning rate from 0
  /// After the warmup, a linear decay to 0 at this step, as the 2021 LAMB
  /// schedule does (0: the rate stays constant).
  int64_t total_steps = 0;
};

} // namespace ttt::model
