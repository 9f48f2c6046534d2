#include "apps/join_plan.hpp"

#include <algorithm>
#include <cstdio>

namespace ttt::apps {

namespace {

constexpr double float_bytes = 4;
/// Tensors a layer keeps per token and model dimension for its backward
/// (norms, projections, the feed-forward's wide hidden layer, residuals):
/// about 18 values of `dim` per token with ff_mult 4.
constexpr double kept_per_token_dim = 18;

double gib(double bytes) {
  return bytes / (1024.0 * 1024 * 1024);
}

} // namespace

double activation_bytes_per_sample(const model::dalle_config& m, bool keep) {
  double tokens = static_cast<double>(m.seq_len());
  double per_layer = tokens * static_cast<double>(m.dim) * kept_per_token_dim * float_bytes +
                     // attention weights: every head's scores and their softmax (an upper bound for
                     // the sparse and axial layers)
                     2 * static_cast<double>(m.heads) * tokens * tokens * float_bytes;
  double boundary = tokens * static_cast<double>(m.dim) * float_bytes * 2; // each layer's input and output
  return keep ? per_layer * static_cast<double>(m.depth) : per_layer + boundary * static_cast<double>(m.depth);
}

training_plan plan_training(const model::dalle_config& m, int64_t parameters, int64_t config_micro_batch,
                            int64_t memory_bytes, const std::string& device_description) {
  training_plan p;
  p.state_bytes = static_cast<double>(parameters) * float_bytes * 4;
  p.micro_batch = std::max<int64_t>(1, config_micro_batch);
  char text[320];
  if (memory_bytes <= 0) {
    p.activation_bytes = activation_bytes_per_sample(m, false) * static_cast<double>(p.micro_batch);
    std::snprintf(text, sizeof(text),
                  "hardware: %s, memory unknown: micro-batch %lld with activations recomputed (the config's)",
                  device_description.c_str(), static_cast<long long>(p.micro_batch));
    p.line = text;
    return p;
  }
  double budget = 0.7 * static_cast<double>(memory_bytes) - p.state_bytes;
  double kept = activation_bytes_per_sample(m, true) * static_cast<double>(p.micro_batch);
  if (kept <= budget) {
    p.keep_activations = true;
    p.activation_bytes = kept;
  } else {
    double per_sample = activation_bytes_per_sample(m, false);
    while (p.micro_batch > 1 && per_sample * static_cast<double>(p.micro_batch) > budget)
      p.micro_batch /= 2;
    p.activation_bytes = per_sample * static_cast<double>(p.micro_batch);
    p.fits = p.activation_bytes <= budget;
  }
  std::snprintf(text, sizeof(text),
                "hardware: %s, %.1f GiB to train in: micro-batch %lld with activations %s "
                "(about %.1f GiB; the model's state %.1f GiB)%s",
                device_description.c_str(), gib(static_cast<double>(memory_bytes)),
                static_cast<long long>(p.micro_batch), p.keep_activations ? "kept" : "recomputed",
                gib(p.activation_bytes), gib(p.state_bytes), p.fits ? "" : "; it may not fit: close other programs");
  p.line = text;
  return p;
}

} // namespace ttt::apps
