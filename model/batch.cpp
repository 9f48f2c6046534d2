#include "model/batch.hpp"

namespace ttt::model {

// Samples → tensors; a sample sized for another model is a user error.
result<batch> to_batch(const std::vector<sample>& samples, const dalle_config& c, const std::string& data_dir) {
  auto text = torch::zeros({static_cast<int64_t>(samples.size()), c.text_seq_len}, torch::kLong);
  auto image = torch::zeros({static_cast<int64_t>(samples.size()), c.image_seq_len()}, torch::kLong);
  auto ta = text.accessor<int64_t, 2>();
  auto ia = image.accessor<int64_t, 2>();
  for (size_t i = 0; i < samples.size(); ++i) {
    const auto& s = samples[i];
    if (static_cast<int64_t>(s.image_codes.size()) != c.image_seq_len())
      return failure{"data '" + data_dir + "': a sample has " + std::to_string(s.image_codes.size()) +
                     " image codes, model " + c.name + " takes " + std::to_string(c.image_seq_len()) +
                     " (make the set with --config for this model)"};
    for (size_t j = 0; j < s.text_ids.size() && static_cast<int64_t>(j) < c.text_seq_len; ++j) {
      if (s.text_ids[j] < 0 || s.text_ids[j] >= c.num_text_tokens)
        return failure{"data '" + data_dir + "': text id " + std::to_string(s.text_ids[j]) + " is outside model " +
                       c.name + "'s " + std::to_string(c.num_text_tokens) + " text tokens"};
      ta[i][j] = s.text_ids[j];
    }
    for (int64_t j = 0; j < c.image_seq_len(); ++j) {
      if (s.image_codes[j] < 0 || s.image_codes[j] >= c.num_image_tokens)
        return failure{"data '" + data_dir + "': image code " + std::to_string(s.image_codes[j]) +
                       " is outside model " + c.name + "'s " + std::to_string(c.num_image_tokens) + " codes"};
      ia[i][j] = s.image_codes[j];
    }
  }
  return batch{text, image};
}

} // namespace ttt::model
