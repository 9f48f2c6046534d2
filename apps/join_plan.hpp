#pragma once
// How a volunteer's machine trains the run's model: the micro-batch and
// whether to keep activations, from the model's size and the memory there
// is. A rough, documented estimate (pure; tested), erring towards fitting.

#include "model/config.hpp"

#include <cstdint>
#include <string>

namespace ttt::apps {

struct training_plan {
  int64_t micro_batch = 1;
  bool keep_activations = false;
  double state_bytes = 0;       ///< parameters, gradients and LAMB's two moments (fp32)
  double activation_bytes = 0;  ///< of one micro-batch, as planned
  bool fits = true;             ///< false: even a micro-batch of 1 recomputed exceeds the budget
  std::string line;             ///< the one line `ttt join` prints
};

/// Bytes of activations one sample needs in the backward: every layer's
/// (`keep`), or the reversible stack's one layer at a time plus its inputs.
double activation_bytes_per_sample(const model::dalle_config& m, bool keep);

/// Uses at most 70% of `memory_bytes` (0: unknown, the config's settings
/// recomputed). Keeps activations when the config's micro-batch fits with
/// them; else recomputes, halving the micro-batch until it fits.
training_plan plan_training(const model::dalle_config& m, int64_t parameters, int64_t config_micro_batch,
                            int64_t memory_bytes, const std::string& device_description);

} // namespace ttt::apps
