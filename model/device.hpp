#pragma once
// Where the model computes: device selection, bf16 autocast on GPUs, the
// GPU's memory statistics. Internal to model/ (includes torch); the
// torch-free check of a device setting is model::check_device in api.hpp.
//
// CUDA code is compiled only against a CUDA libtorch (meson -Dtorch_dir=...,
// which defines TTT_WITH_CUDA); Debian's CPU libtorch builds without it and
// every GPU request gets a clear error instead.

#include "model/result.hpp"

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace ttt::model {

/// True when this build links a CUDA libtorch.
bool cuda_compiled();

/// `auto` (the first GPU when there is one, else the CPU), `cpu`, `cuda` or
/// `cuda:N`. Fails, naming the setting, for a GPU this build or machine lacks.
result<torch::Device> select_device(const std::string& spec);

/// The device in words, e.g. "cpu" or "cuda:0 (NVIDIA H100 80GB HBM3)".
std::string describe_device(const torch::Device& device);

/// Waits until the device has finished the work queued so far (CPU: nothing).
void synchronize(const torch::Device& device);

/// bf16 autocast for the forward and backward on a GPU (the parameters and
/// optimizer state stay fp32); on the CPU it does nothing. Scoped to the
/// calling thread; nests.
class autocast_scope {
public:
  autocast_scope(const torch::Device& device, bool enabled = true);
  ~autocast_scope();
  autocast_scope(const autocast_scope&) = delete;
  autocast_scope& operator=(const autocast_scope&) = delete;

private:
  bool active_ = false;
  bool was_enabled_ = false;
};

/// True while bf16 autocast is on for this thread's GPU work.
bool autocast_active();

/// Peak of the GPU memory allocated since the last reset, in bytes (CPU: 0).
int64_t gpu_peak_bytes(const torch::Device& device);
void reset_gpu_peak(const torch::Device& device);
/// GPU memory the caching allocator holds now, in bytes (CPU: 0); a captured
/// CUDA graph's memory pool counts here, not in the allocated peak.
int64_t gpu_reserved_bytes(const torch::Device& device);

/// A vector of floats copied from the device through pinned host memory:
/// begin() queues the copies without waiting, wait() waits for them once.
/// Reused across calls, so the pinned buffer is allocated once.
class host_staging {
public:
  /// Queues `source` (any device, flattened, as float) into the buffer at `offset`.
  void copy_async(const torch::Tensor& source, int64_t offset);
  /// Makes the buffer hold `numel` floats (pinned when the source device is a GPU).
  void reserve(int64_t numel, const torch::Device& source_device);
  /// Waits for the queued copies; then data() holds them.
  void wait();
  const float* data() const { return buffer_.data_ptr<float>(); }
  int64_t size() const { return buffer_.defined() ? buffer_.numel() : 0; }

private:
  torch::Tensor buffer_;
  torch::Device device_ = torch::kCPU;
};

/// One training micro-step (forward, loss and backward into the parameters'
/// .grad) captured once as a CUDA graph and then replayed: the host launches
/// one graph instead of some ten thousand kernels, so the GPU never waits for
/// it. Inputs are copied into the graph's own tensors before each replay.
/// The first micro-steps run eagerly (they warm up the libraries' kernel
/// choices); every call, eager or replayed, adds its gradients as the eager
/// step would. Parameters' .grad must be zeroed in place between optimizer
/// steps (zero_gradients), never reset to undefined: the graph writes to them.
/// On the CPU, or a build without CUDA graphs, every call runs eagerly.
class graphed_step {
public:
  /// `step` runs forward and backward on (text, image) and returns the loss.
  using step_fn = std::function<torch::Tensor(const torch::Tensor& text, const torch::Tensor& image)>;
  graphed_step(step_fn step, const torch::Device& device, int64_t eager_steps = 2);
  ~graphed_step();
  graphed_step(const graphed_step&) = delete;
  graphed_step& operator=(const graphed_step&) = delete;

  /// One micro-step; the loss tensor it returns is overwritten by the next call.
  torch::Tensor run(const torch::Tensor& text, const torch::Tensor& image);
  /// True once the step is captured and calls replay it.
  bool captured() const;
  /// True when this build can capture CUDA graphs.
  static bool available();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Zeroes every defined gradient of `parameters` in place.
void zero_gradients(const std::vector<torch::Tensor>& parameters);

} // namespace ttt::model
