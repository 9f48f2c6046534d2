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

/// Random inputs of the merged axial attention (fused.hpp), requiring
/// gradients: image queries [b, h, cells, dh], text keys and values
/// [b, h, t, dh], the cells' keys and values [b, h, cells, dh].
inline std::vector<torch::Tensor> axial_attention_inputs(int64_t b, int64_t h, int64_t t, int64_t cells, int64_t dh,
                                                         const torch::TensorOptions& o) {
  std::vector<torch::Tensor> in = {torch::randn({b, h, cells, dh}, o), torch::randn({b, h, t, dh}, o),
                                   torch::randn({b, h, t, dh}, o), torch::randn({b, h, cells, dh}, o),
                                   torch::randn({b, h, cells, dh}, o)};
  for (auto& x : in)
    x.requires_grad_();
  return in;
}

} // namespace ttt::model::testing
