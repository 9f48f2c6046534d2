#include "model/safetensors.hpp"

#include "model/json.hpp"

#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

namespace ttt::model {

namespace {

struct dtype_info {
  const char* name;
  torch::Dtype dtype;
  size_t bytes;
};

const dtype_info dtypes[] = {
  {"F32", torch::kFloat32, 4}, {"F16", torch::kFloat16, 2}, {"BF16", torch::kBFloat16, 2},
  {"F64", torch::kFloat64, 8}, {"I64", torch::kInt64, 8},   {"I32", torch::kInt32, 4},
  {"I16", torch::kInt16, 2},   {"I8", torch::kInt8, 1},     {"U8", torch::kUInt8, 1},
  {"BOOL", torch::kBool, 1},
};

const dtype_info* by_name(const std::string& n) {
  for (const auto& d : dtypes)
    if (n == d.name)
      return &d;
  return nullptr;
}

const dtype_info* by_dtype(torch::Dtype t) {
  for (const auto& d : dtypes)
    if (t == d.dtype)
      return &d;
  return nullptr;
}

} // namespace

std::string shape_text(torch::IntArrayRef s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i)
    out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

std::string list_some(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < 5; ++i)
    out += (i ? ", " : "") + names[i];
  if (names.size() > 5)
    out += " and " + std::to_string(names.size() - 5) + " more";
  return out;
}

status save_safetensors(const std::string& path, const tensor_list& tensors,
                        const std::map<std::string, std::string>& metadata) {
  std::ostringstream header;
  header << "{";
  bool first = true;
  if (!metadata.empty()) {
    header << "\"__metadata__\":{";
    for (auto it = metadata.begin(); it != metadata.end(); ++it)
      header << (it == metadata.begin() ? "" : ",") << json_quote(it->first) << ":" << json_quote(it->second);
    header << "}";
    first = false;
  }
  std::vector<torch::Tensor> data;
  size_t offset = 0;
  for (const auto& [name, t] : tensors) {
    auto* info = by_dtype(t.scalar_type());
    if (!info)
      return failure{"cannot write tensor '" + name + "' of dtype " + std::string(c10::toString(t.scalar_type())) +
                     " to safetensors"};
    auto c = t.detach().to(torch::kCPU).contiguous();
    size_t bytes = c.numel() * info->bytes;
    header << (first ? "" : ",") << json_quote(name) << ":{\"dtype\":\"" << info->name << "\",\"shape\":[";
    for (int64_t i = 0; i < c.dim(); ++i)
      header << (i ? "," : "") << c.size(i);
    header << "],\"data_offsets\":[" << offset << "," << offset + bytes << "]}";
    offset += bytes;
    first = false;
    data.push_back(c);
  }
  header << "}";
  std::string h = header.str();
  h.append((8 - h.size() % 8) % 8, ' '); // the format aligns the data to 8 bytes
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out)
      return failure{"cannot write '" + tmp + "'"};
    uint64_t n = h.size();
    unsigned char len[8];
    for (int i = 0; i < 8; ++i)
      len[i] = static_cast<unsigned char>(n >> (8 * i));
    out.write(reinterpret_cast<const char*>(len), 8);
    out.write(h.data(), static_cast<std::streamsize>(h.size()));
    for (const auto& c : data)
      out.write(static_cast<const char*>(c.data_ptr()), static_cast<std::streamsize>(c.numel() * c.element_size()));
    out.flush();
    if (!out)
      return failure{"writing '" + tmp + "' failed (disk full?)"};
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    return failure{"cannot rename '" + tmp + "' to '" + path + "'"};
  return ok();
}

result<tensor_list> load_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return failure{"cannot read weights file '" + path + "'"};
  in.seekg(0, std::ios::end);
  auto file_size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  auto bad = [&](const std::string& why) { return failure{"'" + path + "' is not a valid safetensors file: " + why}; };
  if (file_size < 8)
    return bad("shorter than its 8-byte header length");
  unsigned char len[8];
  in.read(reinterpret_cast<char*>(len), 8);
  uint64_t header_size = 0;
  for (int i = 0; i < 8; ++i)
    header_size |= static_cast<uint64_t>(len[i]) << (8 * i);
  if (header_size > 100'000'000 || 8 + header_size > file_size)
    return bad("header length " + std::to_string(header_size) + " does not fit the file of " +
               std::to_string(file_size) + " bytes");
  std::string header(header_size, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_size));
  auto json = parse_json(header);
  if (!json)
    return bad("header is not JSON (" + json.error() + ")");
  if (json->type != json_value::kind::object)
    return bad("header is not a JSON object");
  uint64_t data_size = file_size - 8 - header_size;
  struct entry {
    std::string name;
    const dtype_info* info;
    std::vector<int64_t> shape;
    uint64_t begin, end;
  };
  std::vector<entry> entries;
  for (const auto& [name, v] : json->object) {
    if (name == "__metadata__")
      continue;
    auto* dtype = v.find("dtype");
    auto* shape = v.find("shape");
    auto* offsets = v.find("data_offsets");
    if (!dtype || !shape || !offsets || dtype->type != json_value::kind::string ||
        shape->type != json_value::kind::array || offsets->type != json_value::kind::array || offsets->array.size() != 2)
      return bad("tensor '" + name + "' lacks dtype, shape or data_offsets");
    entry e{name, by_name(dtype->string), {}, 0, 0};
    if (!e.info)
      return bad("tensor '" + name + "' has unsupported dtype " + dtype->string);
    uint64_t numel = 1;
    for (const auto& s : shape->array) {
      if (s.type != json_value::kind::integer || s.integer < 0)
        return bad("tensor '" + name + "' has a malformed shape");
      e.shape.push_back(s.integer);
      numel *= static_cast<uint64_t>(s.integer);
    }
    if (offsets->array[0].type != json_value::kind::integer || offsets->array[1].type != json_value::kind::integer)
      return bad("tensor '" + name + "' has malformed data_offsets");
    e.begin = offsets->array[0].integer;
    e.end = offsets->array[1].integer;
    if (e.end < e.begin || e.end - e.begin != numel * e.info->bytes)
      return bad("tensor '" + name + "' has " + std::to_string(e.end - e.begin) + " bytes for shape " +
                 shape_text(e.shape) + " of " + dtype->string);
    if (e.end > data_size)
      return bad("tensor '" + name + "' ends at byte " + std::to_string(e.end) + " past the data (" +
                 std::to_string(data_size) + " bytes): truncated?");
    entries.push_back(std::move(e));
  }
  std::sort(entries.begin(), entries.end(), [](const entry& a, const entry& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < entries.size(); ++i)
    if (entries[i].begin < entries[i - 1].end)
      return bad("tensors '" + entries[i - 1].name + "' and '" + entries[i].name + "' overlap");
  tensor_list out;
  for (const auto& e : entries) {
    auto t = torch::empty(e.shape, torch::TensorOptions().dtype(e.info->dtype));
    in.seekg(static_cast<std::streamoff>(8 + header_size + e.begin));
    in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(e.end - e.begin));
    if (!in)
      return bad("cannot read the bytes of tensor '" + e.name + "'");
    out.emplace_back(e.name, t);
  }
  return out;
}

result<std::map<std::string, std::string>> read_safetensors_metadata(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return failure{"cannot read weights file '" + path + "'"};
  unsigned char len[8];
  in.read(reinterpret_cast<char*>(len), 8);
  uint64_t header_size = 0;
  for (int i = 0; i < 8; ++i)
    header_size |= static_cast<uint64_t>(len[i]) << (8 * i);
  if (!in || header_size > 100'000'000)
    return failure{"'" + path + "' is not a valid safetensors file"};
  std::string header(header_size, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_size));
  auto json = parse_json(header);
  if (!in || !json)
    return failure{"'" + path + "' is not a valid safetensors file"};
  std::map<std::string, std::string> out;
  if (auto* meta = json->find("__metadata__"))
    for (const auto& [k, v] : meta->object)
      if (v.type == json_value::kind::string)
        out[k] = v.string;
  return out;
}

tensor_list export_weights(const dalle_impl& model) {
  tensor_list out;
  for (const auto& nt : model.named_tensors())
    for (const auto& name : nt.names)
      out.emplace_back(name, nt.tensor.detach());
  return out;
}

status import_weights(dalle_impl& model, const tensor_list& tensors, const std::string& origin) {
  // The 2021 run's checkpoints wrap the model: its names start with "model.".
  std::map<std::string, torch::Tensor> by_name;
  for (const auto& [name, t] : tensors)
    by_name[name.rfind("model.", 0) == 0 ? name.substr(6) : name] = t;

  std::vector<std::string> missing, misshapen, disagreeing, unknown;
  std::set<std::string> known;
  std::vector<std::pair<torch::Tensor, torch::Tensor>> copies;
  for (const auto& nt : model.named_tensors()) {
    torch::Tensor found;
    std::string found_name;
    for (const auto& name : nt.names) {
      known.insert(name);
      auto it = by_name.find(name);
      if (it == by_name.end())
        continue;
      if (!it->second.is_floating_point() || it->second.sizes() != nt.tensor.sizes()) {
        misshapen.push_back(name + " " + shape_text(it->second.sizes()) + " (expected " + shape_text(nt.tensor.sizes()) +
                            ")");
        continue;
      }
      if (!found.defined()) {
        found = it->second;
        found_name = name;
      } else if (!torch::equal(found.to(torch::kFloat32), it->second.to(torch::kFloat32))) {
        disagreeing.push_back(found_name + " vs " + name);
      }
    }
    if (!found.defined()) {
      if (nt.trainable)
        missing.push_back(nt.names[0]);
      continue; // a recomputable buffer may be absent
    }
    if (nt.trainable) // buffers are recomputed from the config; their shape was checked
      copies.emplace_back(nt.tensor, found);
  }
  for (const auto& [name, t] : by_name)
    // The VAE and dalle-pytorch's recomputable logits mask are not ours to load.
    if (!known.count(name) && name.rfind("vae.", 0) != 0 && name != "logits_mask")
      unknown.push_back(name);
  std::string problems;
  if (!missing.empty())
    problems += "; missing " + std::to_string(missing.size()) + ": " + list_some(missing);
  if (!misshapen.empty())
    problems += "; misshapen " + std::to_string(misshapen.size()) + ": " + list_some(misshapen);
  if (!disagreeing.empty())
    problems += "; shared tensors that disagree: " + list_some(disagreeing);
  if (!unknown.empty())
    problems += "; unknown " + std::to_string(unknown.size()) + ": " + list_some(unknown);
  if (!problems.empty())
    return failure{"'" + origin + "' does not fit model " + model.config().name + problems.substr(1)};
  torch::NoGradGuard no_grad;
  for (auto& [dst, src] : copies) {
    auto target = dst;
    target.copy_(src.to(target.scalar_type()));
  }
  return ok();
}

status load_weights_file(dalle_impl& model, const std::string& path) {
  auto tensors = load_safetensors(path);
  if (!tensors)
    return failure{tensors.error()};
  return import_weights(model, *tensors, path);
}

} // namespace ttt::model
