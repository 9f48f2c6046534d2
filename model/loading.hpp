#pragma once
// Building a model from where it lives (a checkpoint, a config plus weights).
// Internal to model/ (includes torch).

#include "model/api.hpp"
#include "model/dalle.hpp"
#include "model/image.hpp"

#include <string>
#include <vector>

namespace ttt::model {

/// A built model and the config file it came from.
struct loaded_model {
  config_file config;
  std::string config_text; ///< the .ini text, kept in the safetensors files ttt writes
  dalle model{nullptr};
};

/// Builds the source's model (seeded init) and loads its weights, if any.
result<loaded_model> load_model(const model_source& source);

/// Reads a whole file; the failure names it.
result<std::string> read_file(const std::string& path);

/// The shapes evaluation (`ttt eval shapes`, unseeded sampling) of an
/// in-memory model, with the tokenizer and codebook of `data_dir`.
result<shapes_eval_report> eval_shapes(dalle_impl& model, const std::string& data_dir, int64_t count,
                                       uint64_t seed);

/// `per_prompt` pictures for each of `prompts`, a row per prompt, drawn
/// from `model` with `sampling` and turned into pictures by the coder that
/// `ttt generate` finds for `source` and `files`.
result<rgb_image> draw_prompt_grid(dalle_impl& model, const model_source& source, const codec_files& files,
                                   const std::vector<std::string>& prompts, int64_t per_prompt,
                                   const sampling_options& sampling);

} // namespace ttt::model
