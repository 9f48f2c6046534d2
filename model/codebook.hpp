#pragma once
// The shapes set's image tokenizer: a codebook of image patches learned by
// k-means; an image is the grid of its patches' nearest codes. Internal to
// model/ (includes torch).

#include "model/image.hpp"
#include "model/result.hpp"

#include <torch/torch.h>

#include <string>

namespace ttt::model {

struct patch_codebook {
  torch::Tensor centroids; ///< [codes, patch·patch·3], channel values in [0, 1]
  int patch = 8;           ///< patch side in pixels
  int image_size = 64;     ///< image side in pixels
  int grid() const { return image_size / patch; }
  int64_t codes() const { return centroids.size(0); }
};

/// k-means (k-means++ seeding) over every patch of `images`.
patch_codebook learn_codebook(const std::vector<rgb_image>& images, int64_t codes, int patch, uint64_t seed,
                              int iterations = 15);

/// The image's codes, row-major [grid·grid] int64.
torch::Tensor encode_image(const patch_codebook& codebook, const rgb_image& image);

/// Pixels of codes [grid·grid].
rgb_image decode_codes(const patch_codebook& codebook, const torch::Tensor& codes);

/// codebook.safetensors: tensor "codebook" [codes, patch, patch, 3].
status save_codebook(const std::string& path, const patch_codebook& codebook);
result<patch_codebook> load_codebook(const std::string& path);

} // namespace ttt::model
