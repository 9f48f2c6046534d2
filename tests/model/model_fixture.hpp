#pragma once
// Helpers shared by the model tests: configs from the repository, random batches.
#include "model/config.hpp"
#include "model/dalle.hpp"

#include <boost/test/unit_test.hpp>

namespace ttt::model::testing {

inline dalle_config load_model_config(const std::string& name) {
  auto c = load_config(std::string(TTT_SOURCE_DIR) + "/configs/model/" + name + ".ini");
  BOOST_REQUIRE_MESSAGE(c, c.error());
  return c->model;
}

/// Text ids in [1, num_text_tokens) with trailing zero padding, image codes.
inline std::pair<torch::Tensor, torch::Tensor> random_batch(const dalle_config& c, int64_t batch, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  auto text = torch::randint(1, c.num_text_tokens, {batch, c.text_seq_len}, gen, torch::kLong);
  text.slice(1, c.text_seq_len - 3).zero_(); // padding: each position gets its own id
  auto image = torch::randint(0, c.num_image_tokens, {batch, c.image_seq_len()}, gen, torch::kLong);
  return {text, image};
}

/// Random q, k and v of axial attention (fused.hpp) in the projection's
/// layout [b, n, 3·h, dh], requiring gradients.
inline torch::Tensor axial_qkv(int64_t b, int64_t n, int64_t h, int64_t dh, const torch::TensorOptions& o) {
  return torch::randn({b, n, 3 * h, dh}, o).requires_grad_();
}

} // namespace ttt::model::testing
