#pragma once
// The torch-free face of model/: what `ttt` subcommands call. Every function
// reports an expected failure (a bad file, a shape that does not fit) as a
// value whose message names the file.

#include "model/config.hpp"
#include "model/result.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace ttt::model {

/// What `ttt model info` prints.
struct model_summary {
  std::string description; ///< the configuration, one "key = value" a line
  int64_t parameters = 0;  ///< trainable, shared tensors counted once (from the built model)
  int64_t distinct_attention = 0;
  int64_t distinct_feed_forward = 0;
};

/// Builds the model of a config file and describes it.
result<model_summary> summarize_model(const std::string& config_path);

/// The three losses of one batch, in eval mode.
struct batch_losses {
  double loss = 0, loss_text = 0, loss_img = 0;
};

/// `batch_path` holds {"text": [[ids...]...], "image": [[codes...]...]}.
/// Without weights the model is freshly initialized (seeded).
result<batch_losses> evaluate_batch(const std::string& config_path, const std::string& weights_path,
                                    const std::string& batch_path);

/// Where a model comes from: a checkpoint directory (its config and weights)
/// or a config plus an optional safetensors file.
struct model_source {
  std::string checkpoint; ///< a checkpoint directory, or a run's --out directory (latest checkpoint)
  std::string config;     ///< needed unless checkpoint is set
  std::string weights;    ///< safetensors with dalle-pytorch names; overrides the checkpoint's
};

/// The checkpoint directory `path` names: itself when it holds model.safetensors,
/// else the latest of the checkpoint directories in it (a node's
/// DATA_DIR/checkpoints) or in path/checkpoints/ (a node's DATA_DIR, a
/// training run's --out).
result<std::string> resolve_checkpoint(const std::string& path);

/// Writes the source's weights to `out_path` as safetensors with every
/// dalle-pytorch name (shared tensors repeated). Returns the tensor count.
result<int64_t> export_model(const model_source& source, const std::string& out_path);

} // namespace ttt::model

namespace ttt::model {

/// `ttt data shapes`: the synthetic set, sized for one model's grid.
struct shapes_options {
  std::string out_dir;
  int64_t count = 1000;       ///< training samples
  int64_t valid_count = -1;   ///< held-out samples; -1: count/10 (at least 16)
  uint64_t seed = 1;
  int64_t grid = 8;           ///< image codes per side (dalle-tiny 8, dalle-small 16)
  int64_t codes = 64;         ///< codebook size (num_image_tokens)
  int64_t text_seq_len = 16;  ///< caption ids per sample
  int64_t vocab_size = 64;    ///< tokenizer pieces at most (≤ num_text_tokens)
  int64_t shard_size = 5000;  ///< records per shard file
};

struct shapes_report {
  int64_t train = 0, valid = 0;
  int64_t grid = 0, patch = 0, codes = 0;
  int64_t truncated_captions = 0;
  double reconstruction_score = 0; ///< score of decoded codes against captions (1 = perfect)
  double reconstruction_error = 0; ///< mean absolute pixel error of decoded codes, 0..255
};

/// Renders scenes, trains the tokenizer, learns the codebook, writes
/// train-*.shard, valid-*.shard, tokenizer.model, codebook.safetensors and
/// preview.png into `out_dir`. `progress` gets one line at a time.
result<shapes_report> make_shapes_dataset(const shapes_options& options,
                                          const std::function<void(const std::string&)>& progress);

/// `ttt data inspect`: a shard's first `show` records and its totals, as text.
result<std::string> inspect_shard(const std::string& path, int64_t show);

/// `ttt data tokenizer`: trains a SentencePiece model on the captions of a
/// shard (or every shard of a directory).
result<int64_t> train_tokenizer_on(const std::string& shard_or_dir, int64_t vocab_size, const std::string& out_path,
                                   const std::string& model_type = "unigram");

/// `ttt data tokenize`: rewrites a shard with every caption's ids from a
/// SentencePiece model file (a user's own, or one `ttt data tokenizer` made),
/// cut or padded with 0 to `text_seq_len`. Returns the records written.
result<int64_t> retokenize_shard(const std::string& tokenizer_path, int64_t text_seq_len, const std::string& in_path,
                                 const std::string& out_path);

} // namespace ttt::model

namespace ttt::model {

/// `ttt train`: standalone training on this machine.
struct train_options {
  std::string config;      ///< model config (.ini with [model] and [train])
  std::string data_dir;    ///< train-*.shard and valid-*.shard (+ tokenizer.model, codebook.safetensors)
  std::string out_dir;     ///< checkpoints go to out_dir/checkpoints/step-NNNNNNNN; empty: none
  std::string weights;     ///< start from these safetensors instead of a fresh model
  std::string peer_id = "standalone"; ///< seeds the data order
  int64_t steps = -1;      ///< optimizer steps to run now; -1: up to the schedule's total_steps
  int64_t target_batch_size = -1; ///< overrides [train]
  int64_t micro_batch_size = -1;  ///< overrides [train]
  int64_t eval_every = -1;        ///< overrides [train]
  int64_t checkpoint_every = -1;  ///< overrides [train]
  bool resume = true;      ///< continue from out_dir's latest checkpoint when there is one
  bool recompute = true;   ///< reversible backward recomputes activations (false: faster, more memory)
  std::string device = "auto"; ///< auto, cpu, cuda, cuda:N (a GPU trains in bf16 autocast)
};

struct train_report {
  int64_t first_step = 0, last_step = 0;
  double first_valid_loss = 0, last_valid_loss = 0;
  double samples_per_second = 0;
  std::string last_checkpoint;
};

/// Runs the training loop; `log` gets the progress lines.
result<train_report> train_model(const train_options& options, const std::function<void(const std::string&)>& log);

} // namespace ttt::model

namespace ttt::model {

/// How image codes are drawn from the model's distribution.
struct sampling_options {
  int64_t top_k = 0;        ///< keep the k likeliest codes; 0: all
  double top_p = 1.0;       ///< keep the smallest set with this much probability; 1: all
  double temperature = 1.0;
  uint64_t seed = 0;
};

/// Where the text tokenizer and the image coder come from: explicit
/// files, else the checkpoint directory, else the data directory.
struct codec_files {
  std::string tokenizer;
  std::string codebook;
  std::string data_dir;
  std::string vqgan;        ///< VQGAN weights (safetensors, taming's names): decode with it, not a codebook
  std::string vqgan_config; ///< its config, where neither the weights nor the data's image_coder.json carry it
};

/// `ttt generate`: `count` images for one prompt, as a PNG grid (one image:
/// the image alone). The codes become pictures through the VQGAN when
/// `codecs.vqgan` is given or the data's image_coder.json (in the checkpoint,
/// else the data directory) names one, else through the codebook; a missing
/// coder is named. Returns the prompt's ids as text for the user.
result<std::string> generate_images(const model_source& source, const codec_files& codecs, const std::string& prompt,
                                    int64_t count, const sampling_options& sampling, const std::string& out_png);

/// What an aux peer publishes of one checkpoint (actors/metrics/publisher.hpp).
struct publish_options {
  std::string weights_out;          ///< where to write the weights, as `ttt export` writes them
  std::string samples_out;          ///< where to write the PNG grid, a row per prompt; empty: no pictures
  std::vector<std::string> prompts; ///< the grid's rows, top to bottom
  int64_t sample_count = 4;         ///< pictures per prompt
  codec_files codecs;               ///< where the checkpoint carries no tokenizer or image coder
  sampling_options sampling;        ///< its fixed seed draws the same pictures from the same state
};

struct publish_report {
  /// Hex BLAKE2b-64 of the trainable parameters as float32, flattened in the
  /// order the swarm model keeps them: what trainers log as "parameters" for
  /// the same state (actors/trainer/records.hpp's parameters_digest).
  std::string parameters_digest;
  int64_t tensors = 0; ///< written to weights_out
};

/// Loads the checkpoint directory once, writes its weights and, when asked,
/// its sample pictures, and digests its parameters.
result<publish_report> publish_checkpoint(const std::string& checkpoint_dir, const publish_options& options);

struct shapes_eval_report {
  double score = 0;           ///< mean score_picture of generated images (0..1)
  double reference_score = 0; ///< the same for the codebook's own rendering of the true scenes
  int64_t prompts = 0;
};

/// `ttt eval shapes`: generates one image for each of `count` random shapes
/// captions (seeded) and scores whether the requested colours and shapes
/// appear where asked. Writes the images to `out_png` when it is not empty.
result<shapes_eval_report> eval_shapes(const model_source& source, const codec_files& codecs, int64_t count,
                                       uint64_t seed, const sampling_options& sampling, const std::string& out_png);

/// `ttt eval loss`: the model's mean loss per sample over the first
/// `samples` held-out samples (valid-*.shard) of `data_dir`, as `ttt train`
/// reports it: how far runs that trained differently got.
result<double> validation_loss(const model_source& source, const std::string& data_dir, int64_t samples,
                               const std::string& device);

} // namespace ttt::model
