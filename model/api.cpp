#include "model/api.hpp"

#include "model/json.hpp"
#include "model/loading.hpp"
#include "model/safetensors.hpp"

#include <sodium.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;

namespace ttt::model {

result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return failure{"cannot read '" + path + "'"};
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

namespace {

// The newest checkpoint directory among `dir`'s subdirectories (names sort
// by step or epoch: step-NNNNNNNN, epoch-NNNNNNNN); empty when none.
std::string latest_checkpoint_in(const fs::path& dir) {
  std::error_code ec;
  std::vector<std::string> found;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (fs::exists(e.path() / "model.safetensors", ec))
      found.push_back(e.path().string());
  return found.empty() ? std::string() : *std::max_element(found.begin(), found.end());
}

} // namespace

result<std::string> resolve_checkpoint(const std::string& path) {
  std::error_code ec;
  if (!fs::is_directory(path, ec))
    return failure{"checkpoint '" + path + "' is not a directory"};
  if (fs::exists(fs::path(path) / "model.safetensors", ec))
    return path;
  for (const auto& dir : {fs::path(path), fs::path(path) / "checkpoints"})
    if (auto latest = latest_checkpoint_in(dir); !latest.empty())
      return latest;
  return failure{"'" + path + "' holds neither model.safetensors nor checkpoint directories with one "
                 "(give a checkpoint, DATA_DIR/checkpoints or DATA_DIR)"};
}

result<loaded_model> load_model(const model_source& source) {
  std::string config_path = source.config, weights_path = source.weights;
  if (!source.checkpoint.empty()) {
    auto dir = resolve_checkpoint(source.checkpoint);
    if (!dir)
      return failure{dir.error()};
    if (config_path.empty())
      config_path = *dir + "/config.ini";
    if (weights_path.empty())
      weights_path = *dir + "/model.safetensors";
  }
  // Files ttt wrote carry their config; dalle-pytorch's need --config.
  result<config_file> cfg = failure{"no model config: give --config FILE or --checkpoint DIR"};
  std::string text;
  if (!config_path.empty()) {
    cfg = load_config(config_path);
    if (auto t = read_file(config_path))
      text = *t;
  } else if (!weights_path.empty()) {
    auto meta = read_safetensors_metadata(weights_path);
    if (!meta)
      return failure{meta.error()};
    auto text_it = meta->find("ttt_config");
    if (text_it == meta->end())
      return failure{"'" + weights_path + "' does not say its model: give --config FILE"};
    text = text_it->second;
    cfg = parse_config(text, weights_path);
    if (cfg)
      cfg->model.name = meta->count("config") ? meta->at("config") : cfg->model.name;
  }
  if (!cfg)
    return failure{cfg.error()};
  loaded_model out;
  out.config = *cfg;
  out.config_text = text;
  torch::manual_seed(0);
  out.model = dalle(cfg->model);
  if (!weights_path.empty()) {
    auto st = load_weights_file(*out.model, weights_path);
    if (!st)
      return failure{st.error()};
  }
  return out;
}

result<model_summary> summarize_model(const std::string& config_path) {
  auto cfg = load_config(config_path);
  if (!cfg)
    return failure{cfg.error()};
  torch::NoGradGuard no_grad;
  dalle m(cfg->model);
  model_summary s;
  s.description = describe(cfg->model);
  for (const auto& p : m->parameters())
    s.parameters += p.numel();
  s.distinct_attention = static_cast<int64_t>(m->attentions().size());
  s.distinct_feed_forward = static_cast<int64_t>(m->feed_forwards().size());
  return s;
}

result<batch_losses> evaluate_batch(const std::string& config_path, const std::string& weights_path,
                                    const std::string& batch_path) {
  auto loaded = load_model({"", config_path, weights_path});
  if (!loaded)
    return failure{loaded.error()};
  const auto& c = loaded->config.model;
  auto text = read_file(batch_path);
  if (!text)
    return failure{text.error()};
  auto json = parse_json(*text);
  if (!json)
    return failure{"batch file '" + batch_path + "' is not JSON: " + json.error()};
  auto rows = [&](const char* key, int64_t length, int64_t limit, bool pad) -> result<torch::Tensor> {
    auto* v = json->find(key);
    if (!v || v->type != json_value::kind::array || v->array.empty())
      return failure{"batch file '" + batch_path + "' lacks a non-empty \"" + key + "\" list of lists"};
    auto t = torch::zeros({static_cast<int64_t>(v->array.size()), length}, torch::kLong);
    for (size_t i = 0; i < v->array.size(); ++i) {
      const auto& row = v->array[i];
      auto where = std::string("batch file '") + batch_path + "': " + key + "[" + std::to_string(i) + "]";
      if (row.type != json_value::kind::array)
        return failure{where + " is not a list"};
      auto n = static_cast<int64_t>(row.array.size());
      if (n > length || (!pad && n != length))
        return failure{where + " has " + std::to_string(n) + " entries, the model takes " + std::to_string(length)};
      for (int64_t j = 0; j < n; ++j) {
        const auto& x = row.array[j];
        if (x.type != json_value::kind::integer || x.integer < 0 || x.integer >= limit)
          return failure{where + "[" + std::to_string(j) + "] is not an integer in [0, " + std::to_string(limit) + ")"};
        t[static_cast<int64_t>(i)][j] = x.integer;
      }
    }
    return t;
  };
  auto texts = rows("text", c.text_seq_len, c.num_text_tokens, true);
  if (!texts)
    return failure{texts.error()};
  auto images = rows("image", c.image_seq_len(), c.num_image_tokens, false);
  if (!images)
    return failure{images.error()};
  if (texts->size(0) != images->size(0))
    return failure{"batch file '" + batch_path + "' has " + std::to_string(texts->size(0)) + " texts but " +
                   std::to_string(images->size(0)) + " images"};
  torch::NoGradGuard no_grad;
  loaded->model->eval();
  auto l = loaded->model->loss(*texts, *images);
  return batch_losses{l.loss.item<double>(), l.loss_text.item<double>(), l.loss_img.item<double>()};
}

namespace {

// The weights file `ttt export` writes: every dalle-pytorch name, and the
// config in the metadata so that `ttt generate --weights` needs no --config.
result<int64_t> write_export(const loaded_model& loaded, const std::string& out_path) {
  auto tensors = export_weights(*loaded.model);
  auto st = save_safetensors(out_path, tensors,
                             {{"format", "pt"}, {"config", loaded.config.model.name}, {"ttt_config", loaded.config_text}});
  if (!st)
    return failure{st.error()};
  return static_cast<int64_t>(tensors.size());
}

// BLAKE2b-64 over the trainable tensors' float32 bytes in the order
// swarm_model flattens them (named_tensors, trainable ones, each once):
// one hash over their concatenation, as parameters_digest takes it.
std::string parameters_digest(const dalle_impl& model) {
  crypto_generichash_state state;
  const size_t digest_bytes = 8;
  crypto_generichash_init(&state, nullptr, 0, digest_bytes);
  for (const auto& nt : model.named_tensors()) {
    if (!nt.trainable)
      continue;
    auto values = nt.tensor.detach().to(torch::kCPU, torch::kFloat).contiguous();
    crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(values.data_ptr<float>()),
                              static_cast<unsigned long long>(values.numel()) * sizeof(float));
  }
  unsigned char digest[digest_bytes];
  crypto_generichash_final(&state, digest, digest_bytes);
  char hex[2 * digest_bytes + 1];
  sodium_bin2hex(hex, sizeof hex, digest, digest_bytes);
  return hex;
}

} // namespace

result<int64_t> export_model(const model_source& source, const std::string& out_path) {
  auto loaded = load_model(source);
  if (!loaded)
    return failure{loaded.error()};
  return write_export(*loaded, out_path);
}

result<publish_report> publish_checkpoint(const std::string& checkpoint_dir, const publish_options& options) {
  model_source source{checkpoint_dir, "", ""};
  auto loaded = load_model(source);
  if (!loaded)
    return failure{loaded.error()};
  torch::NoGradGuard no_grad;
  publish_report report;
  report.parameters_digest = parameters_digest(*loaded->model);
  auto tensors = write_export(*loaded, options.weights_out);
  if (!tensors)
    return failure{tensors.error()};
  report.tensors = *tensors;
  if (!options.samples_out.empty()) {
    auto grid = draw_prompt_grid(*loaded->model, source, options.codecs, options.prompts, options.sample_count,
                                 options.sampling);
    if (!grid)
      return failure{grid.error()};
    auto st = write_png(options.samples_out, *grid);
    if (!st)
      return failure{st.error()};
  }
  return report;
}

} // namespace ttt::model
