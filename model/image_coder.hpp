#pragma once
// Which image coder turned a data set's pictures into codes. Recorded as
// image_coder.json beside the shards and copied into every checkpoint, so
// that `ttt generate` turns codes back into pictures with the same coder, or
// says which one it lacks. Torch-free.
//
//   {"kind": "vqgan", "name": "gumbel-f8", "codes": 8192, "grid": 32, "image_size": 256, "config": "<.ini text>"}
//   {"kind": "codebook", "name": "shapes", "codes": 64, "grid": 8, "image_size": 64}

#include "model/result.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace ttt::model {

struct image_coder_record {
  std::string kind;      ///< "codebook" (codebook.safetensors beside it) or "vqgan"
  std::string name;      ///< the coder's config name, e.g. "gumbel-f8"
  int64_t codes = 0;     ///< codebook size: the model's num_image_tokens
  int64_t grid = 0;      ///< codes per side: the model's image_fmap_size
  int64_t image_size = 0; ///< pixels per side of a decoded image
  std::string config;    ///< vqgan: its config's .ini text (configs/vqgan/), so weights alone suffice
};

/// The record's file name in a data directory or checkpoint.
inline constexpr const char* image_coder_file = "image_coder.json";

/// Writes dir/image_coder.json.
status write_image_coder(const std::string& dir, const image_coder_record& record);

/// dir/image_coder.json, nullopt when the directory has none; a malformed
/// record is a failure naming the file.
result<std::optional<image_coder_record>> read_image_coder(const std::string& dir);

} // namespace ttt::model
