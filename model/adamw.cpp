#include "model/adamw.hpp"

#include <algorithm>
#include <cmath>

namespace ttt::model {

adamw::adamw(std::vector<std::pair<std::string, torch::Tensor>> named_params, adamw_settings settings)
    : settings_(settings) {
  for (auto& [name, p] : named_params) {
    bool bias = name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0;
    slots_.push_back({p, torch::zeros_like(p), torch::zeros_like(p), bias ? 0.0 : settings.weight_decay});
  }
}

double adamw::learning_rate(int64_t step) const {
  double lr = settings_.learning_rate;
  if (settings_.warmup_steps > 0)
    lr *= std::min(1.0, static_cast<double>(step) / static_cast<double>(settings_.warmup_steps));
  if (settings_.total_steps > settings_.warmup_steps && step > settings_.warmup_steps)
    lr *= std::max(0.0, static_cast<double>(settings_.total_steps - step) /
                          static_cast<double>(settings_.total_steps - settings_.warmup_steps));
  return lr;
}

double adamw::step() {
  torch::NoGradGuard no_grad;
  double total_sq = 0;
  for (auto& s : slots_)
    if (s.param.grad().defined())
      total_sq += s.param.grad().pow(2).sum().item<double>();
  double norm = std::sqrt(total_sq);
  double clip = settings_.max_grad_norm > 0 ? settings_.max_grad_norm / (norm + 1e-6) : 1.0;
  ++step_;
  double lr = learning_rate(step_);
  double correction1 = 1 - std::pow(settings_.beta1, static_cast<double>(step_));
  double correction2 = 1 - std::pow(settings_.beta2, static_cast<double>(step_));
  for (auto& s : slots_) {
    auto grad = s.param.grad();
    if (!grad.defined())
      continue;
    if (clip < 1)
      grad = grad * clip;
    if (s.weight_decay != 0)
      s.param.mul_(1 - lr * s.weight_decay);
    s.exp_avg.mul_(settings_.beta1).add_(grad, 1 - settings_.beta1);
    s.exp_avg_sq.mul_(settings_.beta2).addcmul_(grad, grad, 1 - settings_.beta2);
    auto denom = (s.exp_avg_sq / correction2).sqrt_().add_(settings_.eps);
    s.param.addcdiv_(s.exp_avg, denom, -lr / correction1);
  }
  return norm;
}

} // namespace ttt::model
