#include "actors/averager/centered_clip.hpp"

#include <algorithm>
#include <cmath>

namespace ttt::averaging {

namespace {

/// The median of `values` (reordered): the middle one, or the mean of the
/// two middle ones for an even count.
template <class T>
double median_of(std::vector<T>& values) {
  const size_t k = values.size();
  auto mid = values.begin() + static_cast<long>(k / 2);
  std::nth_element(values.begin(), mid, values.end());
  double upper = static_cast<double>(*mid);
  if (k % 2 == 1)
    return upper;
  double lower = static_cast<double>(*std::max_element(values.begin(), mid));
  return lower == upper ? upper : (lower + upper) / 2;
}

/// ||x_i - center|| for every input.
void distances(const std::vector<const float*>& inputs, const double* center, size_t length,
               std::vector<double>& out) {
  out.assign(inputs.size(), 0.0);
  for (size_t i = 0; i < inputs.size(); ++i) {
    const float* x = inputs[i];
    double sum = 0;
    for (size_t j = 0; j < length; ++j) {
      double d = static_cast<double>(x[j]) - center[j];
      sum += d * d;
    }
    out[i] = std::sqrt(sum);
  }
}

} // namespace

clip_outcome centered_clip(const std::vector<const float*>& inputs,
                           const std::vector<double>& weights, size_t length,
                           const clip_settings& settings, float* out, std::vector<double>& work) {
  clip_outcome outcome;
  const size_t k = inputs.size();
  outcome.clipped.assign(k, false);
  if (k == 0 || length == 0)
    return outcome;
  if (k == 1) {
    std::copy(inputs[0], inputs[0] + length, out);
    return outcome;
  }
  work.resize(2 * length);
  double* center = work.data();
  double* step = work.data() + length;
  std::vector<float> column(k);
  for (size_t j = 0; j < length; ++j) {
    for (size_t i = 0; i < k; ++i)
      column[i] = inputs[i][j];
    center[j] = median_of(column);
  }
  std::vector<double> dist;
  distances(inputs, center, length, dist);
  std::vector<double> sorted = dist;
  outcome.tau = settings.tau * median_of(sorted);
  double total_weight = 0;
  for (double w : weights)
    total_weight += w;
  std::vector<double> scale(k);
  for (uint32_t it = 0; it < settings.max_iterations; ++it) {
    for (size_t i = 0; i < k; ++i) {
      // A contribution at the center pulls nothing whatever its factor;
      // with tau = 0 (most contributions agree exactly) the others pull nothing.
      double factor = dist[i] <= outcome.tau ? 1.0 : outcome.tau / dist[i];
      outcome.clipped[i] = factor < 1.0;
      scale[i] = weights[i] * factor / total_weight;
    }
    std::fill(step, step + length, 0.0);
    for (size_t i = 0; i < k; ++i) {
      const float* x = inputs[i];
      const double s = scale[i];
      if (s == 0)
        continue;
      for (size_t j = 0; j < length; ++j)
        step[j] += s * (static_cast<double>(x[j]) - center[j]);
    }
    double moved = 0;
    for (size_t j = 0; j < length; ++j) {
      center[j] += step[j];
      moved += step[j] * step[j];
    }
    outcome.iterations = it + 1;
    if (std::sqrt(moved) <= 1e-6 * outcome.tau)
      break;
    distances(inputs, center, length, dist);
  }
  for (size_t j = 0; j < length; ++j)
    out[j] = static_cast<float>(center[j]);
  return outcome;
}

} // namespace ttt::averaging
