#include "model/codebook.hpp"

#include "model/safetensors.hpp"

namespace ttt::model {

namespace {

torch::Tensor patches_of(const rgb_image& image, int patch) {
  int g = image.width / patch;
  auto pixels = torch::from_blob(const_cast<uint8_t*>(image.pixels.data()), {image.height, image.width, 3}, torch::kUInt8)
                    .to(torch::kFloat32) / 255.0;
  return pixels.view({g, patch, g, patch, 3}).permute({0, 2, 1, 3, 4}).reshape({g * g, patch * patch * 3});
}

torch::Tensor squared_distances(const torch::Tensor& x, const torch::Tensor& c) {
  return (x.pow(2).sum(1, true) - 2 * torch::matmul(x, c.t()) + c.pow(2).sum(1).unsqueeze(0)).clamp_min(0);
}

} // namespace

patch_codebook learn_codebook(const std::vector<rgb_image>& images, int64_t codes, int patch, uint64_t seed,
                              int iterations) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> all;
  for (const auto& img : images)
    all.push_back(patches_of(img, patch));
  auto x = torch::cat(all, 0);
  int64_t n = x.size(0);
  auto gen = at::detail::createCPUGenerator(seed);
  // k-means++: each new centre is drawn in proportion to the squared distance
  // to the nearest centre so far, so rare colours get codes too.
  std::vector<int64_t> chosen{torch::randint(n, {1}, gen, torch::kLong).item<int64_t>()};
  auto nearest = squared_distances(x, x[chosen[0]].unsqueeze(0)).squeeze(1);
  for (int64_t k = 1; k < codes; ++k) {
    auto total = nearest.sum().item<double>();
    int64_t next = total > 0 ? torch::multinomial(nearest / total, 1, false, gen).item<int64_t>()
                             : torch::randint(n, {1}, gen, torch::kLong).item<int64_t>();
    chosen.push_back(next);
    nearest = torch::minimum(nearest, squared_distances(x, x[next].unsqueeze(0)).squeeze(1));
  }
  auto centroids = x.index_select(0, torch::tensor(chosen, torch::kLong)).clone();
  for (int it = 0; it < iterations; ++it) {
    auto d = squared_distances(x, centroids);
    auto [best, assign] = d.min(1);
    auto sums = torch::zeros_like(centroids).index_add_(0, assign, x);
    auto counts = torch::zeros({codes}, torch::kFloat32).index_add_(0, assign, torch::ones({n}));
    auto empty = (counts == 0);
    centroids = torch::where(empty.unsqueeze(1), centroids, sums / counts.clamp_min(1).unsqueeze(1));
    // An empty cluster takes the worst-fitting patch instead of idling.
    auto worst = best.argsort(0, true);
    int64_t w = 0;
    for (int64_t k = 0; k < codes; ++k)
      if (empty[k].item<bool>())
        centroids[k] = x[worst[w++]];
  }
  return patch_codebook{centroids, patch, images.empty() ? 64 : images[0].width};
}

torch::Tensor encode_image(const patch_codebook& codebook, const rgb_image& image) {
  torch::NoGradGuard no_grad;
  return squared_distances(patches_of(image, codebook.patch), codebook.centroids).argmin(1);
}

rgb_image decode_codes(const patch_codebook& codebook, const torch::Tensor& codes) {
  torch::NoGradGuard no_grad;
  int g = codebook.grid(), p = codebook.patch;
  auto patches = codebook.centroids.index_select(0, codes.to(torch::kLong).flatten());
  auto pixels = (patches.view({g, g, p, p, 3}).permute({0, 2, 1, 3, 4}).reshape({g * p, g * p, 3}) * 255.0)
                    .round()
                    .clamp(0, 255)
                    .to(torch::kUInt8)
                    .contiguous();
  rgb_image out(g * p, g * p);
  std::memcpy(out.pixels.data(), pixels.data_ptr(), out.pixels.size());
  return out;
}

status save_codebook(const std::string& path, const patch_codebook& codebook) {
  auto t = codebook.centroids.view({codebook.codes(), codebook.patch, codebook.patch, 3});
  return save_safetensors(path, {{"codebook", t}},
                          {{"patch", std::to_string(codebook.patch)}, {"image_size", std::to_string(codebook.image_size)}});
}

result<patch_codebook> load_codebook(const std::string& path) {
  auto tensors = load_safetensors(path);
  if (!tensors)
    return failure{tensors.error()};
  for (const auto& [name, t] : *tensors) {
    if (name != "codebook")
      continue;
    if (t.dim() != 4 || t.size(1) != t.size(2) || t.size(3) != 3 || t.scalar_type() != torch::kFloat32 ||
        64 % t.size(1) != 0)
      return failure{"codebook '" + path + "' has a malformed tensor \"codebook\""};
    int patch = static_cast<int>(t.size(1));
    return patch_codebook{t.reshape({t.size(0), -1}), patch, 64};
  }
  return failure{"'" + path + "' holds no tensor named \"codebook\""};
}

} // namespace ttt::model
