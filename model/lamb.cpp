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

double lamb::step(double lr, const std::vector<torch::Tensor>* gradients) {
  // Every per-tensor operation runs as one multi-tensor (_foreach) kernel
  // over all parameters, rather than a dozen launches per tensor. The host
  // reads two things per step: the global gradient norm, which makes the
  // clip factor a number, and the trust ratios, which scale each update.
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> params, grads, avgs, avg_sqs;
  std::vector<size_t> decayed; // positions in the lists above
  for (size_t i = 0; i < slots_.size(); ++i) {
    auto& s = slots_[i];
    auto grad = gradients != nullptr ? gradients->at(i) : s.param.grad();
    if (!grad.defined())
      continue;
    if (s.weight_decay != 0)
      decayed.push_back(params.size());
    params.push_back(s.param);
    grads.push_back(grad);
    avgs.push_back(s.exp_avg);
    avg_sqs.push_back(s.exp_avg_sq);
  }
  if (params.empty())
    return 0.0;
  double norm = torch::stack(at::_foreach_norm(grads)).to(torch::kDouble).pow(2).sum().sqrt().item<double>();
  // min(1, max_norm / (norm + 1e-6)): gradients are scaled only when above the norm.
  double clip = std::min(1.0, config_.max_grad_norm / (norm + 1e-6));
  at::_foreach_mul_(avgs, config_.beta1);
  at::_foreach_add_(avgs, grads, (1 - config_.beta1) * clip);
  at::_foreach_mul_(avg_sqs, config_.beta2);
  at::_foreach_addcmul_(avg_sqs, grads, grads, (1 - config_.beta2) * clip * clip);
  // No bias correction (debias=False), as in the 2021 run.
  auto updates = at::_foreach_sqrt(avg_sqs);
  at::_foreach_add_(updates, config_.eps);
  updates = at::_foreach_div(avgs, updates);
  if (!decayed.empty()) {
    std::vector<torch::Tensor> decayed_updates, decayed_params;
    for (size_t i : decayed) {
      decayed_updates.push_back(updates[i]);
      decayed_params.push_back(params[i]);
    }
    at::_foreach_add_(decayed_updates, decayed_params, config_.weight_decay);
  }
  auto weight_norms = torch::stack(at::_foreach_norm(params)).clamp_max(config_.clamp_value);
  auto update_norms = torch::stack(at::_foreach_norm(updates));
  auto degenerate = (weight_norms == 0).logical_or(update_norms == 0);
  auto trust = torch::where(degenerate, torch::ones_like(weight_norms), weight_norms / update_norms)
                   .to(torch::kCPU, torch::kDouble)
                   .contiguous();
  std::vector<at::Scalar> factors;
  const double* t = trust.data_ptr<double>();
  for (size_t i = 0; i < params.size(); ++i)
    factors.emplace_back(-lr * t[i]);
  at::_foreach_mul_(updates, factors);
  at::_foreach_add_(params, updates);
  return norm;
}

} // namespace ttt::model
