// `ttt data import` through the ttt program as a user runs it: a WebDataset
// tar and an image folder written here (JPEG, PNG and WebP; a corrupt image,
// a too-short caption, a too-wide image), the tiny VQGAN with random weights,
// dalle-tiny training on the result, and reruns that resume.
#define BOOST_TEST_MODULE model_import_cli
#include <boost/test/unit_test.hpp>

#include "cli_run.hpp"

#include "model/image.hpp"
#include "tests/model/tar_writer.hpp"

#ifdef TTT_WITH_JPEG
#include <jpeglib.h>
#endif
#ifdef TTT_WITH_WEBP
#include <webp/encode.h>
#endif

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
using ttt::model::rgb_image;
using ttt::testing::make_tar;
using ttt::testing::tar_entry;

namespace {

using ttt::testing::run;

std::string source(const std::string& path) {
  return std::string(TTT_SOURCE_DIR) + "/" + path;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

rgb_image picture(int width, int height, int seed) {
  rgb_image image(width, height);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      auto* p = image.at(x, y);
      p[0] = static_cast<uint8_t>(x * 4 + seed * 40);
      p[1] = static_cast<uint8_t>(y * 4 + seed * 20);
      p[2] = static_cast<uint8_t>((x + y) * 2 + seed * 70);
    }
  return image;
}

std::string png_bytes(const rgb_image& image, const std::string& scratch) {
  BOOST_REQUIRE(ttt::model::write_png(scratch, image));
  return slurp(scratch);
}

std::string jpeg_bytes(const rgb_image& image) {
#ifdef TTT_WITH_JPEG
  jpeg_compress_struct info;
  jpeg_error_mgr errors;
  info.err = jpeg_std_error(&errors);
  jpeg_create_compress(&info);
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&info, &buffer, &size);
  info.image_width = static_cast<JDIMENSION>(image.width);
  info.image_height = static_cast<JDIMENSION>(image.height);
  info.input_components = 3;
  info.in_color_space = JCS_RGB;
  jpeg_set_defaults(&info);
  jpeg_set_quality(&info, 90, TRUE);
  jpeg_start_compress(&info, TRUE);
  while (info.next_scanline < info.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(image.at(0, static_cast<int>(info.next_scanline)));
    jpeg_write_scanlines(&info, &row, 1);
  }
  jpeg_finish_compress(&info);
  jpeg_destroy_compress(&info);
  std::string out(reinterpret_cast<char*>(buffer), size);
  std::free(buffer);
  return out;
#else
  (void)image;
  return {};
#endif
}

std::string webp_bytes(const rgb_image& image) {
#ifdef TTT_WITH_WEBP
  uint8_t* out = nullptr;
  size_t size =
      WebPEncodeRGB(image.pixels.data(), image.width, image.height, image.width * 3, 90, &out);
  std::string bytes(reinterpret_cast<char*>(out), size);
  WebPFree(out);
  return bytes;
#else
  (void)image;
  return {};
#endif
}

bool have_jpeg() {
#ifdef TTT_WITH_JPEG
  return true;
#else
  return false;
#endif
}

bool have_webp() {
#ifdef TTT_WITH_WEBP
  return true;
#else
  return false;
#endif
}

// The value after "LABEL: " in `ttt data inspect`'s output.
long long inspected(const std::string& output, const std::string& label) {
  std::smatch m;
  if (!std::regex_search(output, m, std::regex(label + ": ([0-9]+)")))
    return -1;
  return std::stoll(m[1]);
}

long long records_in(const std::string& shard) {
  auto r = run("data inspect --show 0 " + shard);
  BOOST_REQUIRE_MESSAGE(r.status == 0, r.output);
  BOOST_TEST(inspected(r.output, "image codes per record") == 64);
  BOOST_TEST(inspected(r.output, "text ids per record") == 16);
  BOOST_TEST(inspected(r.output, "pass 2021 filters") == inspected(r.output, "records"));
  return inspected(r.output, "records");
}

struct fixture {
  std::string dir, weights, tokenizer, scratch;
  std::string tiny_model = source("configs/model/dalle-tiny.ini");
  fixture() {
    dir = (fs::temp_directory_path() / ("ttt_import_cli_test_" + std::to_string(::getpid())))
              .string();
    fs::remove_all(dir);
    fs::create_directories(dir);
    scratch = dir + "/scratch.png";
    weights = dir + "/tiny.safetensors";
    auto init =
        run("vqgan init --config " + source("configs/vqgan/gumbel-tiny.ini") + " --out " + weights);
    BOOST_REQUIRE_MESSAGE(init.status == 0, init.output);
    // A small SentencePiece model (T5's layout: pad 0, eos 1, unk 2) from the shapes captions.
    auto shapes = run("data shapes --out " + dir + "/shapes --count 48 --valid 16 --seed 3");
    BOOST_REQUIRE_MESSAGE(shapes.status == 0, shapes.output);
    tokenizer = dir + "/shapes/tokenizer.model";
  }
  ~fixture() { fs::remove_all(dir); }

  std::string import(const std::string& out, const std::string& inputs,
                     const std::string& extra = "") {
    return "data import --vqgan " + weights + " --tokenizer " + tokenizer + " --config " +
           tiny_model + " --out " + out + " --batch 3 --device cpu " + extra + " " + inputs;
  }
};

} // namespace

BOOST_FIXTURE_TEST_CASE(webdataset_import_keeps_the_right_samples_trains_and_resumes, fixture) {
  // Tar A: five good samples (one each JPEG, PNG, WebP, then more), a corrupt
  // JPEG, a two-letter caption, a 3:1 picture.
  std::vector<tar_entry> a = {
      {"000000.jpg", jpeg_bytes(picture(80, 64, 0))},
      {"000000.txt", "big red circle top left\n"},
      {"000000.json", "{\"caption\": \"big red circle top left\", \"NSFW\": \"UNLIKELY\"}"},
      {"000001.png", png_bytes(picture(64, 96, 1), scratch)},
      {"000001.txt", "small blue square bottom right"},
      {"000002.webp", webp_bytes(picture(72, 72, 2))},
      {"000002.txt", "green triangle"},
      {"000003.jpg", "\xFF\xD8\xFF\xE0 this is no JPEG at all"},
      {"000003.txt", "a corrupt picture"},
      {"000004.png", png_bytes(picture(64, 64, 4), scratch)},
      {"000004.txt", "ab"},
      {"000005.png", png_bytes(picture(200, 64, 5), scratch)},
      {"000005.txt", "far too wide a picture"},
      {"000006.png", png_bytes(picture(100, 64, 6), scratch)},
      {"000006.txt", "red square top right"},
      {"000007.jpg", jpeg_bytes(picture(64, 128, 7))},
      {"000007.txt", "blue circle bottom left"},
  };
  if (!have_jpeg())
    BOOST_TEST_MESSAGE("built without libjpeg: the JPEGs are skipped as unreadable");
  if (!have_webp())
    BOOST_TEST_MESSAGE("built without libwebp: the WebP is skipped as unreadable");
  long long good = 2 + (have_jpeg() ? 2 : 0) + (have_webp() ? 1 : 0); // 000000, 1, 2, 6, 7
  std::vector<tar_entry> b;
  for (int i = 0; i < 4; ++i) {
    b.push_back({"b/00" + std::to_string(i) + ".png", png_bytes(picture(64, 64, 10 + i), scratch)});
    b.push_back(
        {"b/00" + std::to_string(i) + ".txt", "small green circle number " + std::to_string(i)});
  }
  std::ofstream(dir + "/a.tar", std::ios::binary) << make_tar(a);
  std::ofstream(dir + "/b.tar", std::ios::binary) << make_tar(b);

  auto out = dir + "/wds";
  auto first = run(import(out, "--valid 2 --webdataset " + dir + "/a.tar " + dir + "/b.tar"));
  BOOST_REQUIRE_MESSAGE(first.status == 0, first.output);
  BOOST_TEST(first.output.find("images/s") != std::string::npos, first.output);
  BOOST_TEST(first.output.find("ETA") != std::string::npos, first.output);
  BOOST_TEST(first.output.find("warning: ") != std::string::npos, first.output);
  BOOST_TEST(first.output.find("000003.jpg") != std::string::npos, first.output);
  BOOST_TEST(first.output.find("filtered 1 short captions, 1 too wide") != std::string::npos,
             first.output);
  BOOST_TEST(first.output.find(std::to_string(good + 4 - 2) + " training and 2 held-out") !=
                 std::string::npos,
             first.output);
  // The first two good samples are held out; each tar is one shard.
  BOOST_TEST(records_in(out + "/valid-00000.shard") == 2);
  BOOST_TEST(records_in(out + "/train-00000.shard") == good - 2);
  BOOST_TEST(records_in(out + "/train-00001.shard") == 4);
  BOOST_TEST(!fs::exists(out + "/valid-00001.shard"));
  auto shown = run("data inspect --show 2 " + out + "/valid-00000.shard");
  BOOST_TEST(shown.output.find(have_jpeg() ? "big red circle top left"
                                           : "small blue square bottom right") != std::string::npos,
             shown.output);
  BOOST_TEST(slurp(out + "/image_coder.json").find("\"kind\": \"vqgan\"") != std::string::npos);
  BOOST_TEST(slurp(out + "/image_coder.json").find("\"grid\": 8") != std::string::npos);
  BOOST_TEST(slurp(out + "/tokenizer.model") == slurp(tokenizer));

  // A rerun finds everything done.
  auto train_a = slurp(out + "/train-00000.shard"), train_b = slurp(out + "/train-00001.shard");
  auto again = run(import(out, "--valid 2 --webdataset " + dir + "/a.tar " + dir + "/b.tar"));
  BOOST_REQUIRE_MESSAGE(again.status == 0, again.output);
  BOOST_TEST(again.output.find("imported 0 images") != std::string::npos, again.output);
  BOOST_TEST(again.output.find("2 resumed") != std::string::npos, again.output);
  BOOST_TEST(slurp(out + "/train-00001.shard") == train_b);

  // An import stopped after the first tar, continued with both: the same shards.
  auto out2 = dir + "/wds2";
  auto part = run(import(out2, "--valid 2 --webdataset " + dir + "/a.tar"));
  BOOST_REQUIRE_MESSAGE(part.status == 0, part.output);
  auto rest =
      run(import(out2, "--valid 2 --webdataset " + dir + "/a.tar --webdataset " + dir + "/b.tar"));
  BOOST_REQUIRE_MESSAGE(rest.status == 0, rest.output);
  BOOST_TEST(rest.output.find("1 shards written, 1 resumed") != std::string::npos, rest.output);
  BOOST_TEST(rest.output.find("imported 4 images") != std::string::npos, rest.output);
  BOOST_TEST(slurp(out2 + "/train-00000.shard") == train_a);
  BOOST_TEST(slurp(out2 + "/train-00001.shard") == train_b);
  // Other settings into the same directory are refused, not mixed.
  auto other = run(import(out2, "--valid 3 --webdataset " + dir + "/a.tar"));
  BOOST_TEST(other.status != 0);
  BOOST_TEST(other.output.find("other settings") != std::string::npos, other.output);

  // A tar cut in the middle: what came before the cut is imported, the import goes on.
  auto whole = make_tar(b);
  std::ofstream(dir + "/cut.tar", std::ios::binary) << whole.substr(0, whole.size() / 2);
  auto cut =
      run(import(dir + "/cut", "--valid 0 --webdataset " + dir + "/cut.tar " + dir + "/b.tar"));
  BOOST_REQUIRE_MESSAGE(cut.status == 0, cut.output);
  BOOST_TEST(cut.output.find("cut.tar") != std::string::npos, cut.output);
  BOOST_TEST(records_in(dir + "/cut/train-00001.shard") == 4);

  // dalle-tiny trains on the import, and its validation loss is measured.
  auto trained = run("train --config " + tiny_model + " --data " + out +
                     " --steps 2 --batch 2 --micro-batch 2 "
                     "--eval-every 1 --checkpoint-every 2 --out " +
                     dir + "/run --device cpu");
  BOOST_REQUIRE_MESSAGE(trained.status == 0, trained.output);
  BOOST_TEST(trained.output.find("trained steps ") != std::string::npos, trained.output);
  BOOST_TEST(trained.output.find("validation loss") != std::string::npos, trained.output);
  auto loss = run("eval loss --checkpoint " + dir + "/run --data " + out + " --device cpu");
  BOOST_TEST(loss.status == 0, loss.output);
  BOOST_TEST(loss.output.find("validation loss: ") != std::string::npos, loss.output);
}

BOOST_FIXTURE_TEST_CASE(image_folder_import_keeps_the_right_samples_in_shards_of_the_size_asked,
                        fixture) {
  auto images = dir + "/images";
  fs::create_directories(images + "/sub");
  std::ofstream(images + "/a.jpg", std::ios::binary) << jpeg_bytes(picture(70, 64, 1));
  std::ofstream(images + "/a.txt") << "red circle top left";
  std::ofstream(images + "/b.png", std::ios::binary) << png_bytes(picture(64, 80, 2), scratch);
  std::ofstream(images + "/b.txt") << "blue square";
  std::ofstream(images + "/c.webp", std::ios::binary) << webp_bytes(picture(64, 64, 3));
  std::ofstream(images + "/c.txt") << "green triangle bottom";
  std::ofstream(images + "/d.jpg", std::ios::binary) << std::string("\xFF\xD8\xFF\xE0 garbage", 12);
  std::ofstream(images + "/d.txt") << "corrupt";
  std::ofstream(images + "/sub/e.png", std::ios::binary) << png_bytes(picture(64, 64, 5), scratch);
  std::ofstream(images + "/sub/e.txt") << "x";
  std::ofstream(images + "/sub/f.png", std::ios::binary) << png_bytes(picture(64, 140, 6), scratch);
  std::ofstream(images + "/sub/f.txt") << "tall and thin";
  std::ofstream(images + "/sub/g.png", std::ios::binary) << png_bytes(picture(64, 64, 7), scratch);
  std::ofstream(images + "/notes.md") << "not an image";
  long long good = 1 + (have_jpeg() ? 1 : 0) + (have_webp() ? 1 : 0);

  // A unigram model from `ttt data tokenizer`, the kind T5's spiece.model is.
  auto trained =
      run("data tokenizer --data " + dir + "/shapes --model-type unigram --vocab-size 40 --out " +
          dir + "/unigram.model");
  BOOST_REQUIRE_MESSAGE(trained.status == 0, trained.output);
  tokenizer = dir + "/unigram.model";
  auto out = dir + "/folder";
  auto made = run(import(out, "--valid 1 --shard-size 4 --images " + images));
  BOOST_REQUIRE_MESSAGE(made.status == 0, made.output);
  BOOST_TEST(made.output.find("imported 7 images") != std::string::npos, made.output);
  BOOST_TEST(made.output.find("d.jpg") != std::string::npos, made.output);
  BOOST_TEST(made.output.find("g.png' has no caption") != std::string::npos, made.output);
  BOOST_TEST(made.output.find("filtered 1 short captions, 1 too wide") != std::string::npos,
             made.output);
  // a, b, c, d in the first shard (the first good one held out); e, f, g give nothing.
  BOOST_TEST(records_in(out + "/valid-00000.shard") == 1);
  BOOST_TEST(records_in(out + "/train-00000.shard") == good - 1);
  BOOST_TEST(!fs::exists(out + "/train-00001.shard"));
  auto again = run(import(out, "--valid 1 --shard-size 4 --images " + images));
  BOOST_REQUIRE_MESSAGE(again.status == 0, again.output);
  BOOST_TEST(again.output.find("2 resumed") != std::string::npos, again.output);

  // Errors name what is wrong.
  auto none = run("data import --vqgan " + weights + " --tokenizer " + tokenizer + " --out " + out);
  BOOST_TEST(none.status != 0);
  BOOST_TEST(none.output.find("--webdataset") != std::string::npos, none.output);
  auto small =
      run("data import --vqgan " + weights + " --tokenizer " + tokenizer + " --config " +
          source("configs/model/dalle-small.ini") + " --out " + out + "-small --images " + images);
  BOOST_TEST(small.status != 0);
  BOOST_TEST(small.output.find("does not fit model") != std::string::npos, small.output);
}
