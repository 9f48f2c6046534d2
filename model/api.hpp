#pragma once
// The torch-free face of model/: what `ttt` subcommands call. Every function
// reports an expected failure (a bad file, a shape that does not fit) as a
// value whose message names the file.

#include "model/config.hpp"
#include "model/result.hpp"

#include <cstdint>
#include <string>

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
/// else the latest under path/checkpoints/.
result<std::string> resolve_checkpoint(const std::string& path);

/// Writes the source's weights to `out_path` as safetensors with every
/// dalle-pytorch name (shared tensors repeated). Returns the tensor count.
result<int64_t> export_model(const model_source& source, const std::string& out_path);

} // namespace ttt::model
