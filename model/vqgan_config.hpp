#pragma once
// The VQGAN's architecture (taming-transformers' GumbelVQ) read from an .ini
// file whose keys are taming's yaml names: `embed_dim`, `n_embed` and the
// ddconfig's keys, in one section [vqgan] (configs/vqgan/). Torch-free: apps/
// include it.

#include "model/result.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace ttt::model {

struct vqgan_config {
  std::string name;                 ///< the file's stem, e.g. "gumbel-f8"
  std::string quantizer = "gumbel"; ///< taming's GumbelQuantize (the only one implemented)
  int64_t embed_dim = 0;            ///< code vectors' width (quantize.embed's columns)
  int64_t n_embed = 0;              ///< codes in the codebook
  int64_t z_channels = 0;           ///< the encoder's output and the decoder's input channels
  int64_t resolution = 0;           ///< image side in pixels
  int64_t in_channels = 3;
  int64_t out_ch = 3;
  int64_t ch = 0;                   ///< base channels; level i has ch · ch_mult[i]
  std::vector<int64_t> ch_mult;     ///< one entry per level; levels − 1 halvings
  int64_t num_res_blocks = 0;       ///< per encoder level (the decoder has one more)
  std::vector<int64_t> attn_resolutions; ///< feature-map sides at which levels add attention

  /// Pixels per code along a side (f): 2^(levels − 1).
  int64_t downsampling() const { return int64_t{1} << (ch_mult.size() - 1); }
  /// Codes per side of a resolution² image.
  int64_t grid() const { return resolution / downsampling(); }
  int64_t codes_per_image() const { return grid() * grid(); }
};

/// Reads and validates a config file; the failure names the file and the key.
result<vqgan_config> load_vqgan_config(const std::string& path);

/// Parses config text (the metadata of a weights file, tests); `origin` names
/// it in messages and gives the config its name.
result<vqgan_config> parse_vqgan_config(const std::string& text, const std::string& origin);

/// The config as "key = value" lines.
std::string describe(const vqgan_config& config);

/// Parameters of the encoder, decoder, quant_conv, post_quant_conv and the
/// quantizer's proj and embed, computed from the shapes alone (68,995,971
/// for gumbel-f8).
int64_t parameter_count(const vqgan_config& config);

} // namespace ttt::model
