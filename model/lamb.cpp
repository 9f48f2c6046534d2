#include "model/lamb.hpp"

#include <algorithm>
#include <cmath>

namespace ttt::model {

lamb::lamb(std::vector<std::pair<std::string, torch::Tensor>> named_params, const train_config& config)
    : config_(config) {
  for (auto& [name, p] : named_params) {
    bool bias = name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0;
    slots_.push_back({name, p, torch::zeros_like(p), torch::zeros_like(p), bias ? 0.0 : config.weight_decay});
  }
}

double lamb::learning_rate(int64_t step) const {
  // transformers.get_linear_schedule_with_warmup, as the 2021 run's scheduler.
  double factor;
  if (step < config_.warmup_steps)
    factor = static_cast<double>(step) / std::max<int64_t>(1, config_.warmup_steps);
  else
    factor = std::max(0.0, static_cast<double>(config_.total_steps - step) /
                               std::max<int64_t>(1, config_.total_steps - config_.warmup_steps));
  return config_.learning_rate * factor;
}

double lamb::step(double lr) {
  // Written without reading values back to the host per tensor, so that on a
  // GPU the whole step is queued at once; the norm is read once at the end.
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> squares;
  for (auto& s : slots_)
    if (s.param.grad().defined())
      squares.push_back(s.param.grad().pow(2).sum().to(torch::kDouble));
  if (squares.empty())
    return 0.0;
  auto norm = torch::stack(squares).sum().sqrt();
  // min(1, max_norm / (norm + 1e-6)): gradients are scaled only when above the norm.
  auto clip = (config_.max_grad_norm / (norm + 1e-6)).clamp_max(1.0);
  for (auto& s : slots_) {
    auto grad = s.param.grad();
    if (!grad.defined())
      continue;
    grad = grad * clip.to(grad.scalar_type());
    s.exp_avg.mul_(config_.beta1).add_(grad, 1 - config_.beta1);
    s.exp_avg_sq.mul_(config_.beta2).addcmul_(grad, grad, 1 - config_.beta2);
    // No bias correction (debias=False), as in the 2021 run.
    auto update = s.exp_avg / (s.exp_avg_sq.sqrt() + config_.eps);
    if (s.weight_decay != 0)
      update.add_(s.param, s.weight_decay);
    auto weight_norm = s.param.norm().clamp_max(config_.clamp_value);
    auto update_norm = update.norm();
    auto degenerate = (weight_norm == 0).logical_or(update_norm == 0);
    auto trust = torch::where(degenerate, torch::ones_like(weight_norm), weight_norm / update_norm);
    s.param.add_(update * (trust * -lr));
  }
  return norm.item<double>();
}

} // namespace ttt::model
