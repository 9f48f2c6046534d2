// Real `ttt node` processes training dalle-tiny together on loopback: a DHT
// peer and two trainers. Every epoch both trainers average (group of 2) and
// log the same parameter digest: they hold the same model, bit for bit.
#define BOOST_TEST_MODULE swarm_process
#include <boost/test/unit_test.hpp>

#include "tests/common/process.hpp"

#include <fstream>
#include <memory>
#include <regex>
#include <sstream>

using namespace ttt::test;

namespace {

/// (epoch, digest, group) of every "epoch N done" line.
std::vector<std::tuple<int, std::string, std::string>> epochs_of(const std::string& log) {
  std::vector<std::tuple<int, std::string, std::string>> out;
  std::regex re("epoch ([0-9]+) done: .*parameters ([0-9a-f]{16}), ([^\\n]*)");
  for (auto it = std::sregex_iterator(log.begin(), log.end(), re); it != std::sregex_iterator(); ++it)
    out.emplace_back(std::stoi((*it)[1]), (*it)[2], (*it)[3]);
  return out;
}

} // namespace

BOOST_AUTO_TEST_CASE(two_trainer_processes_average_and_agree) {
  temp_dir tmp;
  auto data = tmp.path() + "/data";
  auto [rc, out] = run({ttt_binary(), "data", "shapes", "--out", data, "--count", "64"},
                       tmp.path() + "/shapes.log", std::chrono::seconds(120));
  BOOST_REQUIRE_MESSAGE(rc == 0, out);

  auto profile = tmp.path() + "/trainer.ini";
  std::string text = read_text(TTT_SOURCE_DIR "/configs/trainer.ini");
  text = std::regex_replace(text, std::regex("config = configs/"), "config = " TTT_SOURCE_DIR "/configs/");
  text = std::regex_replace(text, std::regex("target_batch_size = [0-9]+"), "target_batch_size = 32");
  text = std::regex_replace(text, std::regex("epochs = [0-9]+"), "epochs = 2");
  text = std::regex_replace(text, std::regex("matchmaking_time = [0-9]+"), "matchmaking_time = 15");
  // A full group (both trainers) forms at once; the 15 s only cover start-up.
  text = std::regex_replace(text, std::regex("group_size = 16"), "group_size = 2");
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
  auto a = epochs_of(trainers[0]->output());
  auto b = epochs_of(trainers[1]->output());
  BOOST_REQUIRE(a.size() == 2u);
  BOOST_REQUIRE(b.size() == 2u);
  for (size_t e = 0; e < 2; ++e) {
    BOOST_TEST(std::get<0>(a[e]) == static_cast<int>(e));
    BOOST_TEST(std::get<2>(a[e]) == "averaged with 2 peers");
    BOOST_TEST(std::get<2>(b[e]) == "averaged with 2 peers");
    BOOST_TEST(std::get<1>(a[e]) == std::get<1>(b[e])); // the same parameters
  }
  BOOST_TEST(std::get<1>(a[0]) != std::get<1>(a[1])); // and they moved
  for (auto& t : trainers) {
    t->kill(SIGTERM);
    BOOST_TEST(t->wait().value_or(-1) == 0);
  }
  dht.kill(SIGTERM);
}
