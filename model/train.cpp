// Standalone training: the 2021 recipe (LAMB, warmup/decay, accumulation to
// a target batch, clipping) on one machine, with held-out validation and
// checkpoints that `ttt generate` and `ttt export` read.
#include "model/api.hpp"

#include "model/batch.hpp"
#include "model/device.hpp"
#include "model/image_coder.hpp"
#include "model/lamb.hpp"
#include "model/loading.hpp"
#include "model/safetensors.hpp"
#include "model/shards.hpp"

#include <chrono>
#include <cstdarg>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace ttt::model {

namespace {

using clock_type = std::chrono::steady_clock;

/// Up to `samples` held-out samples of `shards`, in file order, as batches
/// of `batch_size` on `device`.
result<std::vector<batch>> held_out_batches(const std::vector<std::string>& shards, int64_t samples,
                                            int64_t batch_size, const dalle_config& c,
                                            const std::string& data_dir, const torch::Device& device) {
  std::vector<batch> out;
  sample_stream stream(shards, 1, 0, false);
  std::vector<sample> pending;
  auto flush = [&]() -> status {
    auto b = to_batch(pending, c, data_dir);
    if (!b)
      return failure{b.error()};
    out.push_back({b->text.to(device), b->image.to(device)});
    pending.clear();
    return ok();
  };
  for (int64_t taken = 0; taken < samples; ++taken) {
    auto s = stream.next();
    if (!s)
      return failure{s.error()};
    if (!*s)
      break;
    pending.push_back(std::move(**s));
    if (static_cast<int64_t>(pending.size()) == batch_size)
      if (auto st = flush(); !st)
        return failure{st.error()};
  }
  if (!pending.empty())
    if (auto st = flush(); !st)
      return failure{st.error()};
  return out;
}

/// The model's mean loss per sample over `batches` (NaN when there are none).
double mean_loss(dalle_impl& model, const std::vector<batch>& batches, const torch::Device& device) {
  if (batches.empty())
    return std::nan("");
  torch::NoGradGuard no_grad;
  bool training = model.is_training();
  model.eval();
  double sum = 0;
  int64_t n = 0;
  for (const auto& b : batches) {
    autocast_scope bf16(device);
    sum += model.loss(b.text, b.image).loss.item<double>() * b.text.size(0);
    n += b.text.size(0);
  }
  model.train(training);
  return sum / n;
}

std::string fmt(const char* format, ...) __attribute__((format(printf, 1, 2)));
std::string fmt(const char* format, ...) {
  char buf[512];
  va_list args;
  va_start(args, format);
  std::vsnprintf(buf, sizeof buf, format, args);
  va_end(args);
  return buf;
}

status save_checkpoint(const std::string& dir, dalle_impl& model, lamb& optimizer, int64_t step,
                       const std::string& config_path, const std::string& data_dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return failure{"cannot create checkpoint directory '" + dir + "': " + ec.message()};
  auto config_text = read_file(config_path);
  if (!config_text)
    return failure{config_text.error()};
  auto st = save_safetensors(dir + "/model.safetensors", export_weights(model),
                             {{"format", "pt"}, {"step", std::to_string(step)}, {"config", model.config().name},
                              {"ttt_config", *config_text}});
  if (!st)
    return st;
  tensor_list state;
  for (auto& s : optimizer.slots()) {
    state.emplace_back("exp_avg." + s.name, s.exp_avg);
    state.emplace_back("exp_avg_sq." + s.name, s.exp_avg_sq);
  }
  st = save_safetensors(dir + "/optimizer.safetensors", state, {{"step", std::to_string(step)}});
  if (!st)
    return st;
  // Everything `ttt generate` needs travels with the checkpoint.
  fs::copy_file(config_path, dir + "/config.ini", fs::copy_options::overwrite_existing, ec);
  if (ec)
    return failure{"cannot copy '" + config_path + "' into '" + dir + "': " + ec.message()};
  for (const char* f : {"tokenizer.model", "codebook.safetensors", image_coder_file})
    if (fs::exists(fs::path(data_dir) / f))
      fs::copy_file(fs::path(data_dir) / f, fs::path(dir) / f, fs::copy_options::overwrite_existing, ec);
  std::ofstream(dir + "/trainer_state.json") << "{\"step\": " << step << "}\n";
  return ok();
}

result<int64_t> load_optimizer_state(const std::string& dir, lamb& optimizer) {
  auto state = load_safetensors(dir + "/optimizer.safetensors");
  if (!state)
    return failure{state.error()};
  std::map<std::string, torch::Tensor> by_name(state->begin(), state->end());
  torch::NoGradGuard no_grad;
  for (auto& s : optimizer.slots()) {
    auto a = by_name.find("exp_avg." + s.name), b = by_name.find("exp_avg_sq." + s.name);
    if (a == by_name.end() || b == by_name.end() || a->second.sizes() != s.param.sizes() ||
        b->second.sizes() != s.param.sizes())
      return failure{"optimizer state '" + dir + "/optimizer.safetensors' lacks or misshapes " + s.name};
    s.exp_avg.copy_(a->second);
    s.exp_avg_sq.copy_(b->second);
  }
  auto text = read_file(dir + "/trainer_state.json");
  if (!text)
    return failure{text.error()};
  auto colon = text->find(':');
  if (colon == std::string::npos)
    return failure{"'" + dir + "/trainer_state.json' is malformed"};
  return static_cast<int64_t>(std::atoll(text->c_str() + colon + 1));
}

} // namespace

result<train_report> train_model(const train_options& o, const std::function<void(const std::string&)>& log) {
  auto cfg_file = load_config(o.config);
  if (!cfg_file)
    return failure{cfg_file.error()};
  const auto& c = cfg_file->model;
  auto t = cfg_file->train;
  if (o.target_batch_size > 0)
    t.target_batch_size = o.target_batch_size;
  if (o.micro_batch_size > 0)
    t.micro_batch_size = o.micro_batch_size;
  if (o.eval_every > 0)
    t.eval_every = o.eval_every;
  if (o.checkpoint_every > 0)
    t.checkpoint_every = o.checkpoint_every;
  t.micro_batch_size = std::min(t.micro_batch_size, t.target_batch_size);

  auto train_shards = list_shards(o.data_dir, "train");
  if (train_shards.empty())
    return failure{"data directory '" + o.data_dir + "' holds no train-*.shard files (make some with ttt data shapes)"};
  auto valid_shards = list_shards(o.data_dir, "valid");

  auto device = select_device(o.device);
  if (!device)
    return failure{device.error()};
  torch::manual_seed(static_cast<uint64_t>(seed_from_peer_id(o.peer_id) & 0x7fffffff));
  dalle model(c);
  model->to(*device); // before the optimizer, whose state is made beside the parameters
  model->set_recompute(o.recompute);
  if (!o.weights.empty()) {
    auto st = load_weights_file(*model, o.weights);
    if (!st)
      return failure{st.error()};
  }
  std::vector<std::pair<std::string, torch::Tensor>> named;
  for (const auto& nt : model->named_tensors())
    if (nt.trainable)
      named.emplace_back(nt.names[0], nt.tensor);
  lamb optimizer(named, t);

  int64_t step = 0;
  if (o.resume && !o.out_dir.empty() && fs::exists(fs::path(o.out_dir) / "checkpoints")) {
    auto dir = resolve_checkpoint(o.out_dir);
    if (dir) {
      auto st = load_weights_file(*model, *dir + "/model.safetensors");
      if (!st)
        return failure{st.error()};
      auto resumed = load_optimizer_state(*dir, optimizer);
      if (!resumed)
        return failure{resumed.error()};
      step = *resumed;
      log("resuming from " + *dir + " at step " + std::to_string(step));
    }
  }

  // Held-out samples, read once, in file order.
  auto valid = held_out_batches(valid_shards, t.eval_samples, t.micro_batch_size, c, o.data_dir, *device);
  if (!valid)
    return failure{valid.error()};
  auto validate = [&] { return mean_loss(*model, *valid, *device); };

  sample_stream stream(train_shards, 4096, seed_from_peer_id(o.peer_id), true);
  train_report report;
  report.first_step = step;
  int64_t last_step = o.steps >= 0 ? step + o.steps : t.total_steps;
  report.first_valid_loss = report.last_valid_loss = validate();
  log(fmt("model %s on %s: %lld parameters; target batch %lld in micro-batches of %lld; steps %lld..%lld",
          c.name.c_str(), describe_device(*device).c_str(), static_cast<long long>(parameter_count(c)), static_cast<long long>(t.target_batch_size),
          static_cast<long long>(t.micro_batch_size), static_cast<long long>(step), static_cast<long long>(last_step)));
  if (!valid->empty())
    log(fmt("step %lld validation loss %.4f", static_cast<long long>(step), report.first_valid_loss));
  else
    log("no valid-*.shard in '" + o.data_dir + "': no validation loss");

  auto run_start = clock_type::now();
  int64_t samples_seen = 0;
  std::string last_saved;
  while (step < last_step) {
    auto step_start = clock_type::now();
    model->zero_grad();
    // The losses stay on the device until the step: no host synchronisation
    // between micro-batches.
    auto zero = torch::zeros({}, torch::TensorOptions().dtype(torch::kDouble).device(*device));
    torch::Tensor loss_acc = zero, text_acc = zero.clone(), img_acc = zero.clone();
    int64_t accumulated = 0;
    while (accumulated < t.target_batch_size) {
      int64_t want = std::min(t.micro_batch_size, t.target_batch_size - accumulated);
      std::vector<sample> samples;
      while (static_cast<int64_t>(samples.size()) < want) {
        auto s = stream.next();
        if (!s)
          return failure{s.error()};
        if (!*s)
          return failure{"data '" + o.data_dir + "': no sample passes the filters"};
        samples.push_back(std::move(**s));
      }
      auto b = to_batch(samples, c, o.data_dir);
      if (!b)
        return failure{b.error()};
      auto text = b->text.to(*device, /*non_blocking=*/true), image = b->image.to(*device, /*non_blocking=*/true);
      autocast_scope bf16(*device); // the forward and the recomputing backward
      auto losses = model->loss(text, image);
      // Weighted so that the accumulated gradient is the mean over the target batch.
      (losses.loss * (static_cast<double>(want) / t.target_batch_size)).backward();
      loss_acc += losses.loss.detach().to(torch::kDouble) * static_cast<double>(want);
      text_acc += losses.loss_text.detach().to(torch::kDouble) * static_cast<double>(want);
      img_acc += losses.loss_img.detach().to(torch::kDouble) * static_cast<double>(want);
      accumulated += want;
    }
    double lr = optimizer.learning_rate(step);
    double grad_norm = optimizer.step(lr);
    double loss_sum = loss_acc.item<double>(), text_sum = text_acc.item<double>(), img_sum = img_acc.item<double>();
    ++step;
    samples_seen += accumulated;
    double step_seconds = std::chrono::duration<double>(clock_type::now() - step_start).count();
    log(fmt("step %lld/%lld loss %.4f (text %.4f, image %.4f) lr %.3g grad-norm %.3g samples/s %.1f",
            static_cast<long long>(step), static_cast<long long>(last_step), loss_sum / accumulated,
            text_sum / accumulated, img_sum / accumulated, lr, grad_norm, accumulated / step_seconds));
    if (!std::isfinite(loss_sum))
      return failure{"the loss diverged at step " + std::to_string(step)};
    bool last = step == last_step;
    if (!valid->empty() && (step % t.eval_every == 0 || last)) {
      report.last_valid_loss = validate();
      log(fmt("step %lld validation loss %.4f", static_cast<long long>(step), report.last_valid_loss));
    }
    if (!o.out_dir.empty() && (step % t.checkpoint_every == 0 || last)) {
      char name[32];
      std::snprintf(name, sizeof name, "step-%08lld", static_cast<long long>(step));
      last_saved = (fs::path(o.out_dir) / "checkpoints" / name).string();
      auto st = save_checkpoint(last_saved, *model, optimizer, step, o.config, o.data_dir);
      if (!st)
        return failure{st.error()};
      log("checkpoint " + last_saved);
    }
  }
  report.last_step = step;
  report.last_checkpoint = last_saved;
  double seconds = std::chrono::duration<double>(clock_type::now() - run_start).count();
  report.samples_per_second = seconds > 0 ? samples_seen / seconds : 0;
  return report;
}

result<double> validation_loss(const model_source& source, const std::string& data_dir, int64_t samples,
                               const std::string& device_name) {
  auto valid_shards = list_shards(data_dir, "valid");
  if (valid_shards.empty())
    return failure{"data directory '" + data_dir + "' holds no valid-*.shard files"};
  if (samples < 1)
    return failure{"--samples must be at least 1"};
  auto device = select_device(device_name);
  if (!device)
    return failure{device.error()};
  auto loaded = load_model(source);
  if (!loaded)
    return failure{loaded.error()};
  loaded->model->to(*device);
  auto valid = held_out_batches(valid_shards, samples, 32, loaded->config.model, data_dir, *device);
  if (!valid)
    return failure{valid.error()};
  return mean_loss(*loaded->model, *valid, *device);
}

} // namespace ttt::model
