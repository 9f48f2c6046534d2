#pragma once
// Samples → the model's input tensors. Internal to model/ (torch).

#include "model/config.hpp"
#include "model/result.hpp"
#include "model/shards.hpp"

#include <torch/torch.h>

#include <string>
#include <vector>

namespace ttt::model {

struct batch {
  torch::Tensor text, image;
};

/// A sample sized for another model is a user error naming `data_dir`.
result<batch> to_batch(const std::vector<sample>& samples, const dalle_config& c,
                       const std::string& data_dir);

} // namespace ttt::model
