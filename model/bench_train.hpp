#pragma once
// `ttt bench train`: time, memory and model FLOPs utilization of a training
// step, on the CPU or a GPU. Torch-free header; apps/bench_command.cpp
// dispatches `ttt bench train ARGS...` here.

#include "model/config.hpp"
#include "model/result.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace ttt::model {

/// One configuration's training step, averaged over the timed steps.
struct train_step_measurement {
  double forward_ms = 0, backward_ms = 0, step_ms = 0;
  double samples_per_second = 0;
  double tokens_per_second = 0; ///< samples/s × the model's sequence length
  /// CPU: peak of tensor memory during a step above what was live before it;
  /// GPU: peak of the device memory allocated during the timed steps.
  double peak_mib = 0;
  double model_tflops = 0; ///< model_flops_per_sample × samples/s, in TFLOP/s
  std::string device;      ///< where it ran, in words
};

/// The model's work per training sample: its matmuls (every weight used, with
/// shared weights counted each time they are used; logits over each part's own
/// vocabulary) and attention (q·kᵀ and the weighted sum over the pairs each
/// layer's mask allows), forward ×3 for forward + backward. Recomputation in
/// backward is not counted (MFU, not HFU).
double model_flops_per_sample(const dalle_config& config);
/// The (query, key) pairs an attention type's mask allows over a full sequence.
int64_t attention_pairs(const dalle_config& config, const std::string& attn_type);

/// Builds the model of `config_path` (seeded), then times `steps` training
/// steps on random data after one warm-up step (steps = 0: times that one).
/// `recompute`: reversible backward that recomputes activations. `device`:
/// auto, cpu, cuda[:N] (GPU: bf16 autocast, fp32 weights and LAMB state).
/// `accumulate`: micro-batches of `batch` whose gradients add up before each
/// LAMB step, as the trainer accumulates. `profile_path`: where the last
/// step's profiler trace goes (with a kernel summary beside it, `.txt`).
/// `graph`: on a GPU, micro-steps are replayed as a CUDA graph (graphed_step);
/// forward_ms then covers forward and backward. `kernels`,
/// `structured_attention`: the model's faster paths (dalle_impl::fast_paths),
/// off to compare.
result<train_step_measurement> measure_train_step(const std::string& config_path, int64_t batch, int64_t steps,
                                                  bool recompute, const std::string& device = "cpu",
                                                  int64_t accumulate = 1, const std::string& profile_path = "",
                                                  bool graph = false, bool kernels = true,
                                                  bool structured_attention = true);

/// The reachable peak beside it: TFLOP/s of a large matmul on the device
/// (GPU: bf16 8192³; CPU: fp32 2048³).
result<double> measure_matmul_tflops(const std::string& device);

/// One training step (loss, backward, LAMB) of a model from seed 0 on the
/// CPU in fp32 and on `device` (a GPU: bf16 autocast unless `bf16` is false),
/// compared: how far the GPU's numbers are from the CPU's.
struct device_comparison {
  double cpu_loss = 0, device_loss = 0;
  double gradient_cosine = 0;    ///< of the flattened gradients
  double gradient_relative = 0;  ///< ‖g_dev − g_cpu‖ / ‖g_cpu‖
  double parameters_relative = 0; ///< ‖θ_dev − θ_cpu‖ / ‖θ_cpu‖ after the step
};
result<device_comparison> compare_with_cpu(const std::string& config_path, const std::string& device, bool bf16,
                                           int64_t batch = 4);

/// Runs the benchmark with the arguments after `ttt bench train` (--config
/// FILE [--batch N] [--steps N] [--reversible both|on|off] [--threads N]
/// [--device D] [--peak-tflops X] [--compare-cpu]); prints one result line per mode and
/// returns the exit status.
int run_train_benchmark(const std::vector<std::string>& args);

} // namespace ttt::model
