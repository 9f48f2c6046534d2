#pragma once
// `ttt bench train`: time and memory of a training step. Torch-free header;
// apps/bench_command.cpp dispatches `ttt bench train ARGS...` here.

#include "model/result.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace ttt::model {

/// One configuration's training step, averaged over the timed steps.
struct train_step_measurement {
  double forward_ms = 0, backward_ms = 0, step_ms = 0;
  double samples_per_second = 0;
  double peak_mib = 0; ///< peak of CPU tensor memory during a step, above what was live before it
};

/// Builds the model of `config_path` (seeded), then times `steps` training
/// steps on random data after one warm-up step (steps = 0: times that one).
/// `recompute`: reversible backward that recomputes activations.
result<train_step_measurement> measure_train_step(const std::string& config_path, int64_t batch, int64_t steps,
                                                  bool recompute);

/// Runs the benchmark with the arguments after `ttt bench train` (--config
/// FILE [--batch N] [--steps N] [--reversible both|on|off] [--threads N]);
/// prints one result line per mode and returns the exit status.
int run_train_benchmark(const std::vector<std::string>& args);

} // namespace ttt::model
