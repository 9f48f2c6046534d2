#include "model/vqgan.hpp"

#include "model/loading.hpp"
#include "model/safetensors.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

namespace ttt::model {

namespace taming {

// Every tensor is drawn on the CPU from one generator, in construction
// order, then moved: a seed gives the same weights on any device.
class tensor_maker {
public:
  explicit tensor_maker(const vqgan_init& init) : options_(init.options) {
    if (init.seed && options_.device().type() != torch::kMeta)
      generator_ = at::detail::createCPUGenerator(*init.seed);
  }

  /// PyTorch's default for nn.Conv2d's weight (kaiming_uniform_ with a = √5)
  /// and bias: uniform in ±1/√fan_in.
  torch::Tensor uniform(at::IntArrayRef shape, double bound) {
    if (!generator_)
      return torch::empty(shape, options_);
    return torch::empty(shape, torch::kFloat32).uniform_(-bound, bound, *generator_).to(options_);
  }
  /// nn.Embedding's default: N(0, 1).
  torch::Tensor normal(at::IntArrayRef shape) {
    if (!generator_)
      return torch::empty(shape, options_);
    return torch::empty(shape, torch::kFloat32).normal_(0, 1, *generator_).to(options_);
  }
  torch::Tensor constant(at::IntArrayRef shape, double value) {
    if (!generator_)
      return torch::empty(shape, options_);
    return torch::full(shape, value, options_);
  }

private:
  torch::TensorOptions options_;
  std::optional<at::Generator> generator_;
};

conv2d_impl::conv2d_impl(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding, tensor_maker& make)
  : stride(stride), padding(padding) {
  double bound = 1.0 / std::sqrt(static_cast<double>(in * kernel * kernel));
  weight = register_parameter("weight", make.uniform({out, in, kernel, kernel}, bound));
  bias = register_parameter("bias", make.uniform({out}, bound));
}

torch::Tensor conv2d_impl::forward(const torch::Tensor& x) const {
  return torch::conv2d(x, weight, bias, {stride, stride}, {padding, padding});
}

group_norm_impl::group_norm_impl(int64_t channels, tensor_maker& make) {
  weight = register_parameter("weight", make.constant({channels}, 1.0));
  bias = register_parameter("bias", make.constant({channels}, 0.0));
}

torch::Tensor group_norm_impl::forward(const torch::Tensor& x) const {
  return torch::group_norm(x, 32, weight, bias, 1e-6);
}

resnet_block_impl::resnet_block_impl(int64_t in, int64_t out, tensor_maker& make) {
  norm1 = register_module("norm1", group_norm(in, make));
  conv1 = register_module("conv1", conv2d(in, out, 3, 1, 1, make));
  norm2 = register_module("norm2", group_norm(out, make));
  conv2 = register_module("conv2", conv2d(out, out, 3, 1, 1, make));
  if (in != out)
    nin_shortcut = register_module("nin_shortcut", conv2d(in, out, 1, 1, 0, make));
}

torch::Tensor resnet_block_impl::forward(const torch::Tensor& x) const {
  auto h = conv1->forward(torch::silu(norm1->forward(x)));
  h = conv2->forward(torch::silu(norm2->forward(h))); // taming's dropout sits before conv2: nothing at inference
  return (nin_shortcut ? nin_shortcut->forward(x) : x) + h;
}

attn_block_impl::attn_block_impl(int64_t channels, tensor_maker& make) {
  norm = register_module("norm", group_norm(channels, make));
  q = register_module("q", conv2d(channels, channels, 1, 1, 0, make));
  k = register_module("k", conv2d(channels, channels, 1, 1, 0, make));
  v = register_module("v", conv2d(channels, channels, 1, 1, 0, make));
  proj_out = register_module("proj_out", conv2d(channels, channels, 1, 1, 0, make));
}

torch::Tensor attn_block_impl::forward(const torch::Tensor& x) const {
  auto h = norm->forward(x);
  int64_t b = x.size(0), c = x.size(1), height = x.size(2), width = x.size(3), n = height * width;
  auto queries = q->forward(h).reshape({b, c, n}).transpose(1, 2); // [b, n, c]
  auto keys = k->forward(h).reshape({b, c, n});
  auto values = v->forward(h).reshape({b, c, n});
  auto weights = torch::softmax(torch::bmm(queries, keys) * (1.0 / std::sqrt(static_cast<double>(c))), 2);
  auto attended = torch::bmm(values, weights.transpose(1, 2)).reshape({b, c, height, width});
  return x + proj_out->forward(attended);
}

downsample_impl::downsample_impl(int64_t channels, tensor_maker& make) {
  conv = register_module("conv", conv2d(channels, channels, 3, 2, 0, make));
}

torch::Tensor downsample_impl::forward(const torch::Tensor& x) const {
  return conv->forward(torch::constant_pad_nd(x, {0, 1, 0, 1}, 0));
}

upsample_impl::upsample_impl(int64_t channels, tensor_maker& make) {
  conv = register_module("conv", conv2d(channels, channels, 3, 1, 1, make));
}

torch::Tensor upsample_impl::forward(const torch::Tensor& x) const {
  namespace F = torch::nn::functional;
  auto doubled = F::interpolate(x, F::InterpolateFuncOptions()
                                     .size(std::vector<int64_t>{2 * x.size(2), 2 * x.size(3)})
                                     .mode(torch::kNearest));
  return conv->forward(doubled);
}

level_impl::level_impl(int64_t in, int64_t out, int64_t blocks_count, bool attention, resample change,
                       tensor_maker& make) {
  torch::nn::ModuleList block_list, attn_list;
  for (int64_t i = 0; i < blocks_count; ++i) {
    blocks.push_back(resnet_block(i == 0 ? in : out, out, make));
    block_list->push_back(blocks.back());
    if (attention) {
      attns.push_back(attn_block(out, make));
      attn_list->push_back(attns.back());
    }
  }
  register_module("block", block_list);
  register_module("attn", attn_list);
  if (change == resample::down)
    down = register_module("downsample", downsample(out, make));
  else if (change == resample::up)
    up = register_module("upsample", upsample(out, make));
}

torch::Tensor level_impl::forward(torch::Tensor x) const {
  for (size_t i = 0; i < blocks.size(); ++i) {
    x = blocks[i]->forward(x);
    if (!attns.empty())
      x = attns[i]->forward(x);
  }
  if (down)
    x = down->forward(x);
  if (up)
    x = up->forward(x);
  return x;
}

middle_impl::middle_impl(int64_t channels, tensor_maker& make) {
  block_1 = register_module("block_1", resnet_block(channels, channels, make));
  attn_1 = register_module("attn_1", attn_block(channels, make));
  block_2 = register_module("block_2", resnet_block(channels, channels, make));
}

torch::Tensor middle_impl::forward(const torch::Tensor& x) const {
  return block_2->forward(attn_1->forward(block_1->forward(x)));
}

namespace {
bool attends_at(const vqgan_config& c, int64_t side) {
  return std::find(c.attn_resolutions.begin(), c.attn_resolutions.end(), side) != c.attn_resolutions.end();
}
} // namespace

encoder_impl::encoder_impl(const vqgan_config& c, tensor_maker& make) {
  conv_in = register_module("conv_in", conv2d(c.in_channels, c.ch, 3, 1, 1, make));
  const auto levels = static_cast<int64_t>(c.ch_mult.size());
  torch::nn::ModuleList down_list;
  int64_t block_in = c.ch, side = c.resolution;
  for (int64_t i = 0; i < levels; ++i) {
    int64_t block_out = c.ch * c.ch_mult[i];
    bool last = i == levels - 1;
    down.push_back(level(block_in, block_out, c.num_res_blocks, attends_at(c, side),
                         last ? level_impl::resample::none : level_impl::resample::down, make));
    down_list->push_back(down.back());
    block_in = block_out;
    if (!last)
      side /= 2;
  }
  register_module("down", down_list);
  mid = register_module("mid", middle(block_in, make));
  norm_out = register_module("norm_out", group_norm(block_in, make));
  conv_out = register_module("conv_out", conv2d(block_in, c.z_channels, 3, 1, 1, make));
}

torch::Tensor encoder_impl::forward(const torch::Tensor& x) const {
  auto h = conv_in->forward(x);
  for (const auto& l : down)
    h = l->forward(h);
  return conv_out->forward(torch::silu(norm_out->forward(mid->forward(h))));
}

decoder_impl::decoder_impl(const vqgan_config& c, tensor_maker& make) {
  const auto levels = static_cast<int64_t>(c.ch_mult.size());
  int64_t block_in = c.ch * c.ch_mult.back(), side = c.grid();
  conv_in = register_module("conv_in", conv2d(c.z_channels, block_in, 3, 1, 1, make));
  mid = register_module("mid", middle(block_in, make));
  // Built from the coarsest level up, as the channels flow; listed finest first.
  up.assign(levels, level{nullptr});
  for (int64_t i = levels - 1; i >= 0; --i) {
    int64_t block_out = c.ch * c.ch_mult[i];
    up[i] = level(block_in, block_out, c.num_res_blocks + 1, attends_at(c, side),
                  i != 0 ? level_impl::resample::up : level_impl::resample::none, make);
    block_in = block_out;
    if (i != 0)
      side *= 2;
  }
  torch::nn::ModuleList up_list;
  for (const auto& l : up)
    up_list->push_back(l);
  register_module("up", up_list);
  norm_out = register_module("norm_out", group_norm(block_in, make));
  conv_out = register_module("conv_out", conv2d(block_in, c.out_ch, 3, 1, 1, make));
}

torch::Tensor decoder_impl::forward(const torch::Tensor& z) const {
  auto h = mid->forward(conv_in->forward(z));
  for (auto l = up.rbegin(); l != up.rend(); ++l)
    h = (*l)->forward(h);
  return conv_out->forward(torch::silu(norm_out->forward(h)));
}

gumbel_quantize_impl::gumbel_quantize_impl(const vqgan_config& c, tensor_maker& make) {
  proj = register_module("proj", conv2d(c.z_channels, c.n_embed, 1, 1, 0, make));
  embed = register_module("embed", std::make_shared<torch::nn::Module>());
  embed_weight = embed->register_parameter("weight", make.normal({c.n_embed, c.embed_dim}));
}

} // namespace taming

vqgan_impl::vqgan_impl(const vqgan_config& config, const vqgan_init& init) : config_(config) {
  taming::tensor_maker make(init);
  encoder = register_module("encoder", taming::encoder(config, make));
  decoder = register_module("decoder", taming::decoder(config, make));
  quantize = register_module("quantize", taming::gumbel_quantize(config, make));
  quant_conv = register_module("quant_conv", taming::conv2d(config.z_channels, config.embed_dim, 1, 1, 0, make));
  post_quant_conv =
    register_module("post_quant_conv", taming::conv2d(config.embed_dim, config.z_channels, 1, 1, 0, make));
  // Inference only: nothing here trains, and no autograd graph is kept.
  for (auto& p : parameters())
    p.set_requires_grad(false);
  eval();
}

torch::Tensor vqgan_impl::code_logits(const torch::Tensor& pixels) const {
  auto x = pixels.to(quant_conv->weight.options()) * 2 - 1;
  return quantize->proj->forward(quant_conv->forward(encoder->forward(x)));
}

torch::Tensor vqgan_impl::encode(const torch::Tensor& pixels, std::optional<at::Generator> gumbel) const {
  auto logits = code_logits(pixels).to(torch::kFloat32);
  if (gumbel) // −log(Exp(1)) is Gumbel(0, 1), as torch's gumbel_softmax draws it
    logits = logits + torch::empty(logits.sizes(), torch::kFloat32).exponential_(1, *gumbel).log().neg().to(logits.device());
  return logits.argmax(1).flatten(1);
}

torch::Tensor vqgan_impl::decode(const torch::Tensor& codes) const {
  int64_t batch = codes.size(0), n = codes.size(1);
  auto side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(n))));
  TORCH_CHECK(codes.dim() == 2 && side * side == n, "VQGAN decode takes [batch, side²] codes, got ", codes.sizes());
  auto vectors = quantize->embed_weight.index_select(0, codes.flatten().to(torch::kLong).to(quantize->embed_weight.device()));
  auto z = vectors.view({batch, side, side, config_.embed_dim}).permute({0, 3, 1, 2}).contiguous();
  auto x = decoder->forward(post_quant_conv->forward(z));
  return ((x.clamp(-1, 1) + 1) * 0.5).to(torch::kFloat32);
}

tensor_list vqgan_impl::named_tensors() const {
  tensor_list out;
  for (const auto& p : named_parameters())
    out.emplace_back(p.key(), p.value());
  return out;
}

namespace {

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

} // namespace

status import_vqgan_weights(vqgan_impl& model, const tensor_list& tensors, const std::string& origin) {
  // A dalle-pytorch DALL-E keeps its VQGanVAE's GumbelVQ as vae.model (and
  // the 2021 run's checkpoints wrap that in model.): then only those names
  // are the VQGAN's.
  const char* prefixes[] = {"model.vae.model.", "vae.model."};
  bool inside_dalle = false;
  for (const auto& [name, t] : tensors)
    for (auto* p : prefixes)
      inside_dalle = inside_dalle || starts_with(name, p);
  std::map<std::string, torch::Tensor> by_name;
  for (const auto& [name, t] : tensors) {
    std::string n = name;
    bool prefixed = false;
    for (auto* p : prefixes)
      if (!prefixed && starts_with(n, p)) {
        n = n.substr(std::strlen(p));
        prefixed = true;
      }
    if ((inside_dalle && !prefixed) || starts_with(n, "loss.")) // taming's discriminator and LPIPS
      continue;
    by_name[n] = t;
  }
  std::vector<std::string> missing, misshapen, unknown;
  std::vector<std::pair<torch::Tensor, torch::Tensor>> copies;
  auto own = model.named_tensors();
  std::map<std::string, torch::Tensor> own_by_name(own.begin(), own.end());
  for (const auto& [name, target] : own) {
    auto it = by_name.find(name);
    if (it == by_name.end())
      missing.push_back(name);
    else if (!it->second.is_floating_point() || it->second.sizes() != target.sizes())
      misshapen.push_back(name + " " + shape_text(it->second.sizes()) + " (expected " + shape_text(target.sizes()) + ")");
    else
      copies.emplace_back(target, it->second);
  }
  for (const auto& [name, t] : by_name)
    if (!own_by_name.count(name))
      unknown.push_back(name);
  std::string problems;
  if (!misshapen.empty())
    problems += "; misshapen " + std::to_string(misshapen.size()) + ": " + list_some(misshapen);
  if (!missing.empty())
    problems += "; missing " + std::to_string(missing.size()) + ": " + list_some(missing);
  if (!unknown.empty())
    problems += "; unknown " + std::to_string(unknown.size()) + ": " + list_some(unknown);
  if (!problems.empty())
    return failure{"'" + origin + "' does not fit VQGAN " + model.config().name + ":" + problems.substr(1)};
  torch::NoGradGuard no_grad;
  for (auto& [target, source] : copies) {
    auto dst = target;
    dst.copy_(source.to(dst.scalar_type()));
  }
  return ok();
}

result<loaded_vqgan> load_vqgan(const std::string& config_path, const std::string& weights_path,
                                const std::string& fallback_config_text) {
  if (weights_path.empty())
    return failure{"no VQGAN weights given"};
  loaded_vqgan out;
  std::string origin, name;
  if (!config_path.empty()) {
    auto text = read_file(config_path);
    if (!text)
      return failure{"cannot read VQGAN config file '" + config_path + "'"};
    out.config_text = *text;
    origin = config_path;
  } else {
    auto meta = read_safetensors_metadata(weights_path);
    if (!meta)
      return failure{meta.error()};
    if (auto it = meta->find(vqgan_config_metadata); it != meta->end()) {
      out.config_text = it->second;
      origin = weights_path;
      if (auto n = meta->find("config"); n != meta->end())
        name = n->second;
    } else if (!fallback_config_text.empty()) {
      out.config_text = fallback_config_text;
      origin = weights_path;
    } else {
      return failure{"'" + weights_path +
                     "' does not say its VQGAN config: give its config file (configs/vqgan/gumbel-f8.ini for "
                     "taming's vqgan_gumbel_f8)"};
    }
  }
  auto config = parse_vqgan_config(out.config_text, origin);
  if (!config)
    return failure{config.error()};
  out.config = *config;
  if (!name.empty())
    out.config.name = name;
  auto tensors = load_safetensors(weights_path);
  if (!tensors)
    return failure{tensors.error()};
  out.model = vqgan(out.config, vqgan_init{torch::TensorOptions().dtype(torch::kFloat32), std::nullopt});
  auto st = import_vqgan_weights(*out.model, *tensors, weights_path);
  if (!st)
    return failure{st.error()};
  return out;
}

torch::Tensor pixels_of(const std::vector<rgb_image>& images, int64_t side) {
  namespace F = torch::nn::functional;
  std::vector<torch::Tensor> out;
  for (const auto& image : images) {
    int64_t h = image.height, w = image.width;
    auto t = torch::from_blob(const_cast<uint8_t*>(image.pixels.data()), {h, w, 3}, torch::kUInt8)
               .permute({2, 0, 1})
               .to(torch::kFloat32)
               .div(255.0)
               .unsqueeze(0);
    if (h != side || w != side) {
      double scale = static_cast<double>(side) / static_cast<double>(std::min(h, w));
      int64_t scaled_h = std::max<int64_t>(side, std::llround(h * scale));
      int64_t scaled_w = std::max<int64_t>(side, std::llround(w * scale));
      t = F::interpolate(t, F::InterpolateFuncOptions()
                              .size(std::vector<int64_t>{scaled_h, scaled_w})
                              .mode(torch::kBilinear)
                              .align_corners(false)
                              .antialias(true));
      int64_t top = (scaled_h - side) / 2, left = (scaled_w - side) / 2;
      t = t.slice(2, top, top + side).slice(3, left, left + side);
    }
    out.push_back(t.clamp(0, 1));
  }
  return torch::cat(out, 0);
}

std::vector<rgb_image> images_of(const torch::Tensor& pixels) {
  auto bytes = (pixels.detach().to(torch::kCPU, torch::kFloat32) * 255.0)
                 .round()
                 .clamp(0, 255)
                 .to(torch::kUInt8)
                 .permute({0, 2, 3, 1})
                 .contiguous();
  std::vector<rgb_image> out;
  for (int64_t b = 0; b < bytes.size(0); ++b) {
    rgb_image image(static_cast<int>(bytes.size(2)), static_cast<int>(bytes.size(1)));
    std::memcpy(image.pixels.data(), bytes[b].data_ptr(), image.pixels.size());
    out.push_back(std::move(image));
  }
  return out;
}

} // namespace ttt::model
