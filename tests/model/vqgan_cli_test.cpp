// `ttt vqgan` and `ttt generate` with a VQGAN, through the ttt program as a
// user runs them, with the tiny config (configs/vqgan/gumbel-tiny.ini) and
// random weights: codes JSON in both directions, PNG sizes, clear errors, and
// generate picking its image coder from the data's image_coder.json.
#define BOOST_TEST_MODULE model_vqgan_cli
#include <boost/test/unit_test.hpp>

#include "cli_run.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <unistd.h>

namespace fs = std::filesystem;

namespace {

using ttt::testing::run;

std::string source(const std::string& path) { return std::string(TTT_SOURCE_DIR) + "/" + path; }

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Width and height from a PNG's IHDR chunk; {0, 0} for anything else.
std::pair<int, int> png_size(const std::string& path) {
  auto bytes = slurp(path);
  if (bytes.size() < 24 || bytes.compare(1, 3, "PNG") != 0)
    return {0, 0};
  auto be32 = [&](size_t at) {
    return int(uint8_t(bytes[at])) << 24 | int(uint8_t(bytes[at + 1])) << 16 | int(uint8_t(bytes[at + 2])) << 8 |
           int(uint8_t(bytes[at + 3]));
  };
  return {be32(16), be32(20)};
}

// The codes of a codes file: every integer, in order, and the number of images.
std::pair<std::vector<int>, int> codes_of(const std::string& path) {
  auto text = slurp(path);
  std::vector<int> codes;
  std::regex number("-?[0-9]+");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), number); it != std::sregex_iterator(); ++it)
    codes.push_back(std::stoi(it->str()));
  int images = 0;
  for (size_t i = 1; i < text.size(); ++i)
    images += text[i] == '[';
  return {codes, images};
}

struct fixture {
  std::string dir;
  std::string tiny = source("configs/vqgan/gumbel-tiny.ini");
  std::string weights;
  fixture() {
    dir = (fs::temp_directory_path() / ("ttt_vqgan_cli_test_" + std::to_string(::getpid()))).string();
    fs::remove_all(dir);
    fs::create_directories(dir);
    weights = dir + "/tiny.safetensors";
    auto init = run("vqgan init --config " + tiny + " --out " + weights + " --seed 3");
    BOOST_REQUIRE_MESSAGE(init.status == 0, init.output);
  }
  ~fixture() { fs::remove_all(dir); }
};

} // namespace

BOOST_AUTO_TEST_CASE(vqgan_info_prints_gumbel_f8s_parameter_count) {
  auto info = run("vqgan info --config " + source("configs/vqgan/gumbel-f8.ini"));
  BOOST_TEST(info.status == 0, info.output);
  BOOST_TEST(info.output.find("parameters: 68995971\n") != std::string::npos, info.output);
  BOOST_TEST(info.output.find("codes = 32x32 (f = 8) of 8192") != std::string::npos, info.output);
  for (const char* command : {"vqgan info", "vqgan init", "vqgan encode", "vqgan decode", "bench vqgan"}) {
    auto help = run(std::string(command) + " --help");
    BOOST_TEST(help.status == 0, command);
    BOOST_TEST(help.output.find("usage: ttt") != std::string::npos, command);
  }
}

BOOST_FIXTURE_TEST_CASE(codes_decode_to_pngs_and_pngs_encode_to_codes, fixture) {
  // Two images of codes, written by hand: decoded as a grid of two.
  {
    std::ofstream codes(dir + "/two.json");
    codes << "[[";
    for (int i = 0; i < 64; ++i)
      codes << (i ? ", " : "") << i;
    codes << "],\n [";
    for (int i = 0; i < 64; ++i)
      codes << (i ? ", " : "") << (63 - i);
    codes << "]]\n";
  }
  auto grid = run("vqgan decode --weights " + weights + " --codes " + dir + "/two.json --out " + dir + "/two.png");
  BOOST_REQUIRE_MESSAGE(grid.status == 0, grid.output);
  BOOST_TEST((png_size(dir + "/two.png") == std::pair{2 * 64 + 3 * 2, 64 + 2 * 2}));

  {
    std::ofstream codes(dir + "/one.json");
    codes << "[[";
    for (int i = 0; i < 64; ++i)
      codes << (i ? ", " : "") << (i * 7) % 64;
    codes << "]]\n";
  }
  auto one = run("vqgan decode --config " + tiny + " --weights " + weights + " --codes " + dir + "/one.json --out " +
                 dir + "/one.png --device cpu");
  BOOST_REQUIRE_MESSAGE(one.status == 0, one.output);
  BOOST_TEST((png_size(dir + "/one.png") == std::pair{64, 64}));

  // The PNGs encode to 8x8 codes in range, the same each time; a grid of
  // another size is scaled and cropped to 64 px first.
  auto encoded = run("vqgan encode --weights " + weights + " --image " + dir + "/one.png --image " + dir +
                     "/two.png --out " + dir + "/codes.json");
  BOOST_REQUIRE_MESSAGE(encoded.status == 0, encoded.output);
  BOOST_TEST(encoded.output.find("8x8 codes of 2 images") != std::string::npos, encoded.output);
  auto [codes, images] = codes_of(dir + "/codes.json");
  BOOST_TEST(images == 2);
  BOOST_TEST(codes.size() == 128u);
  for (int c : codes)
    BOOST_TEST((c >= 0 && c < 64));
  auto again = run("vqgan encode --weights " + weights + " --image " + dir + "/one.png --image " + dir +
                   "/two.png --out " + dir + "/again.json --batch 1");
  BOOST_REQUIRE_MESSAGE(again.status == 0, again.output);
  BOOST_TEST(slurp(dir + "/codes.json") == slurp(dir + "/again.json"));

  // --sample: Gumbel noise, seeded.
  for (const char* name : {"s1", "s2"}) {
    auto sampled = run("vqgan encode --weights " + weights + " --image " + dir + "/one.png --sample --seed 5 --out " +
                       dir + "/" + name + ".json");
    BOOST_REQUIRE_MESSAGE(sampled.status == 0, sampled.output);
  }
  BOOST_TEST(slurp(dir + "/s1.json") == slurp(dir + "/s2.json"));
  BOOST_TEST(codes_of(dir + "/s1.json").first.size() == 64u);

  // What comes back decodes again.
  auto round = run("vqgan decode --weights " + weights + " --codes " + dir + "/codes.json --out " + dir + "/round.png");
  BOOST_REQUIRE_MESSAGE(round.status == 0, round.output);
  BOOST_TEST(png_size(dir + "/round.png").first == 2 * 64 + 3 * 2);
}

BOOST_FIXTURE_TEST_CASE(bad_codes_images_and_weights_get_clear_errors, fixture) {
  std::ofstream(dir + "/short.json") << "[[1, 2, 3]]";
  auto shape = run("vqgan decode --weights " + weights + " --codes " + dir + "/short.json --out " + dir + "/x.png");
  BOOST_TEST(shape.status != 0);
  BOOST_TEST(shape.output.find("square") != std::string::npos, shape.output);
  std::ofstream(dir + "/big.json") << "[[64, 0, 0, 0]]";
  auto range = run("vqgan decode --weights " + weights + " --codes " + dir + "/big.json --out " + dir + "/x.png");
  BOOST_TEST(range.status != 0);
  BOOST_TEST(range.output.find("[0, 64)") != std::string::npos, range.output);

  std::ofstream(dir + "/notes.txt") << "not an image";
  auto text = run("vqgan encode --weights " + weights + " --image " + dir + "/notes.txt --out " + dir + "/c.json");
  BOOST_TEST(text.status != 0);
  BOOST_TEST(text.output.find("neither a PNG nor a JPEG") != std::string::npos, text.output);

  // Weights of another config: the first tensor that does not fit is named.
  auto f8 = run("vqgan decode --config " + source("configs/vqgan/gumbel-f8.ini") + " --weights " + weights +
                " --codes " + dir + "/big.json --out " + dir + "/x.png");
  BOOST_TEST(f8.status != 0);
  BOOST_TEST(f8.output.find("encoder.conv_in.weight [32, 3, 3, 3] (expected [128, 3, 3, 3])") != std::string::npos,
             f8.output);
  auto missing = run("vqgan decode --weights " + dir + "/nonexistent.safetensors --codes x.json --out x.png");
  BOOST_TEST(missing.status != 0);
  BOOST_TEST(missing.output.find("nonexistent.safetensors") != std::string::npos, missing.output);
  auto no_weights = run("vqgan encode --image x.png --out y.json");
  BOOST_TEST(no_weights.status == 2);
  BOOST_TEST(no_weights.output.find("--weights") != std::string::npos, no_weights.output);
}

BOOST_FIXTURE_TEST_CASE(generate_decodes_with_the_vqgan_its_data_used, fixture) {
  // A tokenizer from a small shapes set, a fresh dalle-tiny (64 codes, 8x8).
  auto data = dir + "/shapes";
  auto made = run("data shapes --out " + data + " --count 48 --valid 16 --seed 3");
  BOOST_REQUIRE_MESSAGE(made.status == 0, made.output);
  BOOST_TEST(slurp(data + "/image_coder.json").find("\"kind\": \"codebook\"") != std::string::npos);
  auto model = dir + "/dalle.safetensors";
  auto exported = run("export --config " + source("configs/model/dalle-tiny.ini") + " --out " + model);
  BOOST_REQUIRE_MESSAGE(exported.status == 0, exported.output);

  // --vqgan given: its pictures, 64x64 for one image.
  auto one = run("generate --weights " + model + " --data " + data + " --vqgan " + weights +
                 " --prompt \"red circle\" --count 1 --out " + dir + "/one.png");
  BOOST_REQUIRE_MESSAGE(one.status == 0, one.output);
  BOOST_TEST((png_size(dir + "/one.png") == std::pair{64, 64}));
  auto two = run("generate --weights " + model + " --data " + data + " --vqgan " + weights +
                 " --prompt \"red circle\" --count 2 --out " + dir + "/two.png");
  BOOST_REQUIRE_MESSAGE(two.status == 0, two.output);
  BOOST_TEST((png_size(dir + "/two.png") == std::pair{2 * 64 + 3 * 2, 64 + 2 * 2}));

  // A checkpoint whose data were VQGAN codes: without --vqgan, generate says
  // which VQGAN it needs; with it, it decodes.
  auto ckpt = dir + "/checkpoint";
  fs::create_directories(ckpt);
  fs::copy_file(model, ckpt + "/model.safetensors");
  fs::copy_file(source("configs/model/dalle-tiny.ini"), ckpt + "/config.ini");
  fs::copy_file(data + "/tokenizer.model", ckpt + "/tokenizer.model");
  std::ofstream(ckpt + "/image_coder.json")
    << "{\"kind\": \"vqgan\", \"name\": \"gumbel-tiny\", \"codes\": 64, \"grid\": 8, \"image_size\": 64}\n";
  auto lacking = run("generate --checkpoint " + ckpt + " --prompt \"red circle\" --count 1 --out " + dir + "/x.png");
  BOOST_TEST(lacking.status != 0);
  BOOST_TEST(lacking.output.find("gumbel-tiny") != std::string::npos, lacking.output);
  BOOST_TEST(lacking.output.find("--vqgan") != std::string::npos, lacking.output);
  auto with = run("generate --checkpoint " + ckpt + " --vqgan " + weights + " --prompt \"red circle\" --count 1 --out " +
                  dir + "/ckpt.png");
  BOOST_REQUIRE_MESSAGE(with.status == 0, with.output);
  BOOST_TEST((png_size(dir + "/ckpt.png") == std::pair{64, 64}));

  // A VQGAN whose codebook is not the model's image vocabulary is refused.
  auto text = slurp(tiny);
  text.replace(text.find("n_embed = 64"), 12, "n_embed = 32");
  std::ofstream(dir + "/small.ini") << text;
  auto small = run("vqgan init --config " + dir + "/small.ini --out " + dir + "/small.safetensors");
  BOOST_REQUIRE_MESSAGE(small.status == 0, small.output);
  auto unfit = run("generate --checkpoint " + ckpt + " --vqgan " + dir + "/small.safetensors --prompt x --out " + dir +
                   "/x.png");
  BOOST_TEST(unfit.status != 0);
  BOOST_TEST(unfit.output.find("(32 codes, 8x8) does not fit model") != std::string::npos, unfit.output);

  // No coder at all: the error names both ways to give one.
  fs::remove(ckpt + "/image_coder.json");
  auto none = run("generate --checkpoint " + ckpt + " --prompt x --out " + dir + "/x.png");
  BOOST_TEST(none.status != 0);
  BOOST_TEST(none.output.find("--vqgan") != std::string::npos, none.output);
  BOOST_TEST(none.output.find("--codebook") != std::string::npos, none.output);
}
