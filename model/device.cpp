#include "model/device.hpp"

#include <ATen/autocast_mode.h>
#include <torch/cuda.h>

// The GPU's name and memory statistics need CUDA's runtime headers, which a
// PyTorch installation does not always carry; without them those two report
// less, and everything else works.
#if defined(TTT_WITH_CUDA) && __has_include(<cuda_runtime_api.h>)
#define TTT_CUDA_RUNTIME_HEADERS 1
#include <c10/cuda/CUDACachingAllocator.h>
#endif
#if defined(TTT_CUDA_RUNTIME_HEADERS) && __has_include(<ATen/cuda/CUDAGraph.h>)
#define TTT_CUDA_GRAPHS 1
#include <ATen/cuda/CUDAGraph.h>
#include <c10/core/StreamGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif
#if defined(TTT_WITH_CUDA) && __has_include(<cusparse.h>) // a whole CUDA toolkit
#define TTT_CUDA_TOOLKIT_HEADERS 1
#include <ATen/cuda/CUDAContext.h>
#endif

namespace ttt::model {

bool cuda_compiled() {
#ifdef TTT_WITH_CUDA
  return true;
#else
  return false;
#endif
}

result<torch::Device> select_device(const std::string& spec) {
  if (spec == "cpu")
    return torch::Device(torch::kCPU);
  bool gpus = cuda_compiled() && torch::cuda::is_available();
  if (spec == "auto" || spec.empty())
    return gpus ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  if (spec != "cuda" && spec.rfind("cuda:", 0) != 0)
    return failure{"device '" + spec + "': expected auto, cpu, cuda or cuda:N"};
  int64_t index = 0;
  if (spec.rfind("cuda:", 0) == 0) {
    auto digits = spec.substr(5);
    if (digits.empty() || digits.size() > 3 || digits.find_first_not_of("0123456789") != std::string::npos)
      return failure{"device '" + spec + "': expected cuda:N with N a GPU number"};
    index = std::stoll(digits);
  }
  if (!cuda_compiled())
    return failure{"device '" + spec + "': this ttt was built against a CPU-only libtorch "
                   "(rebuild with meson -Dtorch_dir=<a CUDA libtorch>) — use device = cpu or auto"};
  if (!gpus)
    return failure{"device '" + spec + "': no CUDA GPU is visible on this machine"};
  auto count = static_cast<int64_t>(torch::cuda::device_count());
  if (index >= count)
    return failure{"device '" + spec + "': this machine has " + std::to_string(count) + " GPU(s), cuda:0..cuda:" +
                   std::to_string(count - 1)};
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
}

std::string describe_device(const torch::Device& device) {
#ifdef TTT_CUDA_TOOLKIT_HEADERS
  if (device.is_cuda()) {
    auto* props = at::cuda::getDeviceProperties(device.index());
    return device.str() + " (" + props->name + ")";
  }
#endif
  return device.str();
}

void synchronize(const torch::Device& device) {
#ifdef TTT_WITH_CUDA
  if (device.is_cuda())
    torch::cuda::synchronize(device.index());
#else
  (void)device;
#endif
}

autocast_scope::autocast_scope(const torch::Device& device, bool enabled) {
#ifdef TTT_WITH_CUDA
  if (enabled && device.is_cuda()) {
    active_ = true;
    was_enabled_ = at::autocast::is_autocast_enabled(at::kCUDA);
    at::autocast::set_autocast_enabled(at::kCUDA, true);
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
    at::autocast::increment_nesting();
  }
#else
  (void)device;
  (void)enabled;
#endif
}

autocast_scope::~autocast_scope() {
#ifdef TTT_WITH_CUDA
  if (active_) {
    // Casts cached for this scope are dropped when the outermost one ends.
    if (at::autocast::decrement_nesting() == 0)
      at::autocast::clear_cache();
    at::autocast::set_autocast_enabled(at::kCUDA, was_enabled_);
  }
#endif
}

bool autocast_active() {
#ifdef TTT_WITH_CUDA
  return at::autocast::is_autocast_enabled(at::kCUDA);
#else
  return false;
#endif
}

int64_t gpu_peak_bytes(const torch::Device& device) {
#ifdef TTT_CUDA_RUNTIME_HEADERS
  if (device.is_cuda()) {
    auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
    return stats.allocated_bytes[0].peak; // index 0: the aggregate over pool types
  }
#else
  (void)device;
#endif
  return 0;
}

int64_t gpu_reserved_bytes(const torch::Device& device) {
#ifdef TTT_CUDA_RUNTIME_HEADERS
  if (device.is_cuda())
    return c10::cuda::CUDACachingAllocator::getDeviceStats(device.index()).reserved_bytes[0].current;
#else
  (void)device;
#endif
  return 0;
}

void reset_gpu_peak(const torch::Device& device) {
#ifdef TTT_CUDA_RUNTIME_HEADERS
  if (device.is_cuda())
    c10::cuda::CUDACachingAllocator::resetPeakStats(device.index());
#else
  (void)device;
#endif
}

void host_staging::reserve(int64_t numel, const torch::Device& source_device) {
  device_ = source_device;
  bool pin = source_device.is_cuda();
  if (buffer_.defined() && buffer_.numel() == numel && buffer_.is_pinned() == pin)
    return;
  auto options = torch::TensorOptions().dtype(torch::kFloat).pinned_memory(pin);
  buffer_ = torch::empty({numel}, options);
}

void host_staging::copy_async(const torch::Tensor& source, int64_t offset) {
  auto flat = source.detach().reshape({-1});
  // Non-blocking into pinned memory: the copy is queued behind the work that
  // produces `source`, and the host goes on.
  buffer_.slice(0, offset, offset + flat.numel()).copy_(flat.to(torch::kFloat), /*non_blocking=*/device_.is_cuda());
}

void host_staging::wait() {
  synchronize(device_);
}

void zero_gradients(const std::vector<torch::Tensor>& parameters) {
  torch::NoGradGuard no_grad;
  for (const auto& p : parameters)
    if (p.grad().defined())
      p.mutable_grad().zero_();
}

struct graphed_step::impl {
  step_fn step;
  torch::Device device;
  int64_t eager_left;
  torch::Tensor text, image, loss; // the graph's own inputs and output
#ifdef TTT_CUDA_GRAPHS
  std::unique_ptr<at::cuda::CUDAGraph> graph;
#endif
};

graphed_step::graphed_step(step_fn step, const torch::Device& device, int64_t eager_steps)
    : impl_(std::make_unique<impl>(impl{std::move(step), device, eager_steps, {}, {}, {}})) {}

graphed_step::~graphed_step() = default;

bool graphed_step::available() {
#ifdef TTT_CUDA_GRAPHS
  return true;
#else
  return false;
#endif
}

bool graphed_step::captured() const {
#ifdef TTT_CUDA_GRAPHS
  return impl_->graph != nullptr;
#else
  return false;
#endif
}

torch::Tensor graphed_step::run(const torch::Tensor& text, const torch::Tensor& image) {
  auto& m = *impl_;
#ifdef TTT_CUDA_GRAPHS
  if (m.device.is_cuda()) {
    if (m.graph) {
      m.text.copy_(text, /*non_blocking=*/true);
      m.image.copy_(image, /*non_blocking=*/true);
      m.graph->replay();
      return m.loss;
    }
    if (m.eager_left > 0) {
      --m.eager_left;
      return m.step(text, image);
    }
    // Capture on a side stream (CUDA cannot capture the default stream),
    // with nothing else in flight. The autocast cache is off while capturing,
    // so that the bf16 copies of the weights are made inside the graph, from
    // the weights of each replay's moment.
    synchronize(m.device);
    m.text = text.to(m.device).clone();
    m.image = image.to(m.device).clone();
    c10::cuda::CUDACachingAllocator::emptyCache(); // the graph's pool needs the memory the eager steps cached
    auto graph = std::make_unique<at::cuda::CUDAGraph>();
    auto side = c10::cuda::getStreamFromPool(false, m.device.index());
    bool cache = at::autocast::is_autocast_cache_enabled();
    {
      c10::StreamGuard guard(side.unwrap());
      at::autocast::set_autocast_cache_enabled(false);
      try {
        graph->capture_begin();
        m.loss = m.step(m.text, m.image);
        graph->capture_end();
      } catch (...) {
        at::autocast::set_autocast_cache_enabled(cache);
        throw;
      }
      at::autocast::set_autocast_cache_enabled(cache);
    }
    synchronize(m.device);
    m.graph = std::move(graph);
    m.graph->replay(); // capturing ran nothing: this is the call's micro-step
    return m.loss;
  }
#endif
  return m.step(text, image);
}

} // namespace ttt::model
