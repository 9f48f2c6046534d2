#include "actors/trainer/outer_optimizer.hpp"

#include <stdexcept>

namespace ttt::trainer {

std::vector<float> pseudo_gradient(const std::vector<float>& start, const std::vector<float>& local) {
  if (start.size() != local.size())
    throw std::invalid_argument("pseudo_gradient: parameter vectors of different sizes");
  std::vector<float> g(start.size());
  for (size_t i = 0; i < g.size(); ++i)
    g[i] = start[i] - local[i];
  return g;
}

std::vector<float> outer_optimizer::step(const std::vector<float>& start, const std::vector<float>& g) {
  if (start.size() != g.size() || (!momentum_.empty() && momentum_.size() != g.size()))
    throw std::invalid_argument("outer_optimizer::step: vectors of different sizes");
  if (momentum_.empty())
    momentum_.assign(g.size(), 0.0f);
  const double lr = settings_.learning_rate;
  const double mu = settings_.momentum;
  std::vector<float> next(start.size());
  for (size_t i = 0; i < g.size(); ++i) {
    // Intermediates in double, stored as float: the same rounding on every peer.
    momentum_[i] = static_cast<float>(mu * momentum_[i] + g[i]);
    double update = settings_.nesterov ? g[i] + mu * momentum_[i] : momentum_[i];
    next[i] = static_cast<float>(start[i] - lr * update);
  }
  ++steps_;
  return next;
}

} // namespace ttt::trainer
