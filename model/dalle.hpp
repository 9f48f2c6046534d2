#pragma once
// DALL-E exactly as the 2021 run's dalle-pytorch (MODEL.md), in libtorch.
// Internal to model/ (includes torch); apps/ use model/api.hpp.

#include "model/config.hpp"

#include <torch/torch.h>

#include <string>
#include <unordered_map>
#include <vector>

namespace ttt::model {

/// Attention of one id: dalle-pytorch's Attention/SparseAxialCausalAttention/
/// SparseConvCausalAttention share these weights and differ only in the mask.
struct attention_impl : torch::nn::Module {
  attention_impl(int64_t dim, int64_t heads, int64_t dim_head);
  torch::nn::Linear to_qkv{nullptr};
  torch::nn::Linear to_out{nullptr};
};
TORCH_MODULE_IMPL(attention, attention_impl);

/// Linear(dim, 2·mult·dim), GEGLU with exact gelu, Linear(mult·dim, dim).
struct feed_forward_impl : torch::nn::Module {
  feed_forward_impl(int64_t dim, int64_t mult);
  /// The block's output times LayerScale `scale` [1, 1, dim], folded into the output projection.
  /// `kernels`: GEGLU may run as ttt's CUDA kernel (fused.hpp).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& scale, bool kernels = true);
  torch::nn::Linear net0{nullptr};
  torch::nn::Linear net3{nullptr};
};
TORCH_MODULE_IMPL(feed_forward, feed_forward_impl);

/// linear(x) as at::linear computes it (the bias inside the matmul).
torch::Tensor project(const torch::Tensor& x, const torch::nn::Linear& linear);

/// linear(x)·scale for a LayerScale [1, 1, out], computed as one projection.
torch::Tensor scaled_linear(const torch::Tensor& x, const torch::nn::Linear& linear, const torch::Tensor& scale);

/// What a layer owns alone: LayerScale and PreNorm around the shared modules.
struct layer_impl : torch::nn::Module {
  layer_impl(int64_t dim, int64_t depth_1based);
  torch::Tensor scale_f, scale_g;
  torch::nn::LayerNorm norm_f{nullptr}, norm_g{nullptr};
};
TORCH_MODULE_IMPL(layer, layer_impl);

/// One tensor of the model and every dalle-pytorch name it goes by (the first
/// is the canonical one; shared tensors have several).
struct named_tensor {
  std::vector<std::string> names;
  torch::Tensor tensor;
  bool trainable = true;
};

/// Per-layer key/value cache and the normalized inputs token shift reads.
struct generation_cache {
  int64_t position = 0; ///< the next position to feed
  std::vector<torch::Tensor> keys, values; ///< per layer [B, H, t, Dh], rotary applied
  std::vector<torch::Tensor> f_inputs, g_inputs; ///< per layer [B, t, dim], normalized, before the shift
};

class dalle_impl : public torch::nn::Module {
public:
  explicit dalle_impl(const dalle_config& config);

  const dalle_config& config() const { return config_; }

  /// Token ids of [bos] + text with padding ids per position; text [B, text_seq_len].
  torch::Tensor prepare_text(const torch::Tensor& text) const;

  /// The input sequence: embedded [bos] + text + image (image [B, k], k ≤ image_seq_len,
  /// a full image loses its last code). [B, n, dim].
  torch::Tensor embed(const torch::Tensor& text, const torch::Tensor& image) const;

  /// The transformer stack on [B, n, dim]; recomputes activations in backward
  /// when recompute() is set and the architecture is reversible.
  torch::Tensor transform(const torch::Tensor& tokens);

  /// Masked logits [B, n, total_tokens] for text and (possibly partial) image.
  torch::Tensor forward(const torch::Tensor& text, const torch::Tensor& image);

  struct losses {
    torch::Tensor loss, loss_text, loss_img;
  };
  /// (CE_text + w·CE_image)/(w + 1) for a full image [B, image_seq_len].
  losses loss(const torch::Tensor& text, const torch::Tensor& image);

  /// Feeds one token (vocabulary id) per sample at cache.position; returns the
  /// masked logits [B, total_tokens] predicting the next token.
  torch::Tensor step(generation_cache& cache, const torch::Tensor& token_ids);

  /// Activation recomputation for reversible stacks (on by default).
  void set_recompute(bool on) { recompute_ = on; }
  bool recompute() const { return recompute_; }

  /// The faster paths the model takes where they apply (both by default);
  /// off, libtorch's plainer ops give the same results (to compare them).
  struct fast_paths {
    bool kernels = true;              ///< ttt's CUDA kernels (fused.hpp), on a GPU of a build with them
    bool structured_attention = true; ///< axial layers as text + own line (GPU: merged flash; CPU: from 16×16 grids)
  };
  void set_fast_paths(const fast_paths& paths) { fast_paths_ = paths; }
  /// True when the CPU computes this config's axial layers by their structure
  /// (with structured_attention): it pays from 16×16 grids on.
  static bool cpu_attention_by_structure(const dalle_config& c) { return c.image_fmap_size >= 16; }

  /// Every tensor with its dalle-pytorch names, in a stable order.
  std::vector<named_tensor> named_tensors() const;
  /// The trainable ones under their canonical names (what optimizers take).
  std::vector<std::pair<std::string, torch::Tensor>> trainable_tensors() const;

  // Pieces of the stack, public for the reversible function and tests.
  torch::Tensor block_f(size_t layer, const torch::Tensor& x);
  torch::Tensor block_g(size_t layer, const torch::Tensor& x);
  std::vector<torch::Tensor> block_f_parameters(size_t layer) const;
  std::vector<torch::Tensor> block_g_parameters(size_t layer) const;
  /// The parameters the stack uses (each once), the order the reversible function sees.
  const std::vector<torch::Tensor>& stack_parameters() const { return stack_params_; }
  size_t stack_parameter_index(const torch::Tensor& p) const;
  /// True where a query may not see a key, for layer `layer`'s attention type. [n, n]
  torch::Tensor blocked(size_t layer, int64_t n) const;
  size_t attention_index(size_t layer) const { return attn_index_[layer]; }
  size_t feed_forward_index(size_t layer) const { return ff_index_[layer]; }
  const std::vector<attention>& attentions() const { return attns_; }
  const std::vector<feed_forward>& feed_forwards() const { return ffs_; }
  const std::vector<layer>& layers() const { return layers_; }
  torch::nn::LayerNorm final_norm() const { return final_norm_; }
  torch::nn::Linear to_logits() const { return to_logits_; }
  /// dalle-pytorch's `transformer.pos_emb` buffer: [1, seq_len + 1, 6m] angles.
  torch::Tensor pos_emb() const { return pos_emb_; }

  /// Token shift of normalized [B, n, dim] inputs (bf16 under autocast on a GPU).
  torch::Tensor shift(const torch::Tensor& normed) const;

private:
  torch::Tensor attend(size_t layer, const torch::Tensor& shifted);
  /// Axial layers by their structure (fused.hpp's axial_attention) from the
  /// rotated qkv [B, n, 3·H, Dh], as [B, n, H, Dh]; undefined where the layer
  /// or the fast paths do not take it (attend then takes the paths below).
  torch::Tensor structured_attention(size_t layer, const torch::Tensor& qkv, double scale) const;
  /// Attention of rotated q, k, v [B, H, n, Dh] with explicit masked scores (the CPU).
  torch::Tensor explicit_attention(size_t layer, const torch::Tensor& q, const torch::Tensor& k,
                                   const torch::Tensor& v, double scale) const;
#ifdef TTT_WITH_CUDA
  /// Attention of rotated q, k, v [B, H, n, Dh] through libtorch's fused kernels (axial layers per line).
  torch::Tensor fused_attention(size_t layer, torch::Tensor q, torch::Tensor k, torch::Tensor v, double scale) const;
#endif
  /// Rotary embedding of positions begin..begin+n, found on `position_dim` of t [..., Dh].
  torch::Tensor rotate(const torch::Tensor& t, int64_t begin, int64_t n, int64_t position_dim) const;
  torch::Tensor mask_logits(const torch::Tensor& logits, int64_t begin) const;
  torch::Tensor shift_one(const torch::Tensor& cached, int64_t position) const;

  dalle_config config_;
  bool recompute_ = true;
  fast_paths fast_paths_;
  std::vector<attention> attns_;
  std::vector<feed_forward> ffs_;
  std::vector<layer> layers_;
  std::vector<size_t> attn_index_, ff_index_;
  torch::nn::LayerNorm final_norm_{nullptr};
  torch::nn::Linear to_logits_{nullptr};
  torch::Tensor pos_emb_, rot_cos_, rot_sin_, line_allowed_;
  std::unordered_map<std::string, torch::Tensor> blocked_by_type_;
  std::vector<torch::Tensor> stack_params_;
  std::unordered_map<const void*, size_t> stack_param_index_;
};
TORCH_MODULE_IMPL(dalle, dalle_impl);

} // namespace ttt::model
