// Real `ttt node` processes in DiLoCo mode (`mode = diloco` in the trainer
// profile) on dalle-tiny over loopback: a DHT peer and two trainers. Every
// outer step both average their 8-bit pseudo-gradients (group of 2) and log
// the same parameter digest: they hold the same model, bit for bit.
#define BOOST_TEST_MODULE diloco_process
#include <boost/test/unit_test.hpp>

#include "tests/common/process.hpp"

#include <fstream>
#include <memory>
#include <regex>
#include <sstream>

using namespace ttt::test;

namespace {

struct epoch_line {
  int epoch;
  std::string digest, how;
  int inner_steps;
};

std::vector<epoch_line> epochs_of(const std::string& log) {
  std::vector<epoch_line> out;
  std::regex re("epoch ([0-9]+) done: .*parameters ([0-9a-f]{16}), ([^,\\n]*), ([0-9]+) inner steps");
  for (auto it = std::sregex_iterator(log.begin(), log.end(), re); it != std::sregex_iterator(); ++it)
    out.push_back({std::stoi((*it)[1]), (*it)[2], (*it)[3], std::stoi((*it)[4])});
  return out;
}

std::string set(std::string text, const std::string& key, const std::string& value) {
  return std::regex_replace(text, std::regex("\n" + key + " = [^\n]*"), "\n" + key + " = " + value);
}

} // namespace

BOOST_AUTO_TEST_CASE(two_diloco_trainer_processes_average_and_agree) {
  temp_dir tmp;
  auto data = tmp.path() + "/data";
  auto [rc, out] = run({ttt_binary(), "data", "shapes", "--out", data, "--count", "64"},
                       tmp.path() + "/shapes.log", std::chrono::seconds(120));
  BOOST_REQUIRE_MESSAGE(rc == 0, out);

  auto profile = tmp.path() + "/trainer.ini";
  std::string text = read_text(TTT_SOURCE_DIR "/configs/trainer.ini");
  text = std::regex_replace(text, std::regex("config = model/"), "config = " TTT_SOURCE_DIR "/configs/model/");
  text = set(text, "mode", "diloco");
  text = set(text, "inner_steps", "3");
  text = set(text, "epochs", "2");
  text = set(text, "group_size", "2");
  text = set(text, "matchmaking_time", "15"); // a full group forms at once; this covers start-up
  std::ofstream(profile) << text;

  process dht({ttt_binary(), "node", "--profile", TTT_SOURCE_DIR "/configs/node.ini", "--listen",
               "127.0.0.1:0", "--data-dir", tmp.path() + "/dht"},
              tmp.path() + "/dht.log");
  auto ready = dht.wait_for("listening on (127\\.0\\.0\\.1:[0-9]+)");
  BOOST_REQUIRE_MESSAGE(ready, dht.output());
  std::vector<std::unique_ptr<process>> trainers;
  for (int i = 0; i < 2; ++i) {
    trainers.push_back(std::make_unique<process>(
      std::vector<std::string>{ttt_binary(), "node", "--profile", profile, "--listen", "127.0.0.1:0",
                               "--initial-peer", (*ready)[1], "--data", data, "--data-dir",
                               tmp.path() + "/trainer" + std::to_string(i)},
      tmp.path() + "/trainer" + std::to_string(i) + ".log"));
  }
  for (auto& t : trainers)
    BOOST_REQUIRE_MESSAGE(t->wait_for("trained 2 epochs", std::chrono::seconds(150)), t->output());
  BOOST_TEST(trainers[0]->output().find("DiLoCo trainer of run") != std::string::npos);
  auto a = epochs_of(trainers[0]->output());
  auto b = epochs_of(trainers[1]->output());
  BOOST_REQUIRE(a.size() == 2u);
  BOOST_REQUIRE(b.size() == 2u);
  for (size_t e = 0; e < 2; ++e) {
    BOOST_TEST(a[e].epoch == static_cast<int>(e));
    BOOST_TEST(a[e].how == "averaged with 2 peers");
    BOOST_TEST(b[e].how == "averaged with 2 peers");
    BOOST_TEST(a[e].inner_steps == 3);
    BOOST_TEST(a[e].digest == b[e].digest); // the same parameters
  }
  BOOST_TEST(a[0].digest != a[1].digest); // and they moved
  for (auto& t : trainers) {
    t->kill(SIGTERM);
    BOOST_TEST(t->wait().value_or(-1) == 0);
  }
  dht.kill(SIGTERM);
  // Each outer step was checkpointed (checkpoint_every = 1), as a model the
  // tools read: the last one scores on the held-out shards.
  auto last = tmp.path() + "/trainer0/checkpoints/epoch-00000002";
  auto [eval_rc, eval_out] = run({ttt_binary(), "eval", "loss", "--checkpoint", last, "--data", data,
                                  "--samples", "16"},
                                 tmp.path() + "/eval.log", std::chrono::seconds(120));
  BOOST_TEST(eval_rc == 0, eval_out);
  BOOST_TEST(eval_out.find("validation loss: ") != std::string::npos, eval_out);
}
