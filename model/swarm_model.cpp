#include "model/swarm_model.hpp"

#include "model/adamw.hpp"
#include "model/batch.hpp"
#include "model/dalle.hpp"
#include "model/lamb.hpp"
#include "model/safetensors.hpp"
#include "model/shards.hpp"

namespace ttt::model {

namespace {

class swarm_model : public trainer::local_model {
public:
  swarm_model(dalle model, train_config t, dalle_config c, std::vector<std::string> shards,
              const swarm_model_options& o)
    : model_(std::move(model)), t_(t), c_(std::move(c)), data_dir_(o.data_dir),
      stream_(std::move(shards), 4096, seed_from_peer_id(o.peer_id), true),
      optimizer_(named_trainable(), t_), inner_settings_(o.inner) {
    for (auto& s : optimizer_.slots())
      params_.push_back(s.param);
    model_->zero_grad();
  }

  trainer::micro_batch accumulate() override {
    trainer::micro_batch out;
    std::vector<sample> samples;
    while (static_cast<int64_t>(samples.size()) < t_.micro_batch_size) {
      auto s = stream_.next();
      if (!s) {
        out.error = s.error();
        return out;
      }
      if (!*s) {
        out.error = "data '" + data_dir_ + "': no sample passes the filters";
        return out;
      }
      samples.push_back(std::move(**s));
    }
    auto b = to_batch(samples, c_, data_dir_);
    if (!b) {
      out.error = b.error();
      return out;
    }
    auto losses = model_->loss(b->text, b->image);
    // Summed over samples; gradients() divides by the count, so the result is
    // the mean gradient however many micro-batches an epoch took.
    (losses.loss * static_cast<double>(samples.size())).backward();
    out.loss = losses.loss.item<double>();
    out.samples = samples.size();
    accumulated_ += out.samples;
    return out;
  }

  std::vector<float> gradients() const override {
    std::vector<float> flat;
    flat.reserve(total_size());
    double scale = accumulated_ > 0 ? 1.0 / static_cast<double>(accumulated_) : 0.0;
    for (const auto& p : params_) {
      auto g = p.grad().defined() ? (p.grad() * scale).contiguous().to(torch::kFloat).flatten()
                                  : torch::zeros({p.numel()});
      auto data = g.data_ptr<float>();
      flat.insert(flat.end(), data, data + g.numel());
    }
    return flat;
  }

  void step(const std::vector<float>& mean_gradients) override {
    {
      torch::NoGradGuard no_grad;
      size_t offset = 0;
      for (auto& p : params_) {
        auto n = static_cast<size_t>(p.numel());
        auto g = torch::from_blob(const_cast<float*>(mean_gradients.data() + offset),
                                  p.sizes(), torch::kFloat);
        if (!p.grad().defined())
          p.mutable_grad() = torch::zeros_like(p);
        p.mutable_grad().copy_(g);
        offset += n;
      }
    }
    // LAMB clips the global norm (4.0) first: after averaging, as in 2021.
    optimizer_.step(optimizer_.learning_rate(step_));
    ++step_;
    model_->zero_grad();
    accumulated_ = 0;
  }

  std::vector<float> parameters() const override {
    std::vector<float> flat;
    flat.reserve(total_size());
    for (const auto& p : params_) {
      auto v = p.detach().contiguous().flatten();
      flat.insert(flat.end(), v.data_ptr<float>(), v.data_ptr<float>() + v.numel());
    }
    return flat;
  }

  void inner_step() override {
    if (!inner_)
      inner_ = std::make_unique<adamw>(named_trainable(), inner_settings_);
    {
      // Summed over samples in accumulate(): the mean gradient, as step() uses.
      torch::NoGradGuard no_grad;
      double scale = accumulated_ > 0 ? 1.0 / static_cast<double>(accumulated_) : 0.0;
      for (auto& p : params_)
        if (p.grad().defined())
          p.mutable_grad().mul_(scale);
    }
    inner_->step();
    model_->zero_grad();
    accumulated_ = 0;
  }

  void set_parameters(const std::vector<float>& values) override {
    torch::NoGradGuard no_grad;
    size_t offset = 0;
    for (auto& p : params_) {
      auto n = static_cast<size_t>(p.numel());
      if (offset + n > values.size())
        throw std::invalid_argument("set_parameters: too few values");
      p.copy_(torch::from_blob(const_cast<float*>(values.data() + offset), p.sizes(), torch::kFloat));
      offset += n;
    }
    if (offset != values.size())
      throw std::invalid_argument("set_parameters: too many values");
  }

private:
  std::vector<std::pair<std::string, torch::Tensor>> named_trainable() const {
    std::vector<std::pair<std::string, torch::Tensor>> named;
    for (const auto& nt : model_->named_tensors())
      if (nt.trainable)
        named.emplace_back(nt.names[0], nt.tensor);
    return named;
  }

  size_t total_size() const {
    size_t n = 0;
    for (const auto& p : params_)
      n += static_cast<size_t>(p.numel());
    return n;
  }

  dalle model_;
  train_config t_;
  dalle_config c_;
  std::string data_dir_;
  sample_stream stream_;
  lamb optimizer_;
  std::vector<torch::Tensor> params_; ///< in the optimizer's order: the flat layout
  adamw_settings inner_settings_;
  std::unique_ptr<adamw> inner_; ///< created by the first inner_step (DiLoCo only)
  uint64_t accumulated_ = 0;
  int64_t step_ = 0;
};

} // namespace

result<std::shared_ptr<trainer::local_model>> make_swarm_model(const swarm_model_options& o) {
  auto cfg = load_config(o.config);
  if (!cfg)
    return failure{cfg.error()};
  auto shards = list_shards(o.data_dir, "train");
  if (shards.empty())
    return failure{"data directory '" + o.data_dir +
                   "' holds no train-*.shard files (make some with ttt data shapes)"};
  torch::manual_seed(o.init_seed);
  dalle model(cfg->model);
  if (!o.weights.empty()) {
    auto st = load_weights_file(*model, o.weights);
    if (!st)
      return failure{st.error()};
  }
  model->train();
  return std::shared_ptr<trainer::local_model>(
    std::make_shared<swarm_model>(std::move(model), cfg->train, cfg->model, std::move(shards), o));
}

} // namespace ttt::model
