#pragma once
// taming-transformers' GumbelVQ, the VQGAN whose codes the 2021 run trained
// on, in libtorch: Encoder, Decoder, quant_conv, post_quant_conv and
// GumbelQuantize's proj and embed, with taming's module tree, so that the
// parameters' names are taming's state_dict names
// (encoder.down.0.block.1.norm2.weight, decoder.up.3.upsample.conv.bias,
// quantize.embed.weight, ...). encode and decode are dalle-pytorch's
// VQGanVAE.get_codebook_indices and VQGanVAE.decode. Internal to model/
// (includes torch); apps/ use model/vqgan_api.hpp.

#include "model/image.hpp"
#include "model/result.hpp"
#include "model/safetensors.hpp"
#include "model/vqgan_config.hpp"

#include <torch/torch.h>

#include <optional>
#include <string>
#include <vector>

namespace ttt::model {

/// Where the VQGAN's tensors live and how they start.
struct vqgan_init {
  /// The tensors' device and dtype; the meta device gives shapes without memory.
  torch::TensorOptions options = torch::TensorOptions().dtype(torch::kFloat32);
  /// Seeds PyTorch's default initialization (uniform ±1/√fan_in for
  /// convolutions, N(0, 1) codes, GroupNorm 1 and 0); nullopt leaves the
  /// tensors unset, for weights that are loaded next.
  std::optional<uint64_t> seed = 0;
};

namespace taming {

/// Makes the modules' tensors as a vqgan_init says (defined in vqgan.cpp).
class tensor_maker;

/// nn.Conv2d (weight, bias) with a fixed stride and zero padding.
struct conv2d_impl : torch::nn::Module {
  conv2d_impl(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding, tensor_maker& make);
  torch::Tensor forward(const torch::Tensor& x) const;
  torch::Tensor weight, bias;
  int64_t stride, padding;
};
TORCH_MODULE_IMPL(conv2d, conv2d_impl);

/// taming's Normalize: GroupNorm(32 groups, eps 1e-6, affine).
struct group_norm_impl : torch::nn::Module {
  group_norm_impl(int64_t channels, tensor_maker& make);
  torch::Tensor forward(const torch::Tensor& x) const;
  torch::Tensor weight, bias;
};
TORCH_MODULE_IMPL(group_norm, group_norm_impl);

/// norm1, swish, conv1, norm2, swish, (dropout), conv2, plus the input
/// (through nin_shortcut, a 1×1 conv, when the channels change). No time
/// embedding: a VQGAN has none.
struct resnet_block_impl : torch::nn::Module {
  resnet_block_impl(int64_t in, int64_t out, tensor_maker& make);
  torch::Tensor forward(const torch::Tensor& x) const;
  group_norm norm1{nullptr}, norm2{nullptr};
  conv2d conv1{nullptr}, conv2{nullptr}, nin_shortcut{nullptr};
};
TORCH_MODULE_IMPL(resnet_block, resnet_block_impl);

/// Single-head self-attention over the h·w positions: norm, 1×1 q, k, v,
/// softmax(qᵀk / √c), proj_out, plus the input.
struct attn_block_impl : torch::nn::Module {
  attn_block_impl(int64_t channels, tensor_maker& make);
  torch::Tensor forward(const torch::Tensor& x) const;
  group_norm norm{nullptr};
  conv2d q{nullptr}, k{nullptr}, v{nullptr}, proj_out{nullptr};
};
TORCH_MODULE_IMPL(attn_block, attn_block_impl);

/// Halves the side: zero padding (0, 1, 0, 1), then a 3×3 conv of stride 2.
struct downsample_impl : torch::nn::Module {
  downsample_impl(int64_t channels, tensor_maker& make);
  torch::Tensor forward(const torch::Tensor& x) const;
  conv2d conv{nullptr};
};
TORCH_MODULE_IMPL(downsample, downsample_impl);

/// Doubles the side: nearest neighbour ×2, then a 3×3 conv.
struct upsample_impl : torch::nn::Module {
  upsample_impl(int64_t channels, tensor_maker& make);
  torch::Tensor forward(const torch::Tensor& x) const;
  conv2d conv{nullptr};
};
TORCH_MODULE_IMPL(upsample, upsample_impl);

/// One resolution of the encoder (down[i]) or decoder (up[i]): res blocks,
/// each followed by attention at the config's attn_resolutions, then the
/// change of resolution unless it is the last level of its way.
struct level_impl : torch::nn::Module {
  enum class resample { none, down, up };
  level_impl(int64_t in, int64_t out, int64_t blocks, bool attention, resample change, tensor_maker& make);
  torch::Tensor forward(torch::Tensor x) const;
  std::vector<resnet_block> blocks; ///< registered as "block"
  std::vector<attn_block> attns;    ///< registered as "attn"; empty or one per block
  downsample down{nullptr};         ///< "downsample" (encoder)
  upsample up{nullptr};             ///< "upsample" (decoder)
};
TORCH_MODULE_IMPL(level, level_impl);

/// mid.block_1, mid.attn_1, mid.block_2.
struct middle_impl : torch::nn::Module {
  middle_impl(int64_t channels, tensor_maker& make);
  torch::Tensor forward(const torch::Tensor& x) const;
  resnet_block block_1{nullptr}, block_2{nullptr};
  attn_block attn_1{nullptr};
};
TORCH_MODULE_IMPL(middle, middle_impl);

/// Pixels in [-1, 1] [B, in_channels, H, W] → z [B, z_channels, H/f, W/f].
struct encoder_impl : torch::nn::Module {
  encoder_impl(const vqgan_config& config, tensor_maker& make);
  torch::Tensor forward(const torch::Tensor& x) const;
  conv2d conv_in{nullptr}, conv_out{nullptr};
  std::vector<level> down; ///< registered as "down", down[0] at full resolution
  middle mid{nullptr};
  group_norm norm_out{nullptr};
};
TORCH_MODULE_IMPL(encoder, encoder_impl);

/// z [B, z_channels, h, w] → pixels, about [-1, 1], [B, out_ch, f·h, f·w].
/// up[i] is the level of down[i]'s resolution, run from the last to up[0].
struct decoder_impl : torch::nn::Module {
  decoder_impl(const vqgan_config& config, tensor_maker& make);
  torch::Tensor forward(const torch::Tensor& z) const;
  conv2d conv_in{nullptr}, conv_out{nullptr};
  middle mid{nullptr};
  std::vector<level> up; ///< registered as "up"
  group_norm norm_out{nullptr};
};
TORCH_MODULE_IMPL(decoder, decoder_impl);

/// GumbelQuantize's tensors: proj (1×1 conv, z_channels → n_embed logits)
/// and embed (nn.Embedding(n_embed, embed_dim), the code vectors).
struct gumbel_quantize_impl : torch::nn::Module {
  gumbel_quantize_impl(const vqgan_config& config, tensor_maker& make);
  conv2d proj{nullptr};
  std::shared_ptr<torch::nn::Module> embed; ///< holds "weight" [n_embed, embed_dim]
  torch::Tensor embed_weight;
};
TORCH_MODULE_IMPL(gumbel_quantize, gumbel_quantize_impl);

} // namespace taming

class vqgan_impl : public torch::nn::Module {
public:
  explicit vqgan_impl(const vqgan_config& config, const vqgan_init& init = {});

  const vqgan_config& config() const { return config_; }

  /// The quantizer's logits [B, n_embed, H/f, W/f] of pixels [B, 3, H, W] in
  /// [0, 1]: 2x − 1 → encoder → quant_conv → quantize.proj.
  torch::Tensor code_logits(const torch::Tensor& pixels) const;

  /// Codes [B, (H/f)·(W/f)], row-major: the argmax of code_logits. With
  /// `gumbel`, Gumbel(0, 1) noise drawn from it (on the CPU) is added first:
  /// the argmax of the 2021 code's gumbel_softmax at any temperature.
  torch::Tensor encode(const torch::Tensor& pixels, std::optional<at::Generator> gumbel = std::nullopt) const;

  /// Pixels [B, 3, f·s, f·s] in [0, 1] of codes [B, s²] (row-major square
  /// grids): quantize.embed rows → post_quant_conv → decoder →
  /// (clamp(x, −1, 1) + 1) / 2.
  torch::Tensor decode(const torch::Tensor& codes) const;

  /// Every parameter under its taming state_dict name, in a stable order.
  tensor_list named_tensors() const;

  taming::encoder encoder{nullptr};
  taming::decoder decoder{nullptr};
  taming::conv2d quant_conv{nullptr}, post_quant_conv{nullptr};
  taming::gumbel_quantize quantize{nullptr};

private:
  vqgan_config config_;
};
TORCH_MODULE_IMPL(vqgan, vqgan_impl);

/// Copies taming state_dict tensors into the model (converted to its dtype).
/// Accepts the names with dalle-pytorch's `vae.model.` prefix (a DALL-E
/// checkpoint holding its VQGanVAE; other names are then not the VQGAN's) and
/// ignores taming's `loss.*` (discriminator, LPIPS); refuses missing,
/// misshapen and unknown tensors, naming them. `origin` names the source.
status import_vqgan_weights(vqgan_impl& model, const tensor_list& tensors, const std::string& origin);

/// A VQGAN built from its config and loaded from its weights.
struct loaded_vqgan {
  vqgan_config config;
  std::string config_text; ///< the .ini text, kept in the weights files ttt writes
  vqgan model{nullptr};
};

/// The metadata key under which ttt keeps a VQGAN config's text in a weights file.
inline constexpr const char* vqgan_config_metadata = "ttt_vqgan_config";

/// Reads the config from `config_path`, else from the weights' metadata
/// (vqgan_config_metadata), else from `fallback_config_text` (a data set's
/// image_coder record); builds the model on the CPU and loads the weights.
result<loaded_vqgan> load_vqgan(const std::string& config_path, const std::string& weights_path,
                                const std::string& fallback_config_text = "");

/// [B, 3, side, side] float in [0, 1]: each image scaled (bilinear,
/// antialiased) so that its shorter side is `side`, then centre-cropped.
torch::Tensor pixels_of(const std::vector<rgb_image>& images, int64_t side);

/// RGB images of pixels [B, 3, H, W] in [0, 1] (rounded to 8 bits).
std::vector<rgb_image> images_of(const torch::Tensor& pixels);

} // namespace ttt::model
