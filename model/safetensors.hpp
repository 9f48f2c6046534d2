#pragma once
// safetensors files (the format of huggingface/safetensors): an 8-byte
// little-endian header length, a JSON header of name → dtype, shape, byte
// range, then the raw bytes. Weight names are dalle-pytorch's (MODEL.md).

#include "model/dalle.hpp"
#include "model/result.hpp"

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace ttt::model {

using tensor_list = std::vector<std::pair<std::string, torch::Tensor>>;

/// Writes `tensors` (any dtype torch and safetensors share) atomically: a
/// temporary file renamed into place.
status save_safetensors(const std::string& path, const tensor_list& tensors,
                        const std::map<std::string, std::string>& metadata = {});

/// Reads every tensor; refuses a truncated or inconsistent file with the
/// file and the offending tensor named.
result<tensor_list> load_safetensors(const std::string& path);

/// The header's "__metadata__" strings (empty when there are none).
result<std::map<std::string, std::string>> read_safetensors_metadata(const std::string& path);

/// The model's tensors under every dalle-pytorch name (shared tensors
/// repeated), as dalle-pytorch's state_dict would list them.
tensor_list export_weights(const dalle_impl& model);

/// Copies `tensors` into the model. Accepts the `model.` prefix of the 2021
/// checkpoints and a shared tensor under any one of its names; refuses
/// missing, misshapen and disagreeing tensors and unknown names (`vae.*` and
/// `logits_mask` are ignored), naming them. `origin` names the source in messages.
status import_weights(dalle_impl& model, const tensor_list& tensors, const std::string& origin);

/// "[2, 3, 4]": a shape in the messages about tensors.
std::string shape_text(torch::IntArrayRef sizes);
/// The first five of `names`, comma-separated, and how many more.
std::string list_some(const std::vector<std::string>& names);

/// load_safetensors + import_weights.
status load_weights_file(dalle_impl& model, const std::string& path);

} // namespace ttt::model
