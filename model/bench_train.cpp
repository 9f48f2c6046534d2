#include "model/bench_train.hpp"

#include "apps/flags.hpp"
#include "model/dalle.hpp"
#include "model/device.hpp"
#include "model/lamb.hpp"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>

namespace ttt::model {

namespace {

// Wraps the CPU allocator to count live bytes and their peak: libtorch 1.13
// keeps no CPU memory statistics, and a process's RSS never shrinks.
class tracking_allocator final : public c10::Allocator {
public:
  explicit tracking_allocator(c10::Allocator* base) : base_(base) {}

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
    auto* r = new record{std::move(inner), n, this};
    int64_t now = current_.fetch_add(static_cast<int64_t>(n)) + static_cast<int64_t>(n);
    int64_t seen = peak_.load();
    while (now > seen && !peak_.compare_exchange_weak(seen, now)) {
    }
    return {data, r, &release, device};
  }
  c10::DeleterFnPtr raw_deleter() const override { return nullptr; }

  void reset_peak() const { peak_.store(current_.load()); }
  int64_t current() const { return current_.load(); }
  int64_t peak() const { return peak_.load(); }

private:
  struct record {
    c10::DataPtr inner;
    size_t size;
    const tracking_allocator* owner;
  };
  static void release(void* ctx) {
    auto* r = static_cast<record*>(ctx);
    r->owner->current_.fetch_sub(static_cast<int64_t>(r->size));
    delete r; // frees the memory through the base allocator's deleter
  }

  c10::Allocator* base_;
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

} // namespace

double model_flops_per_sample(const dalle_config& c) {
  double n = static_cast<double>(c.seq_len());
  double dim = static_cast<double>(c.dim), inner = static_cast<double>(c.heads * c.dim_head);
  double mult = static_cast<double>(c.ff_mult);
  double weights_per_layer = dim * 3 * inner + inner * dim + dim * 2 * mult * dim + mult * dim * dim;
  double attention_pairs = n * (n + 1) / 2; // the causal half
  double per_layer = 2 * n * weights_per_layer + 2 * 2 * inner * attention_pairs;
  double logits = 2 * n * dim * static_cast<double>(c.total_tokens());
  return 3 * (static_cast<double>(c.depth) * per_layer + logits);
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
                                                  bool recompute, const std::string& device_spec) {
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
    lamb optimizer(model->trainable_tensors(), cfg.train); // its state is made on the parameters' device
    auto ids = torch::TensorOptions().dtype(torch::kLong).device(device);
    auto text = torch::randint(1, c.num_text_tokens, {batch, c.text_seq_len}, ids);
    auto image = torch::randint(0, c.num_image_tokens, {batch, c.image_seq_len()}, ids);
    int64_t peak_bytes = 0;
    double wall_ms = 0;
    for (int64_t s = 0; s <= steps; ++s) {
      bool timed = s > 0 || steps == 0; // the first step also allocates gradients and state
      if (timed && (s == 1 || steps == 0))
        reset_gpu_peak(device);
      model->zero_grad();
      int64_t base = 0;
      if (tr) {
        tr->reset_peak();
        base = tr->current();
      }
      auto start = std::chrono::steady_clock::now();
      auto t0 = start;
      torch::Tensor loss;
      double f, b;
      {
        autocast_scope bf16(device); // forward and the recomputing backward alike
        loss = model->loss(text, image).loss;
        synchronize(device);
        f = since(t0);
        t0 = std::chrono::steady_clock::now();
        loss.backward();
        synchronize(device);
        b = since(t0);
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
    }
    if (gpu)
      peak_bytes = gpu_peak_bytes(device);
    double n = static_cast<double>(std::max<int64_t>(1, steps));
    m.forward_ms /= n;
    m.backward_ms /= n;
    m.step_ms /= n;
    m.samples_per_second = batch / (wall_ms / n / 1000.0);
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
                           {"compare-cpu", "", "first check one step on the device against the CPU (fp32 and bf16)"}});
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
       threads = flags.integer("threads", 0);
  auto peak_flag = flags.real("peak-tflops", 0);
  std::string mode = flags.value_or("reversible", "both");
  std::string device_spec = flags.value_or("device", "auto");
  if (!batch || !steps || !threads || !peak_flag || *batch < 1 || *steps < 0 || *peak_flag < 0 ||
      (mode != "both" && mode != "on" && mode != "off")) {
    std::fprintf(stderr, "ttt bench train: %s\n",
                 flags.error().empty() ? "--batch ≥ 1, --steps ≥ 0, --reversible both|on|off, --peak-tflops ≥ 0"
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
    auto m = measure_train_step(*flags.value("config"), *batch, *steps, recompute, device->str());
    if (!m) {
      // E.g. out of GPU memory without recomputation: say so, go on with the other mode.
      std::fprintf(stderr, "ttt bench train: %s\n", m.error().c_str());
      rc = 1;
      continue;
    }
    char mfu[96] = "mfu=unknown(no --peak-tflops)";
    if (peak > 0)
      std::snprintf(mfu, sizeof mfu, "mfu=%.1f%% peak_tflops=%.1f", 100.0 * m->model_tflops / peak, peak);
    std::printf("bench train config=%s device=\"%s\" precision=%s reversible=%s batch=%lld steps=%lld threads=%d "
                "forward_ms=%.1f backward_ms=%.1f step_ms=%.1f samples_per_s=%.2f tokens_per_s=%.0f "
                "peak_step_mib=%.1f model_tflop_per_sample=%.4g model_tflops=%.2f %s "
                "baseline_matmul_tflops=%.1f of_baseline=%.1f%%\n",
                cfg->model.name.c_str(), m->device.c_str(), device->is_cuda() ? "bf16-autocast" : "fp32",
                recompute ? "on" : "off", static_cast<long long>(*batch), static_cast<long long>(*steps),
                torch::get_num_threads(), m->forward_ms, m->backward_ms, m->step_ms, m->samples_per_second,
                m->tokens_per_second, m->peak_mib, model_flops_per_sample(cfg->model) / 1e12, m->model_tflops, mfu,
                *baseline, 100.0 * m->model_tflops / *baseline);
    std::fflush(stdout);
  }
  return rc;
}

} // namespace ttt::model
