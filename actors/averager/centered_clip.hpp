#pragma once
// CenteredClip ("Secure Distributed Training at Scale", Gorbunov et al.
// 2022), the robust aggregation a reducer may apply to one part instead of
// the weighted mean. Pure: no CAF, no clock.
//
// With contributions x_i and weights w_i (W = sum of w_i):
//   v_0     = the coordinate-wise median of the x_i, unweighted: weights are
//             claims, and an unweighted median stays inside the honest
//             values as long as fewer than half of the contributors lie,
//             whatever weight a liar claims;
//   tau     = clip_tau x the median of the distances ||x_i - v_0||;
//   v_{l+1} = v_l + sum_i w_i (x_i - v_l) min(1, tau / ||x_i - v_l||) / W,
// for at most `max_iterations` steps, stopping once a step moves v by less
// than 1e-6 tau. Each step is a convex combination of v_l and the x_i, so
// the result lies coordinate-wise between the smallest and largest
// contribution. However far a liar lies, its pull moves the result from the
// honest weighted mean by about (its weight / the honest weight) x tau, so
// weights must be bounded first (round_config::max_weight): one holding
// nearly all the weight could still drag the center by tau per iteration.
// Identical contributions give exactly that vector; unclipped ones give the
// weighted mean (up to rounding).

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ttt::averaging {

struct clip_settings {
  double tau = 2.0;              ///< relative radius: x the median distance to the median
  uint32_t max_iterations = 10;
};

struct clip_outcome {
  /// Per contribution: its difference from the center was cut in the last
  /// iteration (it lies farther than tau from the result).
  std::vector<bool> clipped;
  double tau = 0;          ///< the absolute radius used
  uint32_t iterations = 0; ///< steps taken
};

/// CenteredClip of `inputs` (each pointing at `length` floats) with
/// `weights` (finite, > 0), written to `out` (`length` floats). `work` is
/// scratch space, reused between calls to spare allocations.
clip_outcome centered_clip(const std::vector<const float*>& inputs,
                           const std::vector<double>& weights, size_t length,
                           const clip_settings& settings, float* out, std::vector<double>& work);

} // namespace ttt::averaging
