// The VQGAN (model/vqgan.*): gumbel-f8's parameter count and taming's names,
// each layer against the same arithmetic written with other libtorch ops,
// and a tiny config end to end (shapes, code ranges, determinism, batches),
// weights that do not fit refused with the tensor named.
#include <boost/test/unit_test.hpp>

#include "model/device.hpp"
#include "model/image_coder.hpp"
#include "model/vqgan.hpp"
#include "model/vqgan_api.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <unistd.h>

#ifdef TTT_WITH_JPEG
#include <jpeglib.h>
#endif

using namespace ttt::model;
namespace fs = std::filesystem;

namespace {

std::string vqgan_config_path(const std::string& name) {
  return std::string(TTT_SOURCE_DIR) + "/configs/vqgan/" + name + ".ini";
}

vqgan_config load(const std::string& name) {
  auto c = load_vqgan_config(vqgan_config_path(name));
  BOOST_REQUIRE_MESSAGE(c, c.error());
  return *c;
}

std::string temp_dir(const std::string& tag) {
  auto dir = fs::temp_directory_path() / ("ttt_vqgan_test_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// References: the same arithmetic through other ops than the model's.

// A convolution as im2col and one matmul.
torch::Tensor conv_reference(const torch::Tensor& x, const taming::conv2d_impl& conv) {
  namespace F = torch::nn::functional;
  int64_t out = conv.weight.size(0), kernel = conv.weight.size(2);
  auto cols = F::unfold(x, F::UnfoldFuncOptions(kernel).padding(conv.padding).stride(conv.stride));
  int64_t h = (x.size(2) + 2 * conv.padding - kernel) / conv.stride + 1;
  int64_t w = (x.size(3) + 2 * conv.padding - kernel) / conv.stride + 1;
  auto y = torch::matmul(conv.weight.reshape({out, -1}), cols) + conv.bias.view({1, out, 1});
  return y.view({x.size(0), out, h, w});
}

// GroupNorm(32, eps 1e-6) from means and biased variances of each group.
torch::Tensor norm_reference(const torch::Tensor& x, const taming::group_norm_impl& norm) {
  auto groups = x.reshape({x.size(0), 32, -1});
  auto mean = groups.mean(-1, true);
  auto var = (groups - mean).pow(2).mean(-1, true);
  auto normed = ((groups - mean) / torch::sqrt(var + 1e-6)).view(x.sizes());
  return normed * norm.weight.view({1, -1, 1, 1}) + norm.bias.view({1, -1, 1, 1});
}

torch::Tensor swish(const torch::Tensor& x) { return x * torch::sigmoid(x); }

torch::Tensor resnet_reference(const torch::Tensor& x, const taming::resnet_block_impl& b) {
  auto h = conv_reference(swish(norm_reference(x, *b.norm1)), *b.conv1);
  h = conv_reference(swish(norm_reference(h, *b.norm2)), *b.conv2);
  return (b.nin_shortcut ? conv_reference(x, *b.nin_shortcut) : x) + h;
}

torch::Tensor attention_reference(const torch::Tensor& x, const taming::attn_block_impl& a) {
  auto h = norm_reference(x, *a.norm);
  int64_t b = x.size(0), c = x.size(1);
  auto q = conv_reference(h, *a.q).reshape({b, c, -1});
  auto k = conv_reference(h, *a.k).reshape({b, c, -1});
  auto v = conv_reference(h, *a.v).reshape({b, c, -1});
  auto weights = torch::softmax(torch::einsum("bci,bcj->bij", {q, k}) / std::sqrt(static_cast<double>(c)), -1);
  auto out = torch::einsum("bij,bcj->bci", {weights, v}).reshape(x.sizes());
  return x + conv_reference(out, *a.proj_out);
}

void check_close(const torch::Tensor& got, const torch::Tensor& want, const std::string& what,
                 double tolerance = 1e-5) {
  BOOST_REQUIRE_MESSAGE(got.sizes() == want.sizes(), what << ": shape " << got.sizes() << " vs " << want.sizes());
  auto diff = (got - want).abs().max().item<double>();
  auto scale = want.abs().max().item<double>();
  BOOST_TEST(diff <= tolerance * std::max(1.0, scale), what << ": max difference " << diff << " (scale " << scale << ")");
}

// Non-trivial GroupNorm affines, so that the references see them.
void perturb_norms(vqgan_impl& model) {
  torch::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(11);
  for (auto& [name, t] : model.named_tensors())
    if (name.find("norm") != std::string::npos)
      t.copy_(t + 0.1 * torch::randn(t.sizes(), gen));
}

boost::test_tools::assertion_result has_gpu(boost::unit_test::test_unit_id) {
  boost::test_tools::assertion_result r(cuda_compiled() && torch::cuda::is_available());
  r.message() << "no CUDA GPU (" << (cuda_compiled() ? "CUDA build" : "CPU-only build") << "): skipped";
  return r;
}

} // namespace

BOOST_AUTO_TEST_SUITE(vqgan_tests)

BOOST_AUTO_TEST_CASE(gumbel_f8_has_the_parameters_and_names_of_taming) {
  auto c = load("gumbel-f8");
  BOOST_TEST(parameter_count(c) == 68995971);
  BOOST_TEST(c.grid() == 32);
  BOOST_TEST(c.downsampling() == 8);
  // Built on the meta device: the shapes without 276 MB.
  vqgan model(c, vqgan_init{torch::TensorOptions().device(torch::kMeta), std::nullopt});
  std::map<std::string, std::vector<int64_t>> shapes;
  int64_t total = 0;
  for (const auto& [name, t] : model->named_tensors()) {
    shapes[name] = t.sizes().vec();
    total += t.numel();
  }
  BOOST_TEST(total == 68995971);
  const std::map<std::string, std::vector<int64_t>> expected = {
    {"encoder.conv_in.weight", {128, 3, 3, 3}},
    {"encoder.down.0.block.1.norm2.weight", {128}},
    {"encoder.down.1.downsample.conv.weight", {128, 128, 3, 3}},
    {"encoder.down.2.block.0.nin_shortcut.weight", {256, 128, 1, 1}},
    {"encoder.down.3.block.0.conv1.weight", {512, 256, 3, 3}},
    {"encoder.down.3.attn.1.proj_out.weight", {512, 512, 1, 1}},
    {"encoder.mid.attn_1.q.weight", {512, 512, 1, 1}},
    {"encoder.mid.block_2.conv2.bias", {512}},
    {"encoder.norm_out.weight", {512}},
    {"encoder.conv_out.weight", {256, 512, 3, 3}},
    {"quant_conv.weight", {256, 256, 1, 1}},
    {"quantize.proj.weight", {8192, 256, 1, 1}},
    {"quantize.embed.weight", {8192, 256}},
    {"post_quant_conv.weight", {256, 256, 1, 1}},
    {"decoder.conv_in.weight", {512, 256, 3, 3}},
    {"decoder.mid.block_1.norm1.bias", {512}},
    {"decoder.up.3.block.0.conv1.weight", {512, 512, 3, 3}},
    {"decoder.up.3.attn.2.k.weight", {512, 512, 1, 1}},
    {"decoder.up.3.upsample.conv.weight", {512, 512, 3, 3}},
    {"decoder.up.2.block.0.nin_shortcut.weight", {256, 512, 1, 1}},
    {"decoder.up.1.block.2.conv2.weight", {128, 128, 3, 3}},
    {"decoder.up.0.block.2.conv2.bias", {128}},
    {"decoder.norm_out.weight", {128}},
    {"decoder.conv_out.weight", {3, 128, 3, 3}},
  };
  for (const auto& [name, shape] : expected) {
    BOOST_TEST_CONTEXT(name) {
      BOOST_REQUIRE(shapes.count(name) == 1u);
      BOOST_TEST(shapes[name] == shape);
    }
  }
  // What taming does not have: a downsample after the last level, an
  // upsample before the first, attention away from resolution 32.
  for (const char* absent : {"encoder.down.3.downsample.conv.weight", "decoder.up.0.upsample.conv.weight",
                             "encoder.down.2.attn.0.q.weight", "decoder.up.2.attn.0.q.weight",
                             "encoder.down.0.block.0.nin_shortcut.weight", "decoder.up.3.block.3.conv1.weight"})
    BOOST_TEST(shapes.count(absent) == 0u, absent);
  auto summary = summarize_vqgan(vqgan_config_path("gumbel-f8"));
  BOOST_REQUIRE_MESSAGE(summary, summary.error());
  BOOST_TEST(summary->parameters == 68995971);
}

BOOST_AUTO_TEST_CASE(each_layer_matches_the_reference_arithmetic) {
  auto c = load("gumbel-tiny");
  vqgan model(c, vqgan_init{torch::TensorOptions(), 3});
  perturb_norms(*model);
  torch::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(5);
  auto x32 = torch::randn({2, 32, 16, 16}, gen);
  auto x64 = torch::randn({2, 64, 8, 8}, gen);
  const auto& enc = *model->encoder;
  const auto& dec = *model->decoder;

  auto rgb = torch::randn({2, 3, 16, 16}, gen);
  check_close(enc.conv_in->forward(rgb), conv_reference(rgb, *enc.conv_in), "conv_in");
  check_close(enc.down[0]->blocks[0]->norm1->forward(x32), norm_reference(x32, *enc.down[0]->blocks[0]->norm1),
              "GroupNorm");
  check_close(enc.down[0]->blocks[0]->forward(x32), resnet_reference(x32, *enc.down[0]->blocks[0]), "ResnetBlock");
  // Channels 32 → 64 go through nin_shortcut.
  const auto& widening = *enc.down[2]->blocks[0];
  BOOST_REQUIRE(widening.nin_shortcut);
  check_close(widening.forward(x32), resnet_reference(x32, widening), "ResnetBlock with nin_shortcut");
  // Attention sits at resolution 8: the last encoder level and the decoder's coarsest.
  BOOST_REQUIRE(enc.down[3]->attns.size() == 1u);
  BOOST_TEST(enc.down[2]->attns.empty());
  check_close(enc.down[3]->attns[0]->forward(x64), attention_reference(x64, *enc.down[3]->attns[0]), "AttnBlock");
  check_close(enc.mid->attn_1->forward(x64), attention_reference(x64, *enc.mid->attn_1), "mid.attn_1");

  // Downsample: zero padding right and bottom, a 3×3 conv of stride 2.
  const auto& down = *enc.down[0]->down;
  auto padded = torch::zeros({2, 32, 17, 17});
  padded.slice(2, 0, 16).slice(3, 0, 16).copy_(x32);
  check_close(down.forward(x32), conv_reference(padded, *down.conv), "Downsample");
  BOOST_TEST(down.forward(x32).sizes().vec() == (std::vector<int64_t>{2, 32, 8, 8}));
  BOOST_TEST(!enc.down[3]->down);

  // Upsample: each pixel repeated 2×2, then a 3×3 conv.
  const auto& up = *dec.up[3]->up;
  auto doubled = x64.repeat_interleave(2, 2).repeat_interleave(2, 3);
  check_close(up.forward(x64), conv_reference(doubled, *up.conv), "Upsample");
  BOOST_TEST(!dec.up[0]->up);
  BOOST_TEST(dec.up[3]->blocks.size() == 2u); // num_res_blocks + 1

  // The whole encoder and decoder, composed from the references.
  auto pixels = torch::rand({2, 3, 64, 64}, gen);
  auto h = conv_reference(pixels * 2 - 1, *enc.conv_in);
  for (const auto& l : enc.down) {
    for (size_t i = 0; i < l->blocks.size(); ++i) {
      h = resnet_reference(h, *l->blocks[i]);
      if (!l->attns.empty())
        h = attention_reference(h, *l->attns[i]);
    }
    if (l->down) {
      auto p = torch::zeros({h.size(0), h.size(1), h.size(2) + 1, h.size(3) + 1});
      p.slice(2, 0, h.size(2)).slice(3, 0, h.size(3)).copy_(h);
      h = conv_reference(p, *l->down->conv);
    }
  }
  h = resnet_reference(attention_reference(resnet_reference(h, *enc.mid->block_1), *enc.mid->attn_1), *enc.mid->block_2);
  h = conv_reference(swish(norm_reference(h, *enc.norm_out)), *enc.conv_out);
  auto logits = conv_reference(conv_reference(h, *model->quant_conv), *model->quantize->proj);
  check_close(model->code_logits(pixels), logits, "code_logits", 1e-4);

  auto codes = logits.argmax(1).flatten(1);
  auto z = model->quantize->embed_weight.index_select(0, codes.flatten()).view({2, 8, 8, c.embed_dim}).permute({0, 3, 1, 2});
  auto d = conv_reference(conv_reference(z.contiguous(), *model->post_quant_conv), *dec.conv_in);
  d = resnet_reference(attention_reference(resnet_reference(d, *dec.mid->block_1), *dec.mid->attn_1), *dec.mid->block_2);
  for (int64_t i = static_cast<int64_t>(dec.up.size()) - 1; i >= 0; --i) {
    const auto& l = dec.up[i];
    for (size_t j = 0; j < l->blocks.size(); ++j) {
      d = resnet_reference(d, *l->blocks[j]);
      if (!l->attns.empty())
        d = attention_reference(d, *l->attns[j]);
    }
    if (l->up)
      d = conv_reference(d.repeat_interleave(2, 2).repeat_interleave(2, 3), *l->up->conv);
  }
  d = conv_reference(swish(norm_reference(d, *dec.norm_out)), *dec.conv_out);
  check_close(model->decode(codes), (d.clamp(-1, 1) + 1) / 2, "decode", 1e-4);
}

BOOST_AUTO_TEST_CASE(tiny_vqgan_round_trips_shapes_ranges_and_batches) {
  auto c = load("gumbel-tiny");
  BOOST_TEST(c.grid() == 8);
  vqgan model(c, vqgan_init{torch::TensorOptions(), 1});
  torch::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(2);
  auto pixels = torch::rand({3, 3, 64, 64}, gen);

  auto codes = model->encode(pixels);
  BOOST_TEST(codes.sizes().vec() == (std::vector<int64_t>{3, 64}));
  BOOST_TEST(codes.scalar_type() == torch::kLong);
  BOOST_TEST(codes.min().item<int64_t>() >= 0);
  BOOST_TEST(codes.max().item<int64_t>() < 64);
  BOOST_TEST(std::get<0>(torch::_unique(codes)).numel() > 1); // not one code everywhere
  auto back = model->decode(codes);
  BOOST_TEST(back.sizes() == pixels.sizes());
  BOOST_TEST(back.min().item<double>() >= 0.0);
  BOOST_TEST(back.max().item<double>() <= 1.0);

  // Deterministic: again, and from a second model of the same seed.
  vqgan twin(c, vqgan_init{torch::TensorOptions(), 1});
  BOOST_TEST(torch::equal(model->encode(pixels), codes));
  BOOST_TEST(torch::equal(twin->encode(pixels), codes));
  BOOST_TEST(torch::equal(twin->decode(codes), back));
  vqgan other(c, vqgan_init{torch::TensorOptions(), 2});
  BOOST_TEST(!torch::equal(other->encode(pixels), codes));

  // A batch gives each image what it gets alone.
  for (int64_t i = 0; i < 3; ++i) {
    BOOST_TEST(torch::equal(model->encode(pixels.slice(0, i, i + 1)), codes.slice(0, i, i + 1)));
    check_close(model->decode(codes.slice(0, i, i + 1)), back.slice(0, i, i + 1), "decode of image alone");
  }

  // Gumbel sampling: seeded, in range, and not the argmax everywhere.
  auto sampled = model->encode(pixels, at::detail::createCPUGenerator(9));
  BOOST_TEST(torch::equal(sampled, model->encode(pixels, at::detail::createCPUGenerator(9))));
  BOOST_TEST(!torch::equal(sampled, codes));
  BOOST_TEST(sampled.min().item<int64_t>() >= 0);
  BOOST_TEST(sampled.max().item<int64_t>() < 64);

  // Codes are row-major: the code at (row 2, column 5) is the argmax there.
  auto logits = model->code_logits(pixels);
  BOOST_TEST(logits.sizes().vec() == (std::vector<int64_t>{3, 64, 8, 8}));
  BOOST_TEST(codes[1][2 * 8 + 5].item<int64_t>() == logits[1].select(1, 2).select(1, 5).argmax().item<int64_t>());
}

BOOST_AUTO_TEST_CASE(weights_load_by_taming_names_and_a_mismatch_names_the_tensor) {
  auto dir = temp_dir("weights");
  auto tiny_path = vqgan_config_path("gumbel-tiny");
  auto written = init_vqgan(tiny_path, 4, dir + "/tiny.safetensors");
  BOOST_REQUIRE_MESSAGE(written, written.error());
  BOOST_TEST(*written > 0);

  // The weights carry their config: no config file needed.
  auto loaded = load_vqgan("", dir + "/tiny.safetensors");
  BOOST_REQUIRE_MESSAGE(loaded, loaded.error());
  BOOST_TEST(loaded->config.name == "gumbel-tiny");
  vqgan seeded(load("gumbel-tiny"), vqgan_init{torch::TensorOptions(), 4});
  torch::NoGradGuard no_grad;
  auto codes = torch::arange(64, torch::kLong).view({1, 64});
  BOOST_TEST(torch::equal(loaded->model->decode(codes), seeded->decode(codes)));

  auto tensors = load_safetensors(dir + "/tiny.safetensors");
  BOOST_REQUIRE(tensors);
  // Taming's loss.* is skipped; dalle-pytorch's vae.model. prefix is accepted.
  auto with_loss = *tensors;
  with_loss.emplace_back("loss.discriminator.main.0.weight", torch::zeros({4}));
  BOOST_TEST(static_cast<bool>(import_vqgan_weights(*loaded->model, with_loss, "with-loss")));
  tensor_list in_dalle{{"transformer.layers.blocks.0.f.net.scale", torch::zeros({1})}};
  for (const auto& [name, t] : *tensors)
    in_dalle.emplace_back("vae.model." + name, t);
  BOOST_TEST(static_cast<bool>(import_vqgan_weights(*loaded->model, in_dalle, "dalle")));

  // Another architecture: refused, the misshapen tensor named.
  auto wider = parse_vqgan_config(slurp(tiny_path), "wider.ini");
  BOOST_REQUIRE(wider);
  wider->ch_mult = {1, 2, 2, 2};
  vqgan other(*wider, vqgan_init{torch::TensorOptions(), 0});
  auto refused = import_vqgan_weights(*other, *tensors, "tiny.safetensors");
  BOOST_REQUIRE(!refused);
  BOOST_TEST(refused.error().find("tiny.safetensors") != std::string::npos, refused.error());
  BOOST_TEST(refused.error().find("misshapen") != std::string::npos, refused.error());
  BOOST_TEST(refused.error().find("encoder.down.1.block.0.conv1.weight [32, 32, 3, 3] (expected [64, 32, 3, 3])") !=
               std::string::npos,
             refused.error());

  // A missing and an unknown tensor, each named.
  tensor_list lacking, extra = *tensors;
  for (const auto& [name, t] : *tensors)
    if (name != "quantize.embed.weight")
      lacking.emplace_back(name, t);
  auto missing = import_vqgan_weights(*loaded->model, lacking, "lacking");
  BOOST_REQUIRE(!missing);
  BOOST_TEST(missing.error().find("missing 1: quantize.embed.weight") != std::string::npos, missing.error());
  extra.emplace_back("quantize.embedding.weight", torch::zeros({64, 32}));
  auto unknown = import_vqgan_weights(*loaded->model, extra, "extra");
  BOOST_REQUIRE(!unknown);
  BOOST_TEST(unknown.error().find("unknown 1: quantize.embedding.weight") != std::string::npos, unknown.error());

  // A config file that does not fit the weights: refused by load_vqgan too.
  auto text = slurp(tiny_path);
  text.replace(text.find("ch = 32"), 7, "ch = 64");
  std::ofstream(dir + "/wider.ini") << text;
  auto wide = load_vqgan(dir + "/wider.ini", dir + "/tiny.safetensors");
  BOOST_REQUIRE(!wide);
  BOOST_TEST(wide.error().find("encoder.conv_in.weight [32, 3, 3, 3] (expected [64, 3, 3, 3])") != std::string::npos,
             wide.error());
  fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(bad_vqgan_configs_are_refused_with_the_file_and_key_named) {
  const std::string base = slurp(vqgan_config_path("gumbel-tiny"));
  auto with = [&](const std::string& key, const std::string& value) {
    auto text = base;
    auto at = text.find("\n" + key + " =");
    BOOST_REQUIRE(at != std::string::npos);
    auto end = text.find('\n', at + 1);
    return text.substr(0, at) + "\n" + key + " = " + value + text.substr(end);
  };
  BOOST_TEST(static_cast<bool>(parse_vqgan_config(base, "tiny.ini")));
  auto check = [&](const std::string& text, const std::string& expected) {
    auto c = parse_vqgan_config(text, "bad.ini");
    BOOST_REQUIRE(!c);
    BOOST_TEST(c.error().find("bad.ini") != std::string::npos, c.error());
    BOOST_TEST(c.error().find(expected) != std::string::npos, c.error());
  };
  check(with("embed_dim", "16"), "embed_dim must equal z_channels");
  check(with("ch", "24"), "multiple of 32");
  check(with("quantizer", "vq"), "only 'gumbel'");
  check(with("double_z", "true"), "double_z");
  check(with("resolution", "60"), "resolution must be a multiple of 8");
  check(with("ch_mult", "1, two"), "ch_mult expects a list of integers");
  check(base + "colour = red\n", "colour: unknown key");
  check("[model]\ndim = 4\n", "unknown section");
  auto missing = load_vqgan_config("/nonexistent/v.ini");
  BOOST_TEST(missing.error().find("/nonexistent/v.ini") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(images_are_scaled_to_the_resolution_and_centre_cropped) {
  rgb_image wide(128, 64, 0);
  for (int y = 0; y < 64; ++y)
    for (int x = 0; x < 128; ++x) {
      bool centre = x >= 32 && x < 96;
      wide.at(x, y)[0] = centre ? 200 : 0; // red only in the centre square
      wide.at(x, y)[1] = 50;
    }
  auto pixels = pixels_of({wide, rgb_image(64, 64, 255)}, 32);
  BOOST_TEST(pixels.sizes().vec() == (std::vector<int64_t>{2, 3, 32, 32}));
  // The crop keeps the centre: red throughout, up to the scaling's edge blur.
  BOOST_TEST(pixels[0][0].slice(1, 2, 30).min().item<double>() > 190.0 / 255);
  BOOST_TEST(std::abs(pixels[0][1].mean().item<double>() - 50.0 / 255) < 1e-5);
  BOOST_TEST(pixels[1].min().item<double>() > 0.999);
  auto back = images_of(pixels);
  BOOST_REQUIRE(back.size() == 2u);
  BOOST_TEST(back[1].width == 32);
  BOOST_TEST(int(back[1].at(5, 7)[2]) == 255);
  BOOST_TEST(int(back[0].at(16, 16)[1]) == 50);
}

BOOST_AUTO_TEST_CASE(read_image_tells_png_from_jpeg) {
  auto dir = temp_dir("images");
  rgb_image image(16, 8, 0);
  for (int x = 0; x < 16; ++x)
    image.at(x, 3)[1] = static_cast<uint8_t>(x * 16);
  BOOST_REQUIRE(write_png(dir + "/a.png", image));
  auto png = read_image(dir + "/a.png");
  BOOST_REQUIRE_MESSAGE(png, png.error());
  BOOST_TEST((png->pixels == image.pixels));
  std::ofstream(dir + "/notes.txt") << "not a picture\n";
  auto text = read_image(dir + "/notes.txt");
  BOOST_REQUIRE(!text);
  BOOST_TEST(text.error().find("neither a PNG nor a JPEG") != std::string::npos, text.error());
#ifdef TTT_WITH_JPEG
  BOOST_TEST(jpeg_supported());
  // A flat grey JPEG, written with libjpeg, reads back as grey.
  {
    std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen((dir + "/b.jpg").c_str(), "wb"), &std::fclose);
    jpeg_compress_struct info;
    jpeg_error_mgr errors;
    info.err = jpeg_std_error(&errors);
    jpeg_create_compress(&info);
    jpeg_stdio_dest(&info, file.get());
    info.image_width = 24;
    info.image_height = 16;
    info.input_components = 3;
    info.in_color_space = JCS_RGB;
    jpeg_set_defaults(&info);
    jpeg_set_quality(&info, 95, TRUE);
    jpeg_start_compress(&info, TRUE);
    std::vector<uint8_t> row(24 * 3, 120);
    while (info.next_scanline < info.image_height) {
      JSAMPROW r = row.data();
      jpeg_write_scanlines(&info, &r, 1);
    }
    jpeg_finish_compress(&info);
    jpeg_destroy_compress(&info);
  }
  auto jpeg = read_image(dir + "/b.jpg");
  BOOST_REQUIRE_MESSAGE(jpeg, jpeg.error());
  BOOST_TEST(jpeg->width == 24);
  BOOST_TEST(jpeg->height == 16);
  BOOST_TEST(std::abs(int(jpeg->at(10, 10)[0]) - 120) <= 2);
  std::ofstream(dir + "/c.jpg", std::ios::binary) << std::string("\xFF\xD8\xFF\xE0 truncated", 14);
  auto truncated = read_image(dir + "/c.jpg");
  BOOST_REQUIRE(!truncated);
  BOOST_TEST(truncated.error().find("c.jpg") != std::string::npos, truncated.error());
#else
  BOOST_TEST(!jpeg_supported());
#endif
  fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(image_coder_records_read_back_and_refuse_malformed_ones) {
  auto dir = temp_dir("record");
  auto none = read_image_coder(dir);
  BOOST_REQUIRE(none);
  BOOST_TEST(!none->has_value());
  image_coder_record r{"vqgan", "gumbel-f8", 8192, 32, 256, "[vqgan]\nch = 128\n"};
  BOOST_REQUIRE(write_image_coder(dir, r));
  auto back = read_image_coder(dir);
  BOOST_REQUIRE_MESSAGE(back, back.error());
  BOOST_REQUIRE(back->has_value());
  BOOST_TEST((*back)->kind == "vqgan");
  BOOST_TEST((*back)->codes == 8192);
  BOOST_TEST((*back)->grid == 32);
  BOOST_TEST((*back)->config == r.config);
  std::ofstream(dir + "/" + image_coder_file) << "{\"kind\": \"dvae\", \"codes\": 8192, \"grid\": 32}";
  auto bad = read_image_coder(dir);
  BOOST_REQUIRE(!bad);
  BOOST_TEST(bad.error().find(image_coder_file) != std::string::npos, bad.error());
  fs::remove_all(dir);
}

// The GPU encodes in fp32 (TF32 convolutions, as PyTorch's default) and
// decodes under bf16 autocast, as `ttt vqgan` runs them there.
BOOST_AUTO_TEST_CASE(gpu_codes_match_the_cpus_and_bf16_pictures_are_close, *boost::unit_test::precondition(has_gpu)) {
  auto c = load("gumbel-tiny");
  vqgan cpu(c, vqgan_init{torch::TensorOptions(), 1});
  vqgan gpu(c, vqgan_init{torch::TensorOptions().device(torch::kCUDA), 1});
  torch::NoGradGuard no_grad;
  auto pixels = torch::rand({8, 3, 64, 64}, at::detail::createCPUGenerator(2));
  auto codes = cpu->encode(pixels);
  auto gpu_codes = gpu->encode(pixels.cuda()).cpu();
  auto agreement = (gpu_codes == codes).to(torch::kFloat).mean().item<double>();
  BOOST_TEST(agreement >= 0.99, "GPU codes agree with the CPU's at " << agreement << " of the positions");
  auto want = cpu->decode(codes);
  torch::Tensor got;
  {
    autocast_scope bf16(torch::Device(torch::kCUDA, 0));
    got = gpu->decode(codes.cuda()).cpu();
  }
  BOOST_TEST(got.scalar_type() == torch::kFloat32);
  BOOST_TEST((got - want).abs().mean().item<double>() < 0.01);
  BOOST_TEST((got - want).abs().max().item<double>() < 0.1);
}

BOOST_AUTO_TEST_SUITE_END()
