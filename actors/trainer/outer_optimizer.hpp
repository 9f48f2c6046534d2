#pragma once
// DiLoCo's outer optimizer as pure math over flat float vectors (no CAF, no
// torch): SGD with Nesterov momentum applied to the pseudo-gradient
// θ_start − θ_local, as torch.optim.SGD(lr, momentum, nesterov=True) with no
// dampening and no weight decay, which is what DiLoCo uses (lr 0.7, momentum 0.9).
// Every peer of a group gets the same averaged pseudo-gradient and holds the
// same θ_start and momentum, so every peer computes the same new parameters,
// bit for bit: the arithmetic below runs in one fixed order per element.

#include <cstdint>
#include <vector>

namespace ttt::trainer {

struct outer_settings {
  double learning_rate = 0.7;
  double momentum = 0.9;
  bool nesterov = true; ///< false: heavy-ball momentum (update = v)
};

/// θ_start − θ_local, element by element (the sizes must match).
std::vector<float> pseudo_gradient(const std::vector<float>& start, const std::vector<float>& local);

class outer_optimizer {
public:
  explicit outer_optimizer(outer_settings settings = {}) : settings_(settings) {}

  /// One outer step from `start` with the (averaged) pseudo-gradient `g`:
  ///   v ← μ·v + g;  update = g + μ·v (Nesterov) or v;  θ = start − lr·update.
  /// The momentum v starts at zero, so the first step is v = g, as in torch.
  /// Returns θ; `start` and `g` must have the same size on every call.
  std::vector<float> step(const std::vector<float>& start, const std::vector<float>& g);

  /// The momentum buffer v (empty before the first step).
  const std::vector<float>& momentum() const { return momentum_; }
  uint64_t steps() const { return steps_; }
  const outer_settings& settings() const { return settings_; }

private:
  outer_settings settings_;
  std::vector<float> momentum_;
  uint64_t steps_ = 0;
};

} // namespace ttt::trainer
