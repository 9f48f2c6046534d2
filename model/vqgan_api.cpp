#include "model/vqgan_api.hpp"

#include "model/device.hpp"
#include "model/json.hpp"
#include "model/loading.hpp"
#include "model/vqgan.hpp"

#include <chrono>
#include <cmath>
#include <fstream>
#include <sstream>

namespace ttt::model {

namespace {

result<std::pair<loaded_vqgan, torch::Device>> load_on_device(const vqgan_source& source, const std::string& device) {
  auto where = select_device(device);
  if (!where)
    return failure{where.error()};
  auto loaded = load_vqgan(source.config, source.weights);
  if (!loaded)
    return failure{loaded.error()};
  loaded->model->to(*where);
  return std::pair{std::move(*loaded), *where};
}

// Decoding runs in bf16 on a GPU (pixels do not need fp32); encoding stays
// fp32 everywhere, since a code is an argmax that rounding could flip.
torch::Tensor decode_on(const vqgan_impl& model, const torch::Tensor& codes, const torch::Device& device) {
  autocast_scope bf16(device);
  return model.decode(codes.to(device));
}

std::string codes_json(const torch::Tensor& codes) {
  auto c = codes.to(torch::kCPU, torch::kLong).contiguous();
  auto a = c.accessor<int64_t, 2>();
  std::string out = "[";
  for (int64_t i = 0; i < c.size(0); ++i) {
    out += i ? ",\n [" : "\n [";
    for (int64_t j = 0; j < c.size(1); ++j)
      out += (j ? ", " : "") + std::to_string(a[i][j]);
    out += "]";
  }
  return out + "\n]\n";
}

// Codes [N, s²] from the JSON array of arrays; every image's grid square and
// of one size, every code below `codes`.
result<torch::Tensor> read_codes(const std::string& path, int64_t codes) {
  auto text = read_file(path);
  if (!text)
    return failure{text.error()};
  auto json = parse_json(*text);
  if (!json)
    return failure{"codes file '" + path + "' is not JSON: " + json.error()};
  if (json->type != json_value::kind::array || json->array.empty())
    return failure{"codes file '" + path + "' is not a non-empty array of code arrays (one per image)"};
  auto n = static_cast<int64_t>(json->array[0].array.size());
  auto side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(n))));
  auto out = torch::empty({static_cast<int64_t>(json->array.size()), n}, torch::kLong);
  auto a = out.accessor<int64_t, 2>();
  for (size_t i = 0; i < json->array.size(); ++i) {
    const auto& row = json->array[i];
    auto where = "codes file '" + path + "': image " + std::to_string(i);
    if (row.type != json_value::kind::array)
      return failure{where + " is not an array of codes"};
    if (n == 0 || side * side != n || static_cast<int64_t>(row.array.size()) != n)
      return failure{where + " has " + std::to_string(row.array.size()) + " codes; every image needs the same " +
                     "square number (a row-major grid, e.g. 1024 for 32x32)"};
    for (int64_t j = 0; j < n; ++j) {
      const auto& x = row.array[j];
      if (x.type != json_value::kind::integer || x.integer < 0 || x.integer >= codes)
        return failure{where + ", code " + std::to_string(j) + " is not an integer in [0, " + std::to_string(codes) +
                       ")"};
      a[i][j] = x.integer;
    }
  }
  return out;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

} // namespace

result<vqgan_summary> summarize_vqgan(const std::string& config_path) {
  auto config = load_vqgan_config(config_path);
  if (!config)
    return failure{config.error()};
  // On the meta device: the shapes without the memory (276 MB for gumbel-f8).
  vqgan model(*config, vqgan_init{torch::TensorOptions().device(torch::kMeta), std::nullopt});
  vqgan_summary s;
  s.description = describe(*config);
  for (const auto& p : model->parameters())
    s.parameters += p.numel();
  return s;
}

result<int64_t> init_vqgan(const std::string& config_path, uint64_t seed, const std::string& out_path) {
  auto config = load_vqgan_config(config_path);
  if (!config)
    return failure{config.error()};
  auto text = read_file(config_path);
  if (!text)
    return failure{text.error()};
  vqgan model(*config, vqgan_init{torch::TensorOptions().dtype(torch::kFloat32), seed});
  auto tensors = model->named_tensors();
  auto st = save_safetensors(out_path, tensors,
                             {{"format", "pt"}, {"config", config->name}, {vqgan_config_metadata, *text}});
  if (!st)
    return failure{st.error()};
  return static_cast<int64_t>(tensors.size());
}

result<vqgan_encode_report> encode_image_files(const vqgan_source& source, const std::vector<std::string>& paths,
                                               const vqgan_run_options& options, const std::string& out_json) {
  if (paths.empty())
    return failure{"no images to encode"};
  if (options.batch < 1)
    return failure{"the batch must be at least 1 image"};
  std::vector<rgb_image> images;
  for (const auto& path : paths) {
    auto image = read_image(path);
    if (!image)
      return failure{image.error()};
    images.push_back(std::move(*image));
  }
  auto loaded = load_on_device(source, options.device);
  if (!loaded)
    return failure{loaded.error()};
  auto& [vq, device] = *loaded;
  torch::NoGradGuard no_grad;
  std::optional<at::Generator> gumbel;
  if (options.sample)
    gumbel = at::detail::createCPUGenerator(options.seed);
  std::vector<torch::Tensor> codes;
  for (size_t begin = 0; begin < images.size(); begin += static_cast<size_t>(options.batch)) {
    std::vector<rgb_image> chunk(images.begin() + static_cast<std::ptrdiff_t>(begin),
                                 images.begin() + static_cast<std::ptrdiff_t>(
                                                    std::min(images.size(), begin + static_cast<size_t>(options.batch))));
    codes.push_back(vq.model->encode(pixels_of(chunk, vq.config.resolution).to(device), gumbel).cpu());
  }
  std::ofstream out(out_json, std::ios::trunc);
  out << codes_json(torch::cat(codes, 0));
  out.flush();
  if (!out)
    return failure{"cannot write '" + out_json + "'"};
  return vqgan_encode_report{static_cast<int64_t>(images.size()), vq.config.grid(), describe_device(device)};
}

result<vqgan_decode_report> decode_code_file(const vqgan_source& source, const std::string& codes_path,
                                             const vqgan_run_options& options, const std::string& out_png) {
  if (options.batch < 1)
    return failure{"the batch must be at least 1 image"};
  auto loaded = load_on_device(source, options.device);
  if (!loaded)
    return failure{loaded.error()};
  auto& [vq, device] = *loaded;
  auto codes = read_codes(codes_path, vq.config.n_embed);
  if (!codes)
    return failure{codes.error()};
  torch::NoGradGuard no_grad;
  std::vector<rgb_image> images;
  for (int64_t begin = 0; begin < codes->size(0); begin += options.batch) {
    auto pixels = decode_on(*vq.model, codes->slice(0, begin, begin + options.batch), device);
    for (auto& image : images_of(pixels))
      images.push_back(std::move(image));
  }
  auto picture =
    images.size() == 1 ? images[0] : tile(images, static_cast<int>(std::ceil(std::sqrt(double(images.size())))));
  auto st = write_png(out_png, picture);
  if (!st)
    return failure{st.error()};
  return vqgan_decode_report{static_cast<int64_t>(images.size()), picture.width, picture.height,
                             describe_device(device)};
}

result<vqgan_throughput> measure_vqgan_throughput(const std::string& config_path, int64_t batch, int64_t repeat,
                                                  const std::string& device_spec, int64_t threads) {
  if (batch < 1 || repeat < 1 || threads < 0)
    return failure{"--batch and --repeat must be at least 1, --threads not negative"};
  if (threads > 0)
    torch::set_num_threads(static_cast<int>(threads));
  auto config = load_vqgan_config(config_path);
  if (!config)
    return failure{config.error()};
  auto device = select_device(device_spec);
  if (!device)
    return failure{device.error()};
  torch::NoGradGuard no_grad;
  vqgan model(*config, vqgan_init{torch::TensorOptions().dtype(torch::kFloat32), 0});
  model->to(*device);
  auto gen = at::detail::createCPUGenerator(0);
  auto pixels = torch::rand({batch, 3, config->resolution, config->resolution}, gen).to(*device);
  auto codes = model->encode(pixels); // warm-up: first-call allocations and kernel choices
  decode_on(*model, codes, *device);
  synchronize(*device);

  vqgan_throughput t;
  auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < repeat; ++i)
    codes = model->encode(pixels);
  synchronize(*device);
  t.encode_images_per_second = static_cast<double>(batch * repeat) / seconds_since(start);
  start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < repeat; ++i)
    decode_on(*model, codes, *device);
  synchronize(*device);
  t.decode_images_per_second = static_cast<double>(batch * repeat) / seconds_since(start);
  for (const auto& p : model->parameters())
    t.parameters += p.numel();
  t.threads = torch::get_num_threads();
  t.device = describe_device(*device);
  return t;
}

} // namespace ttt::model
