// End to end through the `ttt` program, as a user runs it: make the shapes
// set, train dalle-tiny for a bounded number of steps, and check that the
// held-out loss fell and that generated pictures match their captions better
// than an untrained model's. Also the CLI's answers to bad input.
#define BOOST_TEST_MODULE model_train
#include <boost/test/unit_test.hpp>

#include "cli_run.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <unistd.h>

namespace {

using ttt::testing::run;

std::string config(const std::string& name) { return std::string(TTT_SOURCE_DIR) + "/configs/model/" + name + ".ini"; }

double number_after(const std::string& text, const std::string& pattern) {
  std::smatch m;
  BOOST_REQUIRE_MESSAGE(std::regex_search(text, m, std::regex(pattern + " ([-0-9.e]+)")), "no '" << pattern << "' in:\n" << text);
  return std::stod(m[1]);
}

std::string temp_dir() {
  auto dir = std::filesystem::temp_directory_path() / ("ttt_train_test_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

} // namespace

BOOST_AUTO_TEST_CASE(model_info_prints_the_parameter_counts) {
  auto tiny = run("model info --config " + config("dalle-tiny"));
  BOOST_TEST(tiny.status == 0);
  BOOST_TEST(tiny.output.find("parameters: 288208\n") != std::string::npos, tiny.output);
  auto ttt = run("model info --config " + config("dalle-ttt"));
  BOOST_TEST(ttt.output.find("parameters: 125894244\n") != std::string::npos, ttt.output);
  BOOST_TEST(ttt.output.find("distinct attention modules: 5") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(bad_flags_and_files_get_a_clear_error_and_nonzero_exit) {
  auto missing = run("model info --config /nonexistent/model.ini");
  BOOST_TEST(missing.status != 0);
  BOOST_TEST(missing.output.find("/nonexistent/model.ini") != std::string::npos);
  auto bad_flag = run("train --config " + config("dalle-tiny") + " --data /tmp --colour red");
  BOOST_TEST(bad_flag.status != 0);
  BOOST_TEST(bad_flag.output.find("--colour") != std::string::npos);
  auto no_data = run("train --config " + config("dalle-tiny") + " --data /nonexistent/shapes");
  BOOST_TEST(no_data.status != 0);
  BOOST_TEST(no_data.output.find("/nonexistent/shapes") != std::string::npos);
  auto not_a_shard = run("data inspect " + config("dalle-tiny"));
  BOOST_TEST(not_a_shard.status != 0);
  BOOST_TEST(not_a_shard.output.find("not a ttt shard") != std::string::npos);
  auto weights = run("model eval --config " + config("dalle-tiny") + " --weights /nonexistent/w.safetensors --batch x.json");
  BOOST_TEST(weights.status != 0);
  BOOST_TEST(weights.output.find("/nonexistent/w.safetensors") != std::string::npos);
  auto accumulate = run("bench train --config " + config("dalle-tiny") + " --accumulate 0");
  BOOST_TEST(accumulate.status == 2);
  BOOST_TEST(accumulate.output.find("--accumulate") != std::string::npos);
  for (const char* bad : {" --kernels maybe", " --attention sparse"}) {
    auto path = run("bench train --config " + config("dalle-tiny") + bad);
    BOOST_TEST(path.status == 2, bad);
    BOOST_TEST(path.output.find(std::string(bad).substr(1, std::string(bad).find(' ', 1) - 1)) != std::string::npos, bad);
  }
  // A profile needs a libtorch with kineto: written where there is one, a
  // clear error where there is not (Debian's).
  std::string trace = "/tmp/ttt-train-test-" + std::to_string(::getpid()) + ".json";
  auto profile = run("bench train --config " + config("dalle-tiny") + " --batch 2 --steps 1 --reversible on --profile " + trace);
  if (profile.status == 0) {
    BOOST_TEST(std::ifstream(trace + ".txt").good());
  } else {
    BOOST_TEST(profile.output.find("kineto") != std::string::npos);
  }
  std::remove(trace.c_str());
  std::remove((trace + ".txt").c_str());
  for (const char* command : {"model info", "data shapes", "data inspect", "data tokenizer", "data tokenize", "train", "generate",
                              "eval shapes", "export"}) {
    auto help = run(std::string(command) + " --help");
    BOOST_TEST(help.status == 0, command);
    BOOST_TEST(help.output.find("usage: ttt") != std::string::npos, command);
  }
}

BOOST_AUTO_TEST_CASE(dalle_tiny_learns_the_shapes_set) {
  auto dir = temp_dir();
  auto data = dir + "/shapes", out = dir + "/run";
  auto made = run("data shapes --out " + data + " --count 1500 --valid 128 --seed 7");
  BOOST_REQUIRE_MESSAGE(made.status == 0, made.output);
  BOOST_TEST(number_after(made.output, "shapes score") > 0.6); // the codebook gives the pictures back
  auto shown = run("data inspect --show 1 " + data + "/valid-00000.shard");
  BOOST_TEST(shown.status == 0);
  BOOST_TEST(shown.output.find("records: 128") != std::string::npos, shown.output);

  // A tokenizer trained on the captions, then a shard re-tokenized with it.
  auto tokenizer = run("data tokenizer --data " + data + " --vocab-size 40 --model-type word --out " + dir + "/words.model");
  BOOST_REQUIRE_MESSAGE(tokenizer.status == 0, tokenizer.output);
  auto retokenized = run("data tokenize --tokenizer " + dir + "/words.model --text-length 16 " + data +
                         "/valid-00000.shard " + dir + "/valid-words.shard");
  BOOST_REQUIRE_MESSAGE(retokenized.status == 0, retokenized.output);
  BOOST_TEST(retokenized.output.find("wrote 128 records") != std::string::npos);

  // Bounded: 160 steps of 32 samples (about a minute on one core).
  auto trained = run("train --config " + config("dalle-tiny") + " --data " + data + " --out " + out +
                     " --steps 160 --eval-every 80 --checkpoint-every 80 --keep-activations");
  BOOST_REQUIRE_MESSAGE(trained.status == 0, trained.output);
  double first = number_after(trained.output, "step 0 validation loss");
  double last = number_after(trained.output, "step 160 validation loss");
  BOOST_TEST(last < 0.5 * first, "validation loss " << first << " -> " << last);
  BOOST_TEST(std::filesystem::exists(out + "/checkpoints/step-00000160/model.safetensors"));
  BOOST_TEST(trained.output.find("samples/s") != std::string::npos);

  auto untrained = run("eval shapes --config " + config("dalle-tiny") + " --data " + data + " --count 48");
  BOOST_REQUIRE_MESSAGE(untrained.status == 0, untrained.output);
  auto scored = run("eval shapes --checkpoint " + out + " --count 48 --out " + dir + "/eval.png");
  BOOST_REQUIRE_MESSAGE(scored.status == 0, scored.output);
  double before = number_after(untrained.output, "\nscore:"), after = number_after(scored.output, "\nscore:");
  BOOST_TEST(after > before + 0.15, "eval shapes " << before << " -> " << after);

  auto generated = run("generate --checkpoint " + out + " --prompt \"big red circle top left and small blue square "
                       "bottom right\" --count 4 --top-k 8 --out " + dir + "/gen.png");
  BOOST_TEST(generated.status == 0, generated.output);
  BOOST_TEST(std::filesystem::file_size(dir + "/gen.png") > 100u);
  auto from_weights = run("generate --weights " + out + "/checkpoints/step-00000160/model.safetensors --data " + data +
                          " --prompt \"small green triangle middle center and big yellow square top right\" --count 2 --out " +
                          dir + "/gen2.png");
  BOOST_TEST(from_weights.status == 0, from_weights.output);

  // export → the same model evaluates the same batch identically
  auto exported = run("export --checkpoint " + out + " --out " + dir + "/tiny.safetensors");
  BOOST_REQUIRE_MESSAGE(exported.status == 0, exported.output);
  std::string batch = dir + "/batch.json";
  {
    std::FILE* f = std::fopen(batch.c_str(), "w");
    std::string text = "{\"text\": [[3, 19, 9, 11, 6, 4, 5, 15, 7, 8, 13]], \"image\": [[";
    for (int i = 0; i < 64; ++i)
      text += (i ? "," : "") + std::to_string(i % 3 == 0 ? 0 : i % 64);
    text += "]]}";
    std::fputs(text.c_str(), f);
    std::fclose(f);
  }
  // the exported file carries its config: --weights alone is enough
  auto a = run("model eval --weights " + dir + "/tiny.safetensors --batch " + batch);
  auto b = run("model eval --config " + config("dalle-tiny") + " --weights " + out +
               "/checkpoints/step-00000160/model.safetensors --batch " + batch);
  BOOST_REQUIRE_MESSAGE(a.status == 0, a.output);
  BOOST_TEST(a.output == b.output);
  BOOST_TEST(a.output.find("\"loss_img\"") != std::string::npos);
  std::filesystem::remove_all(dir);
}
