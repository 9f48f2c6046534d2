#pragma once
// The DALL-E as the collaborative optimizer trains it: trainer::local_model
// implemented with libtorch (LAMB with the 2021 settings and schedule, global
// clipping after averaging; AdamW for DiLoCo's inner steps). Torch-free header.

#include "actors/trainer/local_model.hpp"
#include "model/adamw_settings.hpp"
#include "model/result.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace ttt::model {

struct swarm_model_options {
  std::string config;   ///< model config (.ini with [model] and [train])
  std::string data_dir; ///< train-*.shard files
  std::string peer_id = "peer"; ///< seeds this peer's data order
  std::string weights;  ///< optional safetensors to start from
  /// Every peer of a run starts from the same parameters: the model is
  /// initialized from this seed, not from the peer id.
  uint64_t init_seed = 0;
  /// DiLoCo's inner optimizer (inner_step); hivemind mode never creates it.
  adamw_settings inner;
  /// auto, cpu, cuda, cuda:N: where the model, its optimizer state and the
  /// batches live (a GPU computes in bf16 autocast; see model/device.hpp).
  std::string device = "auto";
  /// On a GPU, replay each micro-step as a captured CUDA graph (graphed_step).
  bool cuda_graph = true;
  /// Keep every layer's activations for the backward instead of recomputing
  /// them (reversible stacks): faster, much more memory (dalle-ttt on an H100:
  /// micro-batches of 8 kept beat 32 recomputed, see bench/RESULTS.md).
  bool keep_activations = false;
  /// Samples per forward/backward; 0: the config's [train] micro_batch_size.
  int64_t micro_batch_size = 0;
};

result<std::shared_ptr<trainer::local_model>> make_swarm_model(const swarm_model_options& options);

} // namespace ttt::model
