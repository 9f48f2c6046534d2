#pragma once
// Model and training configuration read from an .ini file whose keys are
// dalle-pytorch's constructor names, so that one config reads the same in
// both implementations. Torch-free: apps/ include it.

#include "model/result.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ttt::model {

/// The DALL-E architecture (section [model]). Lists are expanded per layer.
struct dalle_config {
  std::string name; ///< the file's stem, e.g. "dalle-tiny"
  int64_t dim = 0;
  int64_t depth = 0;
  int64_t heads = 0;
  int64_t dim_head = 0;
  int64_t text_seq_len = 0;
  int64_t num_text_tokens = 0; ///< tokenizer vocabulary, before the per-position padding ids
  int64_t image_fmap_size = 0; ///< the image is image_fmap_size² codes
  int64_t num_image_tokens = 0;
  std::vector<std::string> attn_types;      ///< one per layer: axial_row, axial_col, conv_like, full
  std::vector<std::string> shared_attn_ids; ///< one per layer; equal ids share one attention module
  std::vector<std::string> shared_ff_ids;   ///< one per layer; equal ids share one feed-forward
  bool rotary_emb = true;
  bool reversible = true;
  bool shift_tokens = true;
  bool share_input_output_emb = true;
  double loss_img_weight = 7;
  int64_t ff_mult = 4;
  int64_t conv_kernel_size = 5;
  int64_t conv_dilation = 1;

  int64_t image_seq_len() const { return image_fmap_size * image_fmap_size; }
  /// bos + text: the positions that see only text.
  int64_t text_len() const { return text_seq_len + 1; }
  /// The model's input length: [bos] + text + image, last token dropped.
  int64_t seq_len() const { return text_seq_len + image_seq_len(); }
  /// Text ids including one padding id per text position.
  int64_t total_text_tokens() const { return num_text_tokens + text_seq_len; }
  int64_t total_tokens() const { return total_text_tokens() + num_image_tokens; }
};

/// Standalone training settings (section [train]); defaults are the 2021 run's.
struct train_config {
  double learning_rate = 0.0025;
  double beta1 = 0.9;
  double beta2 = 0.96;
  double eps = 1e-6;
  double weight_decay = 0.045;
  double clamp_value = 1e4;   ///< weight norm clamp in LAMB's trust ratio
  double max_grad_norm = 4.0; ///< global clip after averaging
  int64_t warmup_steps = 3125;
  int64_t total_steps = 31250;
  int64_t target_batch_size = 4096; ///< samples per optimizer step
  int64_t micro_batch_size = 1;     ///< samples per forward/backward
  int64_t checkpoint_every = 1000;  ///< optimizer steps
  int64_t eval_every = 100;         ///< optimizer steps
  int64_t eval_samples = 256;       ///< held-out samples for validation loss
};

/// Both sections of one config file.
struct config_file {
  dalle_config model;
  train_config train;
};

/// Reads and validates a config file; the failure names the file and the key.
/// List values cycle to `depth` like dalle-pytorch's; "a, b, ..., z" cycles
/// the items before "..." and ends with the items after it.
result<config_file> load_config(const std::string& path);

/// Parses config text (for tests); `origin` names it in messages.
result<config_file> parse_config(const std::string& text, const std::string& origin);

/// The config as "key = value" lines, lists compacted back to their cycles.
std::string describe(const dalle_config& config);

/// Trainable parameters with shared tensors counted once (computed from the
/// shapes, without building the model).
int64_t parameter_count(const dalle_config& config);

} // namespace ttt::model
