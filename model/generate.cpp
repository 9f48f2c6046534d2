// Sampling images token by token with the key/value cache, decoding them with
// the VQGAN or the codebook, and what is built on it: `ttt generate`, the
// aux peer's grid of sample pictures, the shapes evaluation.
#include "model/api.hpp"

#include "model/codebook.hpp"
#include "model/image_coder.hpp"
#include "model/loading.hpp"
#include "model/shapes.hpp"
#include "model/tokenizer.hpp"
#include "model/vqgan.hpp"

#include <cmath>
#include <filesystem>
#include <optional>
#include <random>

namespace fs = std::filesystem;

namespace ttt::model {

namespace {

struct codecs_loaded {
  text_tokenizer tokenizer;
  patch_codebook codebook;
};

// Where a run's files are looked for when no flag names them: the
// checkpoint directory, then the data directory.
std::vector<std::string> codec_places(const model_source& source, const codec_files& files) {
  std::vector<std::string> places;
  if (!source.checkpoint.empty()) {
    auto dir = resolve_checkpoint(source.checkpoint);
    if (dir)
      places.push_back(*dir);
  }
  if (!files.data_dir.empty())
    places.push_back(files.data_dir);
  return places;
}

std::optional<std::string> find_codec_file(const std::vector<std::string>& places, const std::string& explicit_path,
                                           const char* name) {
  if (!explicit_path.empty())
    return explicit_path;
  for (const auto& p : places)
    if (fs::exists(fs::path(p) / name))
      return (fs::path(p) / name).string();
  return std::nullopt;
}

result<text_tokenizer> load_tokenizer(const model_source& source, const codec_files& files) {
  auto path = find_codec_file(codec_places(source, files), files.tokenizer, "tokenizer.model");
  if (!path)
    return failure{"no tokenizer.model found: give --tokenizer FILE or --data DIR (the shapes set's directory)"};
  return text_tokenizer::load(*path);
}

result<codecs_loaded> load_codecs(const model_source& source, const codec_files& files) {
  auto tok = load_tokenizer(source, files);
  if (!tok)
    return failure{tok.error()};
  auto cb_path = find_codec_file(codec_places(source, files), files.codebook, "codebook.safetensors");
  if (!cb_path)
    return failure{"no codebook.safetensors found: give --codebook FILE or --data DIR (the shapes set's directory)"};
  auto cb = load_codebook(*cb_path);
  if (!cb)
    return failure{cb.error()};
  return codecs_loaded{std::move(*tok), *cb};
}

std::string grid_text(int64_t grid) { return std::to_string(grid) + "x" + std::to_string(grid); }

// Turns a model's image codes into pictures: the VQGAN whose codes its data
// were, or the shapes set's codebook.
class picture_decoder {
public:
  explicit picture_decoder(patch_codebook codebook) : codebook_(std::move(codebook)) {}
  explicit picture_decoder(loaded_vqgan vqgan) : vqgan_(std::move(vqgan)) {}

  /// Pictures of codes [B, grid²].
  std::vector<rgb_image> decode(const torch::Tensor& codes) const {
    torch::NoGradGuard no_grad;
    std::vector<rgb_image> images;
    if (codebook_) {
      for (int64_t i = 0; i < codes.size(0); ++i)
        images.push_back(decode_codes(*codebook_, codes[i]));
      return images;
    }
    const int64_t batch = 8;
    for (int64_t begin = 0; begin < codes.size(0); begin += batch)
      for (auto& image : images_of(vqgan_->model->decode(codes.slice(0, begin, begin + batch))))
        images.push_back(std::move(image));
    return images;
  }

private:
  std::optional<patch_codebook> codebook_;
  std::optional<loaded_vqgan> vqgan_;
};

result<picture_decoder> load_picture_decoder(const model_source& source, const codec_files& files,
                                             const dalle_config& c) {
  auto places = codec_places(source, files);
  std::optional<image_coder_record> record;
  for (const auto& place : places) {
    auto r = read_image_coder(place);
    if (!r)
      return failure{r.error()};
    if (*r) {
      record = **r;
      break;
    }
  }
  bool recorded_vqgan = record && record->kind == "vqgan";
  if (!files.vqgan.empty() || recorded_vqgan) {
    if (files.vqgan.empty())
      return failure{"model " + c.name + "'s images are codes of the VQGAN '" + record->name + "' (" +
                     std::to_string(record->codes) + " codes, " + grid_text(record->grid) + " for " +
                     std::to_string(record->image_size) + " px), as its data's " + image_coder_file +
                     " says: give --vqgan FILE.safetensors with that VQGAN's weights (the README converts taming's "
                     "last.ckpt)"};
    auto vqgan = load_vqgan(files.vqgan_config, files.vqgan, recorded_vqgan ? record->config : "");
    if (!vqgan)
      return failure{vqgan.error()};
    const auto& v = vqgan->config;
    if (v.n_embed != c.num_image_tokens || v.grid() != c.image_fmap_size)
      return failure{"the VQGAN " + v.name + " (" + std::to_string(v.n_embed) + " codes, " + grid_text(v.grid()) +
                     ") does not fit model " + c.name + " (" + std::to_string(c.num_image_tokens) + " image codes, " +
                     grid_text(c.image_fmap_size) + ")"};
    return picture_decoder(std::move(*vqgan));
  }
  auto path = find_codec_file(places, files.codebook, "codebook.safetensors");
  if (!path)
    return failure{"no image coder found for model " + c.name + " (" + std::to_string(c.num_image_tokens) +
                   " image codes): give --vqgan FILE.safetensors for VQGAN codes" +
                   (c.num_image_tokens == 8192 ? " (the 2021 run's gumbel-f8)" : "") +
                   ", or --codebook FILE or --data DIR for the shapes set's codebook"};
  auto codebook = load_codebook(*path);
  if (!codebook)
    return failure{codebook.error()};
  if (codebook->grid() != c.image_fmap_size || codebook->codes() != c.num_image_tokens)
    return failure{"the codebook (" + std::to_string(codebook->codes()) + " codes, " + grid_text(codebook->grid()) +
                   ") does not fit model " + c.name};
  return picture_decoder(std::move(*codebook));
}

// `rows` copies of a prompt's ids as texts [rows, text_seq_len] (ids beyond
// the model's vocabulary clamped to its last).
torch::Tensor prompt_rows(const std::vector<int32_t>& ids, int64_t rows, const dalle_config& c) {
  auto text = torch::zeros({rows, c.text_seq_len}, torch::kLong);
  for (int64_t j = 0; j < c.text_seq_len; ++j)
    text.select(1, j).fill_(std::min<int64_t>(ids[j], c.num_text_tokens - 1));
  return text;
}

// Image codes [B, image_seq_len] for texts [B, text_seq_len], one token at a
// time through the key/value cache.
torch::Tensor sample_codes(dalle_impl& model, const torch::Tensor& text, const sampling_options& s) {
  torch::NoGradGuard no_grad;
  bool training = model.is_training();
  model.eval();
  const auto& c = model.config();
  auto device = model.parameters().front().device();
  auto gen = at::detail::createCPUGenerator(s.seed);
  auto ids = model.prepare_text(text.to(device));
  generation_cache cache;
  torch::Tensor logits;
  for (int64_t t = 0; t < c.text_len(); ++t)
    logits = model.step(cache, ids.select(1, t));
  std::vector<torch::Tensor> codes;
  for (int64_t k = 0; k < c.image_seq_len(); ++k) {
    auto l = logits.slice(1, c.total_text_tokens()) / std::max(s.temperature, 1e-5);
    if (s.top_k > 0 && s.top_k < l.size(1)) {
      auto kth = std::get<0>(l.topk(s.top_k, 1)).select(1, s.top_k - 1).unsqueeze(1);
      l = l.masked_fill(l < kth, -std::numeric_limits<float>::infinity());
    }
    auto probs = torch::softmax(l, 1);
    if (s.top_p < 1.0) {
      auto [sorted, order] = probs.sort(1, true);
      auto before = sorted.cumsum(1) - sorted; // probability mass strictly above each code
      sorted = sorted.masked_fill(before > s.top_p, 0);
      probs = torch::zeros_like(probs).scatter(1, order, sorted);
    }
    // Drawn on the CPU (the seeded generator is a CPU one), whatever the device.
    auto code = torch::multinomial(probs.to(torch::kCPU, torch::kFloat), 1, false, gen).squeeze(1).to(device);
    codes.push_back(code);
    if (k + 1 < c.image_seq_len())
      logits = model.step(cache, code + c.total_text_tokens());
  }
  model.train(training);
  return torch::stack(codes, 1).cpu();
}

/// The shapes evaluation of `model` with `codecs` (see eval_shapes); the
/// pictures go to `images` when it is given.
result<shapes_eval_report> score_shapes(dalle_impl& model, const codecs_loaded& codecs, int64_t count,
                                        uint64_t seed, const sampling_options& sampling,
                                        std::vector<rgb_image>* images) {
  const auto& c = model.config();
  if (codecs.codebook.grid() != c.image_fmap_size || codecs.codebook.codes() != c.num_image_tokens)
    return failure{"the codebook does not fit model " + c.name};
  int max_objects = std::max(2, std::min(3, static_cast<int>((c.text_seq_len + 1) / 6)));
  std::mt19937_64 rng(seed);
  std::vector<shape_scene> scenes;
  auto text = torch::zeros({count, c.text_seq_len}, torch::kLong);
  for (int64_t i = 0; i < count; ++i) {
    scenes.push_back(random_scene(rng, 2, max_objects));
    auto ids = codecs.tokenizer.encode(caption_of(scenes.back()), static_cast<size_t>(c.text_seq_len));
    for (int64_t j = 0; j < c.text_seq_len; ++j)
      text[i][j] = std::min<int64_t>(ids[j], c.num_text_tokens - 1);
  }
  shapes_eval_report report;
  report.prompts = count;
  const int64_t chunk = 32;
  for (int64_t begin = 0; begin < count; begin += chunk) {
    auto part = sample_codes(model, text.slice(0, begin, std::min(count, begin + chunk)), sampling);
    for (int64_t i = 0; i < part.size(0); ++i) {
      auto image = decode_codes(codecs.codebook, part[i]);
      const auto& scene = scenes[begin + i];
      report.score += score_picture(image, scene);
      report.reference_score +=
        score_picture(decode_codes(codecs.codebook, encode_image(codecs.codebook, render(scene))), scene);
      if (images != nullptr)
        images->push_back(image);
    }
  }
  report.score /= count;
  report.reference_score /= count;
  return report;
}

} // namespace

result<std::string> generate_images(const model_source& source, const codec_files& files, const std::string& prompt,
                                    int64_t count, const sampling_options& sampling, const std::string& out_png) {
  if (count < 1)
    return failure{"--count must be at least 1"};
  auto loaded = load_model(source);
  if (!loaded)
    return failure{loaded.error()};
  const auto& c = loaded->config.model;
  auto tokenizer = load_tokenizer(source, files);
  if (!tokenizer)
    return failure{tokenizer.error()};
  auto decoder = load_picture_decoder(source, files, c);
  if (!decoder)
    return failure{decoder.error()};
  auto ids = tokenizer->encode(prompt, static_cast<size_t>(c.text_seq_len));
  auto images = decoder->decode(sample_codes(*loaded->model, prompt_rows(ids, count, c), sampling));
  auto picture = images.size() == 1 ? images[0] : tile(images, static_cast<int>(std::ceil(std::sqrt(double(count)))));
  auto st = write_png(out_png, picture);
  if (!st)
    return failure{st.error()};
  std::string id_text;
  for (auto id : ids)
    id_text += (id_text.empty() ? "" : " ") + std::to_string(id);
  return id_text;
}

result<rgb_image> draw_prompt_grid(dalle_impl& model, const model_source& source, const codec_files& files,
                                   const std::vector<std::string>& prompts, int64_t per_prompt,
                                   const sampling_options& sampling) {
  if (prompts.empty() || per_prompt < 1)
    return failure{"a grid needs at least one prompt and one picture per prompt"};
  const auto& c = model.config();
  auto tokenizer = load_tokenizer(source, files);
  if (!tokenizer)
    return failure{tokenizer.error()};
  auto decoder = load_picture_decoder(source, files, c);
  if (!decoder)
    return failure{decoder.error()};
  std::vector<rgb_image> images;
  for (const auto& prompt : prompts) {
    auto ids = tokenizer->encode(prompt, static_cast<size_t>(c.text_seq_len));
    for (auto& image : decoder->decode(sample_codes(model, prompt_rows(ids, per_prompt, c), sampling)))
      images.push_back(std::move(image));
  }
  return tile(images, static_cast<int>(per_prompt));
}

result<shapes_eval_report> eval_shapes(const model_source& source, const codec_files& files, int64_t count,
                                       uint64_t seed, const sampling_options& sampling, const std::string& out_png) {
  if (count < 1)
    return failure{"--count must be at least 1"};
  auto loaded = load_model(source);
  if (!loaded)
    return failure{loaded.error()};
  auto codecs = load_codecs(source, files);
  if (!codecs)
    return failure{codecs.error()};
  std::vector<rgb_image> images;
  auto report = score_shapes(*loaded->model, *codecs, count, seed, sampling, out_png.empty() ? nullptr : &images);
  if (!report)
    return report;
  if (!out_png.empty()) {
    auto st = write_png(out_png, tile(images, 8));
    if (!st)
      return failure{st.error()};
  }
  return report;
}

result<shapes_eval_report> eval_shapes(dalle_impl& model, const std::string& data_dir, int64_t count,
                                       uint64_t seed) {
  if (count < 1)
    return failure{"the shapes evaluation needs at least one caption"};
  codec_files files;
  files.data_dir = data_dir;
  auto codecs = load_codecs(model_source{}, files);
  if (!codecs)
    return failure{codecs.error()};
  return score_shapes(model, *codecs, count, seed, sampling_options{}, nullptr);
}

} // namespace ttt::model
