#include "model/swarm_model.hpp"

#include "model/adamw.hpp"
#include "model/batch.hpp"
#include "model/dalle.hpp"
#include "model/device.hpp"
#include "model/image_coder.hpp"

#include "model/lamb.hpp"
#include "model/loading.hpp"
#include "model/safetensors.hpp"
#include "model/shards.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

namespace ttt::model {

namespace {

class swarm_model : public trainer::local_model {
public:
  swarm_model(dalle model, train_config t, dalle_config c, std::vector<std::string> shards,
              const swarm_model_options& o)
    : model_(std::move(model)), t_(t), c_(std::move(c)), data_dir_(o.data_dir),
      shards_(shards), peer_id_(o.peer_id),
      stream_(std::move(shards), 4096, seed_from_peer_id(o.peer_id), true),
      optimizer_(named_trainable(), t_), inner_settings_(o.inner) {
    if (auto text = read_file(o.config))
      config_text_ = *text;
    for (auto& s : optimizer_.slots())
      params_.push_back(s.param);
    zero_gradients(params_);
    // On a GPU the micro-step is captured once as a CUDA graph (after two
    // eager ones) and replayed; elsewhere, or with cuda_graph off, it runs eagerly.
    auto device = device_of();
    micro_step_ = std::make_unique<graphed_step>(
        [this, device](const torch::Tensor& text, const torch::Tensor& image) {
          autocast_scope bf16(device); // the forward and the recomputing backward
          auto loss = model_->loss(text, image).loss;
          // Summed over samples; gradients() divides by the count, so the result
          // is the mean gradient however many micro-batches an epoch took.
          (loss * static_cast<double>(t_.micro_batch_size)).backward();
          return loss.detach();
        },
        device, o.cuda_graph ? 2 : std::numeric_limits<int64_t>::max());
    cuda_graph_ = o.cuda_graph && graphed_step::available();
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
    auto device = device_of();
    auto text = b->text.to(device, /*non_blocking=*/true), image = b->image.to(device, /*non_blocking=*/true);
    auto loss = micro_step_->run(text, image);
    // The loss stays on the device, summed, until the trainer settles it:
    // nothing here waits for the GPU, which runs ahead of the host.
    pending_loss_ = pending_loss_.defined() ? pending_loss_ + loss : loss.clone();
    out.samples = samples.size();
    accumulated_ += out.samples;
    return out;
  }

  double settle_losses() override {
    if (!pending_loss_.defined())
      return 0.0;
    double sum = pending_loss_.item<double>();
    pending_loss_ = torch::Tensor();
    return sum;
  }

  std::vector<float> gradients() const override {
    double scale = accumulated_ > 0 ? 1.0 / static_cast<double>(accumulated_) : 0.0;
    return to_host([&](const torch::Tensor& p) {
      return p.grad().defined() ? p.grad() * scale : torch::zeros_like(p);
    });
  }

  std::string device_description() const override {
    auto device = device_of();
    return describe_device(device) + (device.is_cuda() && cuda_graph_ ? " (micro-steps replayed as CUDA graphs)" : "") +
           (model_->config().reversible && !model_->recompute() ? " (activations kept)" : "");
  }

  std::optional<double> evaluate() override {
    // Only a shapes set says what its captions should look like.
    if (!std::filesystem::exists(std::filesystem::path(data_dir_) / "codebook.safetensors"))
      return std::nullopt;
    auto report = eval_shapes(*model_, data_dir_, 64, 12345);
    if (!report)
      return std::nullopt;
    return report->score;
  }

  bool can_detach_gradients() const override { return true; }

  std::vector<float> detach_gradients() override {
    auto mean = gradients(); // waits for the accumulated micro-batches, once
    zero_gradients(params_);
    accumulated_ = 0;
    return mean;
  }

  void delayed_step(const std::vector<float>& mean_gradients) override {
    // LAMB takes the averaged gradients directly (it clips their global norm,
    // 4.0, first: after averaging, as in 2021); the parameters' .grad may
    // hold the next epoch's accumulation, which stays.
    std::vector<torch::Tensor> grads;
    size_t offset = 0;
    for (auto& p : params_) {
      auto n = static_cast<size_t>(p.numel());
      if (offset + n > mean_gradients.size())
        throw std::invalid_argument("delayed_step: too few gradient values");
      grads.push_back(torch::from_blob(const_cast<float*>(mean_gradients.data() + offset), p.sizes(), torch::kFloat)
                          .to(p.device()));
      offset += n;
    }
    optimizer_.step(optimizer_.learning_rate(step_), &grads);
    ++step_;
  }

  void step(const std::vector<float>& mean_gradients) override {
    delayed_step(mean_gradients);
    zero_gradients(params_); // in place: a captured micro-step writes to these
    accumulated_ = 0;
  }

  std::vector<float> parameters() const override {
    return to_host([](const torch::Tensor& p) { return p.detach(); });
  }

  /// The layout `ttt train` writes (model.safetensors with its config,
  /// optimizer.safetensors, config.ini, trainer_state.json, and the data's
  /// tokenizer and codebook when there are any), so `ttt export`, `ttt
  /// generate` and `ttt train --out` read these checkpoints as they are.
  std::vector<trainer::state_file> export_state() const override {
    scratch_dir dir;
    if (!dir.ok())
      return {};
    auto st = save_safetensors(dir.path + "/model.safetensors", export_weights(*model_),
                               {{"format", "pt"}, {"step", std::to_string(step_)},
                                {"config", c_.name}, {"ttt_config", config_text_}});
    if (!st)
      return {};
    tensor_list state;
    for (auto& s : const_cast<lamb&>(optimizer_).slots()) {
      state.emplace_back("exp_avg." + s.name, s.exp_avg);
      state.emplace_back("exp_avg_sq." + s.name, s.exp_avg_sq);
    }
    if (!save_safetensors(dir.path + "/optimizer.safetensors", state, {{"step", std::to_string(step_)}}))
      return {};
    std::vector<trainer::state_file> files;
    for (const char* name : {"model.safetensors", "optimizer.safetensors"}) {
      auto bytes = read_file(dir.path + "/" + name);
      if (!bytes)
        return {};
      files.push_back({name, std::move(*bytes)});
    }
    files.push_back({"config.ini", config_text_});
    // The step is the schedule's position; the data stream restarts from a
    // seed derived from it (see import_state).
    files.push_back({"trainer_state.json", "{\"step\": " + std::to_string(step_) + "}\n"});
    for (const char* name : {"tokenizer.model", "codebook.safetensors", image_coder_file})
      if (auto bytes = read_file(data_dir_ + "/" + name))
        files.push_back({name, std::move(*bytes)});
    return files;
  }

  std::string import_state(const std::vector<trainer::state_file>& files) override {
    std::map<std::string, const std::string*> by_name;
    for (const auto& f : files)
      by_name[f.name] = &f.bytes;
    for (const char* name : {"model.safetensors", "optimizer.safetensors", "trainer_state.json"})
      if (!by_name.count(name))
        return std::string("the state lacks ") + name;
    auto colon = by_name["trainer_state.json"]->find(':');
    if (colon == std::string::npos)
      return "trainer_state.json is malformed";
    int64_t step = std::atoll(by_name["trainer_state.json"]->c_str() + colon + 1);
    if (step < 0)
      return "trainer_state.json holds a negative step";
    scratch_dir dir;
    if (!dir.ok())
      return "cannot make a scratch directory";
    for (const char* name : {"model.safetensors", "optimizer.safetensors"}) {
      std::ofstream out(dir.path + "/" + name, std::ios::binary);
      out.write(by_name[name]->data(), static_cast<std::streamsize>(by_name[name]->size()));
      if (!out)
        return std::string("cannot write scratch ") + name;
    }
    auto weights = load_safetensors(dir.path + "/model.safetensors");
    if (!weights)
      return weights.error();
    auto optimizer_state = load_safetensors(dir.path + "/optimizer.safetensors");
    if (!optimizer_state)
      return optimizer_state.error();
    // Every optimizer tensor is checked before anything is copied.
    std::map<std::string, torch::Tensor> moments(optimizer_state->begin(), optimizer_state->end());
    for (auto& s : optimizer_.slots()) {
      auto a = moments.find("exp_avg." + s.name), b = moments.find("exp_avg_sq." + s.name);
      if (a == moments.end() || b == moments.end() || a->second.sizes() != s.param.sizes() ||
          b->second.sizes() != s.param.sizes())
        return "the optimizer state lacks or misshapes " + s.name;
    }
    auto st = import_weights(*model_, *weights, "the state's model.safetensors");
    if (!st)
      return st.error();
    {
      torch::NoGradGuard no_grad;
      for (auto& s : optimizer_.slots()) {
        s.exp_avg.copy_(moments["exp_avg." + s.name]);
        s.exp_avg_sq.copy_(moments["exp_avg_sq." + s.name]);
      }
    }
    step_ = step;
    zero_gradients(params_); // in place: a captured micro-step writes to these
    accumulated_ = 0;
    // Not the samples of the run's start again: this peer's order, moved on by the step.
    stream_ = sample_stream(shards_, 4096, seed_from_peer_id(peer_id_) + static_cast<uint64_t>(step_), true);
    return {};
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
    zero_gradients(params_); // in place: a captured micro-step writes to these
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
  std::unique_ptr<graphed_step> micro_step_;
  bool cuda_graph_ = false;
  torch::Tensor pending_loss_; ///< summed losses not yet settled, on the device

  torch::Device device_of() const { return params_.empty() ? torch::Device(torch::kCPU) : params_.front().device(); }

  /// One tensor per parameter, flattened in parameter order into host
  /// memory: queued as asynchronous copies into a pinned buffer (on a GPU),
  /// waited for once, then handed over as the averager's float vector.
  template <class PerParameter>
  std::vector<float> to_host(PerParameter&& of) const {
    torch::NoGradGuard no_grad;
    staging_.reserve(static_cast<int64_t>(total_size()), device_of());
    int64_t offset = 0;
    for (const auto& p : params_) {
      staging_.copy_async(of(p), offset);
      offset += p.numel();
    }
    staging_.wait();
    return std::vector<float>(staging_.data(), staging_.data() + staging_.size());
  }

  /// A directory under the system's temporary one, removed at the end of scope.
  struct scratch_dir {
    std::string path;
    scratch_dir() {
      auto tmpl = (std::filesystem::temp_directory_path() / "ttt-state-XXXXXX").string();
      if (::mkdtemp(tmpl.data()) != nullptr)
        path = tmpl;
    }
    ~scratch_dir() {
      std::error_code ec;
      if (!path.empty())
        std::filesystem::remove_all(path, ec);
    }
    bool ok() const { return !path.empty(); }
  };

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

  mutable host_staging staging_; ///< pinned on a GPU; reused across epochs
  dalle model_;
  train_config t_;
  dalle_config c_;
  std::string data_dir_;
  std::vector<std::string> shards_;
  std::string peer_id_;
  std::string config_text_;
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
  if (o.micro_batch_size > 0)
    cfg->train.micro_batch_size = o.micro_batch_size;
  auto shards = list_shards(o.data_dir, "train");
  if (shards.empty())
    return failure{"data directory '" + o.data_dir +
                   "' holds no train-*.shard files (make some with ttt data shapes)"};
  torch::manual_seed(o.init_seed);
  auto device = select_device(o.device);
  if (!device)
    return failure{device.error()};
  dalle model(cfg->model);
  if (!o.weights.empty()) {
    auto st = load_weights_file(*model, o.weights);
    if (!st)
      return failure{st.error()};
  }
  model->to(*device); // before the optimizers, whose state is made beside the parameters
  model->train();
  model->set_recompute(!o.keep_activations);
  return std::shared_ptr<trainer::local_model>(
    std::make_shared<swarm_model>(std::move(model), cfg->train, cfg->model, std::move(shards), o));
}

} // namespace ttt::model
