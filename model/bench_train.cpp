#include "model/bench_train.hpp"

#include "apps/flags.hpp"
#include "model/dalle.hpp"
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

double since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

} // namespace

result<train_step_measurement> measure_train_step(const std::string& config_path, int64_t batch, int64_t steps,
                                                  bool recompute) {
  auto cfg = load_config(config_path);
  if (!cfg)
    return failure{cfg.error()};
  const auto& tr = tracker();
  const auto& c = cfg->model;
  torch::manual_seed(0);
  dalle model(c);
  model->set_recompute(recompute);
  std::vector<std::pair<std::string, torch::Tensor>> named;
  for (const auto& nt : model->named_tensors())
    if (nt.trainable)
      named.emplace_back(nt.names[0], nt.tensor);
  lamb optimizer(named, cfg->train);
  auto text = torch::randint(1, c.num_text_tokens, {batch, c.text_seq_len}, torch::kLong);
  auto image = torch::randint(0, c.num_image_tokens, {batch, c.image_seq_len()}, torch::kLong);
  train_step_measurement m;
  int64_t peak_bytes = 0;
  for (int64_t s = 0; s <= steps; ++s) {
    model->zero_grad();
    tr.reset_peak();
    int64_t base = tr.current();
    auto t0 = std::chrono::steady_clock::now();
    auto loss = model->loss(text, image).loss;
    double f = since(t0);
    t0 = std::chrono::steady_clock::now();
    loss.backward();
    double b = since(t0);
    t0 = std::chrono::steady_clock::now();
    optimizer.step(1e-4);
    double o = since(t0);
    peak_bytes = std::max(peak_bytes, tr.peak() - base);
    // The first step also allocates the gradients: untimed unless it is the only one.
    if (s > 0 || steps == 0) {
      m.forward_ms += f;
      m.backward_ms += b;
      m.step_ms += o;
    }
  }
  double n = static_cast<double>(std::max<int64_t>(1, steps));
  m.forward_ms /= n;
  m.backward_ms /= n;
  m.step_ms /= n;
  m.samples_per_second = batch / ((m.forward_ms + m.backward_ms + m.step_ms) / 1000.0);
  m.peak_mib = peak_bytes / 1048576.0;
  return m;
}

int run_train_benchmark(const std::vector<std::string>& args) {
  apps::flag_parser flags("ttt bench train --config FILE [--batch N] [--steps N] [--reversible both|on|off]",
                          {{"config", "FILE", "model config (.ini)"},
                           {"batch", "N", "samples per step (default: the config's micro_batch_size)"},
                           {"steps", "N", "timed steps after one warm-up step (default 5)"},
                           {"reversible", "MODE", "on: recompute activations in backward; off: keep them; both (default)"},
                           {"threads", "N", "libtorch threads (default: libtorch's choice)"}});
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
  std::string mode = flags.value_or("reversible", "both");
  if (!batch || !steps || !threads || *batch < 1 || *steps < 0 ||
      (mode != "both" && mode != "on" && mode != "off")) {
    std::fprintf(stderr, "ttt bench train: %s\n",
                 flags.error().empty() ? "--batch ≥ 1, --steps ≥ 0, --reversible both|on|off" : flags.error().c_str());
    return 2;
  }
  if (*threads > 0)
    torch::set_num_threads(static_cast<int>(*threads));
  std::vector<bool> modes;
  if (mode != "off")
    modes.push_back(true);
  if (mode != "on")
    modes.push_back(false);
  for (bool recompute : modes) {
    auto m = measure_train_step(*flags.value("config"), *batch, *steps, recompute);
    if (!m) {
      std::fprintf(stderr, "ttt bench train: %s\n", m.error().c_str());
      return 1;
    }
    std::printf("bench train config=%s reversible=%s batch=%lld steps=%lld threads=%d forward_ms=%.1f backward_ms=%.1f "
                "step_ms=%.1f samples_per_s=%.2f peak_step_mib=%.1f\n",
                cfg->model.name.c_str(), recompute ? "on" : "off", static_cast<long long>(*batch),
                static_cast<long long>(*steps), torch::get_num_threads(), m->forward_ms, m->backward_ms, m->step_ms,
                m->samples_per_second, m->peak_mib);
    std::fflush(stdout);
  }
  return 0;
}

} // namespace ttt::model
