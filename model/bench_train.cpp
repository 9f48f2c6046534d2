#include "model/bench_train.hpp"

#include "apps/flags.hpp"
#include "model/dalle.hpp"
#include "model/device.hpp"
#include "model/fused.hpp"
#include "model/lamb.hpp"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <torch/version.h>
#if __has_include(<torch/csrc/autograd/profiler_kineto.h>)
#include <torch/csrc/autograd/profiler_kineto.h>
#define TTT_HAVE_KINETO 1
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <unordered_map>

namespace ttt::model {

namespace {

// Wraps the CPU allocator to count live bytes and their peak: libtorch 1.13
// keeps no CPU memory statistics, and a process's RSS never shrinks. Each
// allocation's context is its data pointer (raw_allocate, which some CPU
// kernels use for scratch, requires it); the base allocation and its size
// are kept in a table beside it.
class tracking_allocator final : public c10::Allocator {
public:
  explicit tracking_allocator(c10::Allocator* base) : base_(base) { instance_ = this; }

  // libtorch 1.13 declares allocate() const, 2.3+ non-const with a pure
  // copy_data(): both signatures are here, without `override`, so that the
  // class compiles against either.
  c10::DataPtr allocate(size_t n) { return allocate_tracked(n); }
  c10::DataPtr allocate(size_t n) const { return allocate_tracked(n); }
  void copy_data(void* dest, const void* src, std::size_t count) const { std::memcpy(dest, src, count); }

  c10::DataPtr allocate_tracked(size_t n) const {
    auto inner = base_->allocate(n);
    void* data = inner.get();
    auto device = inner.device();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      live_.emplace(data, record{std::move(inner), n});
    }
    int64_t now = current_.fetch_add(static_cast<int64_t>(n)) + static_cast<int64_t>(n);
    int64_t seen = peak_.load();
    while (now > seen && !peak_.compare_exchange_weak(seen, now)) {
    }
    return {data, data, &release, device};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &release; }

  void reset_peak() const { peak_.store(current_.load()); }
  int64_t current() const { return current_.load(); }
  int64_t peak() const { return peak_.load(); }

private:
  struct record {
    c10::DataPtr inner;
    size_t size;
  };
  static void release(void* data) {
    auto* self = instance_;
    record r;
    {
      std::lock_guard<std::mutex> lock(self->mutex_);
      auto it = self->live_.find(data);
      if (it == self->live_.end())
        return;
      r = std::move(it->second);
      self->live_.erase(it);
    }
    self->current_.fetch_sub(static_cast<int64_t>(r.size));
    // r.inner frees the memory through the base allocator's deleter
  }

  c10::Allocator* base_;
  static inline tracking_allocator* instance_ = nullptr; // installed once, never removed
  mutable std::mutex mutex_;
  mutable std::unordered_map<void*, record> live_;
  mutable std::atomic<int64_t> current_{0}, peak_{0};
};

const tracking_allocator& tracker() {
  // Installed once: tensors it allocated must find it alive when freed.
  static const tracking_allocator* t = [] {
    auto* a = new tracking_allocator(c10::GetCPUAllocator());
    c10::SetAllocator(c10::DeviceType::CPU, const_cast<tracking_allocator*>(a), 100);
    return a;
  }();
  return *t;
}

struct config_on_device {
  config_file config;
  torch::Device device;
};

result<config_on_device> prepare(const std::string& config_path, const std::string& device_spec) {
  auto cfg = load_config(config_path);
  if (!cfg)
    return failure{cfg.error()};
  auto device = select_device(device_spec);
  if (!device)
    return failure{device.error()};
  return config_on_device{*cfg, *device};
}

double since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

/// Dense bf16 peak of the GPUs we know, TFLOP/s (0: unknown, say so).
double known_peak_tflops(const std::string& device_name) {
  for (const char* h : {"H100", "H200", "H800", "GH200"})
    if (device_name.find(h) != std::string::npos)
      return 989.4; // SXM; the PCIe H100 has 756
  if (device_name.find("A100") != std::string::npos || device_name.find("A800") != std::string::npos)
    return 312.0;
  return 0;
}

/// Which of libtorch's attention kernels the model's calls get on `device`
/// (dalle_impl::fused_attention's three shapes): text (causal), lines (axial
/// layers' image queries), masked (other layers).
std::string attention_kernels(const dalle_config& c, int64_t batch, const torch::Device& device, bool structured,
                              bool kernels) {
#ifdef TTT_WITH_CUDA
  if (device.is_cuda()) {
    auto name = [](int64_t choice) {
      switch (choice) {
      case 0: return "math";
      case 1: return "flash";
      case 2: return "efficient";
      case 3: return "cudnn";
      default: return "other";
      }
    };
    auto o = torch::TensorOptions().device(device).dtype(torch::kBFloat16);
    int64_t h = c.heads, dh = c.dim_head, t = c.text_len(), side = c.image_fmap_size, n = c.seq_len();
    double scale = std::pow(static_cast<double>(dh), -0.5);
    auto text = torch::empty({batch, h, t, dh}, o);
    auto lines_q = torch::empty({batch, h * side, side, dh}, o), lines_k = torch::empty({batch, h * side, t + side, dh}, o);
    auto full = torch::empty({batch, h, n, dh}, o);
    auto bools = torch::TensorOptions().device(device).dtype(torch::kBool);
    auto choice_text = at::_fused_sdp_choice(text, text, text, {}, 0.0, true, scale);
    auto choice_lines = at::_fused_sdp_choice(lines_q, lines_k, lines_k, torch::ones({side, t + side}, bools), 0.0, false, scale);
    auto choice_masked = at::_fused_sdp_choice(full, full, full, torch::ones({n, n}, bools), 0.0, false, scale);
    // The lines as two flash attentions merged (fused.hpp), where this libtorch and GPU allow it.
    bool merged = structured &&
                  axial_attention(torch::zeros({1, n, 3 * h, dh}, o), h, t, side, false, scale, kernels).defined();
    return std::string("text:") + name(choice_text) + ",lines:" + (merged ? "flash-merged" : name(choice_lines)) +
           ",masked:" + name(choice_masked);
  }
#endif
  (void)batch;
  if (device.is_cuda())
    return "fused";
  (void)kernels;
  return structured && dalle_impl::cpu_attention_by_structure(c) ? "explicit,lines:merged" : "explicit";
}

/// One training step under libtorch's profiler (kineto): the trace for
/// chrome://tracing or Perfetto goes to `path`, and `path`.txt lists the
/// GPU kernels by their total time.
class step_profiler {
public:
  step_profiler(std::string path, bool gpu) : path_(std::move(path)), gpu_(gpu) {}

  result<bool> start() {
#ifdef TTT_HAVE_KINETO
    try {
      torch::autograd::profiler::prepareProfiler(config(), activities());
      torch::autograd::profiler::enableProfiler(config(), activities());
      started_ = std::chrono::steady_clock::now();
      return true;
    } catch (const c10::Error& e) {
      return failure{"the profiler: " + std::string(e.what_without_backtrace())};
    }
#else
    return failure{"this libtorch has no kineto profiler"};
#endif
  }

  result<std::string> stop() {
#ifdef TTT_HAVE_KINETO
    double wall_ms = since(started_);
    auto trace = torch::autograd::profiler::disableProfiler();
    try {
      trace->save(path_);
    } catch (const c10::Error& e) {
      return failure{"--profile: this libtorch cannot write a profiler trace (Debian's is built without kineto; "
                     "PyTorch's own libtorch has it): " +
                     std::string(e.what_without_backtrace())};
    }
    std::map<std::string, std::pair<double, int64_t>> kernels; // ms, count
    double busy_ms = 0;
    for (const auto& e : trace->events()) {
      if (e.deviceType() != c10::DeviceType::CUDA)
        continue;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 2)
      double ms = static_cast<double>(e.durationNs()) / 1e6;
#else
      double ms = static_cast<double>(e.durationUs()) / 1e3;
#endif
      auto& k = kernels[e.name().substr(0, 110)];
      k.first += ms;
      k.second += 1;
      busy_ms += ms;
    }
    std::vector<std::pair<std::string, std::pair<double, int64_t>>> sorted(kernels.begin(), kernels.end());
    std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
    std::ofstream out(path_ + ".txt");
    char line[256];
    std::snprintf(line, sizeof line, "step wall %.1f ms, GPU kernels %.1f ms (%.0f%% busy), %zu kinds\n", wall_ms,
                  busy_ms, wall_ms > 0 ? 100.0 * busy_ms / wall_ms : 0.0, kernels.size());
    out << line << "      ms  share  count  kernel\n";
    for (size_t i = 0; i < sorted.size() && i < 40; ++i) {
      const auto& [name, v] = sorted[i];
      std::snprintf(line, sizeof line, "%8.1f %5.1f%% %6lld  ", v.first, busy_ms > 0 ? 100.0 * v.first / busy_ms : 0.0,
                    static_cast<long long>(v.second));
      out << line << name << "\n";
    }
    return path_ + ".txt";
#else
    return failure{"this libtorch has no kineto profiler"};
#endif
  }

private:
#ifdef TTT_HAVE_KINETO
  torch::profiler::impl::ProfilerConfig config() const {
    return torch::profiler::impl::ProfilerConfig(torch::profiler::impl::ProfilerState::KINETO,
                                                 /*report_input_shapes=*/true);
  }
  std::set<torch::profiler::impl::ActivityType> activities() const {
    std::set<torch::profiler::impl::ActivityType> a{torch::profiler::impl::ActivityType::CPU};
    if (gpu_)
      a.insert(torch::profiler::impl::ActivityType::CUDA);
    return a;
  }
#endif
  std::string path_;
  bool gpu_;
  std::chrono::steady_clock::time_point started_;
};

} // namespace

int64_t attention_pairs(const dalle_config& c, const std::string& type) {
  // The (query, key) pairs the layer's mask allows (dalle_impl's masks),
  // counted per query: the work attention needs, not what a kernel may waste.
  int64_t t = c.text_len(), side = c.image_fmap_size, n = c.seq_len();
  int64_t half = (c.conv_kernel_size - 1) / 2, d = c.conv_dilation, pairs = 0;
  for (int64_t q = 0; q < n; ++q) {
    if (q < t || type == "full") {
      pairs += q + 1;
      continue;
    }
    int64_t cell = q - t, row = cell / side, col = cell % side, seen = 0;
    if (type == "axial_row")
      seen = col + 1;
    else if (type == "axial_col")
      seen = row + 1;
    else // conv_like: the causal part of the window, inside the grid
      for (int64_t dr = -half; dr <= half; ++dr)
        for (int64_t dc = -half; dc <= half; ++dc) {
          int64_t r = row + dr * d, k = col + dc * d;
          seen += r >= 0 && k >= 0 && k < side && r * side + k <= cell;
        }
    pairs += t + seen;
  }
  return pairs;
}

double model_flops_per_sample(const dalle_config& c) {
  double n = static_cast<double>(c.seq_len());
  double dim = static_cast<double>(c.dim), inner = static_cast<double>(c.heads * c.dim_head);
  double mult = static_cast<double>(c.ff_mult);
  double weights_per_layer = dim * 3 * inner + inner * dim + dim * 2 * mult * dim + mult * dim * dim;
  double forward = 0;
  for (const auto& type : c.attn_types) // q·kᵀ and the weights' product with v, per allowed pair
    forward += 2 * n * weights_per_layer + 2 * 2 * inner * static_cast<double>(attention_pairs(c, type));
  // Each part's logits over its own vocabulary (the rest are masked).
  forward += 2 * dim *
             static_cast<double>(c.text_seq_len * c.total_text_tokens() + c.image_seq_len() * c.num_image_tokens);
  return 3 * forward;
}

result<double> measure_matmul_tflops(const std::string& device_spec) {
  auto device = select_device(device_spec);
  if (!device)
    return failure{device.error()};
  bool gpu = device->is_cuda();
  int64_t n = gpu ? 8192 : 2048, repeat = gpu ? 20 : 3;
  auto options = torch::TensorOptions().device(*device).dtype(gpu ? torch::kBFloat16 : torch::kFloat);
  try {
    torch::NoGradGuard no_grad;
    auto a = torch::randn({n, n}, options), b = torch::randn({n, n}, options);
    auto c = torch::matmul(a, b); // warm-up: library initialization, kernel choice
    synchronize(*device);
    auto t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < repeat; ++i)
      c = torch::matmul(a, b);
    synchronize(*device);
    double seconds = since(t0) / 1000.0;
    return 2.0 * n * n * n * repeat / seconds / 1e12;
  } catch (const c10::Error& e) {
    return failure{"matmul baseline on " + device->str() + ": " + e.what_without_backtrace()};
  }
}

result<train_step_measurement> measure_train_step(const std::string& config_path, int64_t batch, int64_t steps,
                                                  bool recompute, const std::string& device_spec, int64_t accumulate,
                                                  const std::string& profile_path, bool graph, bool kernels,
                                                  bool structured_attention) {
  auto prepared = prepare(config_path, device_spec);
  if (!prepared)
    return failure{prepared.error()};
  const auto& cfg = prepared->config;
  const auto& device = prepared->device;
  bool gpu = device.is_cuda();
  const auto* tr = gpu ? nullptr : &tracker();
  const auto& c = cfg.model;
  train_step_measurement m;
  m.device = describe_device(device);
  try {
    torch::manual_seed(0);
    dalle model(c);
    model->to(device);
    model->set_recompute(recompute);
    model->set_fast_paths({kernels, structured_attention});
    lamb optimizer(model->trainable_tensors(), cfg.train); // its state is made on the parameters' device
    auto ids = torch::TensorOptions().dtype(torch::kLong).device(device);
    auto text = torch::randint(1, c.num_text_tokens, {batch, c.text_seq_len}, ids);
    auto image = torch::randint(0, c.num_image_tokens, {batch, c.image_seq_len()}, ids);
    int64_t peak_bytes = 0;
    double wall_ms = 0;
    accumulate = std::max<int64_t>(1, accumulate);
    auto parameters = model->parameters();
    graphed_step micro_step(
        [&](const torch::Tensor& t, const torch::Tensor& i) {
          autocast_scope bf16(device); // forward and the recomputing backward alike
          auto loss = model->loss(t, i).loss;
          loss.backward();
          return loss.detach();
        },
        device, graph ? 2 : std::numeric_limits<int64_t>::max());
    for (int64_t s = 0; s <= steps; ++s) {
      std::unique_ptr<step_profiler> profiler;
      if (!profile_path.empty() && s == steps) { // the last step, warm
        profiler = std::make_unique<step_profiler>(profile_path, gpu);
        if (auto started = profiler->start(); !started)
          return failure{started.error()};
      }
      bool timed = s > 0 || steps == 0; // the first step also allocates gradients and state
      if (timed && (s == 1 || steps == 0))
        reset_gpu_peak(device);
      zero_gradients(parameters); // in place: a captured step writes to these tensors
      int64_t base = 0;
      if (tr) {
        tr->reset_peak();
        base = tr->current();
      }
      auto start = std::chrono::steady_clock::now();
      auto t0 = start;
      double f = 0, b = 0;
      for (int64_t micro = 0; micro < accumulate; ++micro) { // gradients add up, as in the trainer
        if (graph) { // forward and backward are one graph: forward_ms covers both
          micro_step.run(text, image);
          synchronize(device);
          f += since(t0);
          t0 = std::chrono::steady_clock::now();
          continue;
        }
        autocast_scope bf16(device); // forward and the recomputing backward alike
        auto loss = model->loss(text, image).loss;
        synchronize(device);
        f += since(t0);
        t0 = std::chrono::steady_clock::now();
        loss.backward();
        synchronize(device);
        b += since(t0);
        t0 = std::chrono::steady_clock::now();
      }
      t0 = std::chrono::steady_clock::now();
      optimizer.step(1e-4);
      synchronize(device);
      double o = since(t0);
      if (tr)
        peak_bytes = std::max(peak_bytes, tr->peak() - base);
      if (timed) {
        m.forward_ms += f;
        m.backward_ms += b;
        m.step_ms += o;
        wall_ms += since(start);
      }
      if (steps > 1)
        std::fprintf(stderr, "  %s step %lld/%lld: %.0f ms\n", c.name.c_str(), static_cast<long long>(s),
                     static_cast<long long>(steps), since(start));
      if (profiler) {
        auto summary = profiler->stop();
        if (!summary)
          return failure{summary.error()};
        std::fprintf(stderr, "  profile of the last step: %s (kernels by time: %s)\n", profile_path.c_str(),
                     summary->c_str());
      }
    }
    if (gpu) // a graph's activations live in its pool, outside the allocated peak
      peak_bytes = graph ? std::max(gpu_peak_bytes(device), gpu_reserved_bytes(device)) : gpu_peak_bytes(device);
    double n = static_cast<double>(std::max<int64_t>(1, steps));
    m.forward_ms /= n;
    m.backward_ms /= n;
    m.step_ms /= n;
    m.samples_per_second = static_cast<double>(batch * accumulate) / (wall_ms / n / 1000.0);
    m.tokens_per_second = m.samples_per_second * static_cast<double>(c.seq_len());
    m.model_tflops = model_flops_per_sample(c) * m.samples_per_second / 1e12;
    m.peak_mib = peak_bytes / 1048576.0;
  } catch (const c10::Error& e) {
    return failure{c.name + " batch " + std::to_string(batch) + " on " + m.device + ": " +
                   e.what_without_backtrace()};
  } catch (const std::exception& e) {
    return failure{c.name + " batch " + std::to_string(batch) + " on " + m.device + ": " + e.what()};
  }
  return m;
}

namespace {

struct one_step {
  double loss = 0;
  torch::Tensor gradients, parameters; // flattened, fp32, on the CPU
};

one_step step_once(const config_file& cfg, const torch::Device& device, bool bf16, int64_t batch) {
  const auto& c = cfg.model;
  torch::manual_seed(0);
  dalle model(c);
  model->to(device);
  auto named = model->trainable_tensors();
  lamb optimizer(named, cfg.train);
  auto gen = at::detail::createCPUGenerator(7);
  auto text = torch::randint(1, c.num_text_tokens, {batch, c.text_seq_len}, gen, torch::kLong);
  auto image = torch::randint(0, c.num_image_tokens, {batch, c.image_seq_len()}, gen, torch::kLong);
  one_step r;
  {
    autocast_scope scope(device, bf16);
    auto loss = model->loss(text.to(device), image.to(device)).loss;
    loss.backward();
    r.loss = loss.item<double>();
  }
  std::vector<torch::Tensor> grads, params;
  for (auto& [name, p] : named)
    grads.push_back(p.grad().detach().to(torch::kCPU, torch::kFloat).flatten());
  optimizer.step(1e-3);
  for (auto& [name, p] : named)
    params.push_back(p.detach().to(torch::kCPU, torch::kFloat).flatten());
  r.gradients = torch::cat(grads);
  r.parameters = torch::cat(params);
  return r;
}

double relative(const torch::Tensor& a, const torch::Tensor& reference) {
  return (a - reference).norm().item<double>() / reference.norm().item<double>();
}

} // namespace

result<device_comparison> compare_with_cpu(const std::string& config_path, const std::string& device_spec, bool bf16,
                                           int64_t batch) {
  auto prepared = prepare(config_path, device_spec);
  if (!prepared)
    return failure{prepared.error()};
  const auto& cfg = prepared->config;
  const auto& device = prepared->device;
  try {
    auto cpu = step_once(cfg, torch::kCPU, false, batch), dev = step_once(cfg, device, bf16, batch);
    device_comparison d;
    d.cpu_loss = cpu.loss;
    d.device_loss = dev.loss;
    auto g = dev.gradients, h = cpu.gradients;
    d.gradient_cosine = (g * h).sum().item<double>() / (g.norm().item<double>() * h.norm().item<double>());
    d.gradient_relative = relative(g, h);
    d.parameters_relative = relative(dev.parameters, cpu.parameters);
    return d;
  } catch (const std::exception& e) {
    return failure{"comparing " + device.str() + " with the CPU: " + e.what()};
  }
}

int run_train_benchmark(const std::vector<std::string>& args) {
  apps::flag_parser flags("ttt bench train --config FILE [--batch N] [--steps N] [--reversible both|on|off] "
                          "[--device auto|cpu|cuda[:N]]",
                          {{"config", "FILE", "model config (.ini)"},
                           {"batch", "N", "samples per step (default: the config's micro_batch_size)"},
                           {"steps", "N", "timed steps after one warm-up step (default 5)"},
                           {"reversible", "MODE", "on: recompute activations in backward; off: keep them; both (default)"},
                           {"threads", "N", "libtorch threads (default: libtorch's choice)"},
                           {"device", "D", "auto (default), cpu, cuda or cuda:N; a GPU trains in bf16 autocast"},
                           {"peak-tflops", "X", "the device's peak TFLOP/s for MFU (default: known GPUs' bf16 peak)"},
                           {"compare-cpu", "", "first check one step on the device against the CPU (fp32 and bf16)"},
                           {"accumulate", "N", "micro-batches of --batch per optimizer step (default 1)"},
                           {"profile", "FILE", "profile the last step: a trace to FILE, kernels by time to FILE.txt"},
                           {"graph", "", "GPU: capture the micro-step as a CUDA graph and replay it"},
                           {"kernels", "on|off", "GPU: ttt's own CUDA kernels where built (default on)"},
                           {"attention", "MODE", "structured (default): axial layers as text + own line; "
                                                 "per-line (GPU) / masked (CPU): the plainer form, to compare"}});
  if (int rc = flags.parse_or_exit(args, "ttt bench train"); rc >= 0)
    return rc;
  if (!flags.has("config")) {
    std::fprintf(stderr, "ttt bench train: --config FILE is required\n");
    return 2;
  }
  auto cfg = load_config(*flags.value("config"));
  if (!cfg) {
    std::fprintf(stderr, "ttt bench train: %s\n", cfg.error().c_str());
    return 1;
  }
  auto batch = flags.integer("batch", cfg->train.micro_batch_size), steps = flags.integer("steps", 5),
       threads = flags.integer("threads", 0), accumulate = flags.integer("accumulate", 1);
  auto peak_flag = flags.real("peak-tflops", 0);
  std::string mode = flags.value_or("reversible", "both");
  std::string device_spec = flags.value_or("device", "auto");
  std::string kernels = flags.value_or("kernels", "on"), attention = flags.value_or("attention", "structured");
  if (!batch || !steps || !threads || !peak_flag || !accumulate || *batch < 1 || *steps < 0 || *peak_flag < 0 ||
      *accumulate < 1 || (mode != "both" && mode != "on" && mode != "off") || (kernels != "on" && kernels != "off") ||
      (attention != "structured" && attention != "per-line" && attention != "masked")) {
    std::fprintf(stderr, "ttt bench train: %s\n",
                 flags.error().empty() ? "--batch ≥ 1, --steps ≥ 0, --accumulate ≥ 1, --reversible both|on|off, "
                                         "--peak-tflops ≥ 0, --kernels on|off, --attention structured|per-line|masked"
                                       : flags.error().c_str());
    return 2;
  }
  auto device = select_device(device_spec);
  if (!device) {
    std::fprintf(stderr, "ttt bench train: %s\n", device.error().c_str());
    return 2;
  }
  if (*threads > 0)
    torch::set_num_threads(static_cast<int>(*threads));
  std::string device_name = describe_device(*device);
  if (flags.has("compare-cpu")) {
    for (bool bf16 : {false, true}) {
      if (bf16 && !device->is_cuda())
        continue; // the CPU computes in fp32 only
      auto d = compare_with_cpu(*flags.value("config"), device->str(), bf16);
      if (!d) {
        std::fprintf(stderr, "ttt bench train: %s\n", d.error().c_str());
        return 1;
      }
      std::printf("bench train compare config=%s device=\"%s\" precision=%s cpu_loss=%.6f device_loss=%.6f "
                  "gradient_cosine=%.6f gradient_relative=%.2e parameters_relative_after_step=%.2e\n",
                  cfg->model.name.c_str(), device_name.c_str(), bf16 && device->is_cuda() ? "bf16-autocast" : "fp32",
                  d->cpu_loss, d->device_loss, d->gradient_cosine, d->gradient_relative, d->parameters_relative);
      std::fflush(stdout);
    }
  }
  double peak = *peak_flag > 0 ? *peak_flag : known_peak_tflops(device_name);
  // The reachable peak, measured in the same run.
  auto baseline = measure_matmul_tflops(device->str());
  if (!baseline) {
    std::fprintf(stderr, "ttt bench train: %s\n", baseline.error().c_str());
    return 1;
  }
  std::vector<bool> modes;
  if (mode != "off")
    modes.push_back(true);
  if (mode != "on")
    modes.push_back(false);
  int rc = 0;
  for (bool recompute : modes) {
    std::string profile = flags.value_or("profile", "");
    if (!profile.empty() && modes.size() > 1)
      profile += recompute ? ".recompute" : ".kept";
    bool graph = flags.has("graph") && device->is_cuda();
    auto m = measure_train_step(*flags.value("config"), *batch, *steps, recompute, device->str(), *accumulate, profile,
                                graph, kernels == "on", attention == "structured");
    if (!m) {
      // E.g. out of GPU memory without recomputation: say so, go on with the other mode.
      std::fprintf(stderr, "ttt bench train: %s\n", m.error().c_str());
      rc = 1;
      continue;
    }
    bool kernels_used = kernels == "on" && fused_supported(torch::zeros({1}, torch::TensorOptions().device(*device)));
    char mfu[96] = "mfu=unknown(no --peak-tflops)";
    if (peak > 0)
      std::snprintf(mfu, sizeof mfu, "mfu=%.1f%% peak_tflops=%.1f", 100.0 * m->model_tflops / peak, peak);
    std::printf("bench train config=%s device=\"%s\" precision=%s reversible=%s batch=%lld accumulate=%lld "
                "steps=%lld threads=%d attention=%s graph=%s kernels=%s "
                "forward_ms=%.1f backward_ms=%.1f step_ms=%.1f samples_per_s=%.2f tokens_per_s=%.0f "
                "peak_step_mib=%.1f model_tflop_per_sample=%.4g model_tflops=%.2f %s "
                "baseline_matmul_tflops=%.1f of_baseline=%.1f%%\n",
                cfg->model.name.c_str(), m->device.c_str(), device->is_cuda() ? "bf16-autocast" : "fp32",
                recompute ? "on" : "off", static_cast<long long>(*batch), static_cast<long long>(*accumulate),
                static_cast<long long>(*steps), torch::get_num_threads(),
                attention_kernels(cfg->model, *batch, *device, attention == "structured", kernels == "on").c_str(),
                graph ? "on" : "off", kernels_used ? "ttt" : "libtorch", m->forward_ms, m->backward_ms, m->step_ms,
                m->samples_per_second,
                m->tokens_per_second, m->peak_mib, model_flops_per_sample(cfg->model) / 1e12, m->model_tflops, mfu,
                *baseline, 100.0 * m->model_tflops / *baseline);
    std::fflush(stdout);
  }
  return rc;
}

} // namespace ttt::model
