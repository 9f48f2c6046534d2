// Real `ttt node` processes training dalle-tiny together on loopback: a DHT
// peer and two trainers. Every epoch both trainers average (group of 2) and
// log the same parameter digest: they hold the same model, bit for bit.
#define BOOST_TEST_MODULE swarm_process
#include <boost/test/unit_test.hpp>

#include "tests/common/process.hpp"

#include <fstream>
#include <functional>
#include <memory>
#include <regex>
#include <sstream>

using namespace ttt::test;

namespace {

/// (epoch, digest, group) of every "epoch N done" line.
std::vector<std::tuple<int, std::string, std::string>> epochs_of(const std::string& log) {
  std::vector<std::tuple<int, std::string, std::string>> out;
  std::regex re("epoch ([0-9]+) done: .*parameters ([0-9a-f]{16}), ([a-z0-9 ]*[a-z0-9])");
  for (auto it = std::sregex_iterator(log.begin(), log.end(), re); it != std::sregex_iterator(); ++it)
    out.emplace_back(std::stoi((*it)[1]), (*it)[2], (*it)[3]);
  return out;
}

/// The two-trainer swarm of the tests below: a DHT peer and two trainers
/// of dalle-tiny for 2 epochs, each started with `extra(name)` appended to
/// its command line (a closed run's manifest and certificate).
void train_two(const temp_dir& tmp, const std::function<std::vector<std::string>(const std::string&)>& extra) {
  auto data = tmp.path() + "/data";
  auto [rc, out] = run({ttt_binary(), "data", "shapes", "--out", data, "--count", "64"},
                       tmp.path() + "/shapes.log", std::chrono::seconds(120));
  BOOST_REQUIRE_MESSAGE(rc == 0, out);

  auto profile = tmp.path() + "/trainer.ini";
  std::string text = read_text(TTT_SOURCE_DIR "/configs/trainer.ini");
  text = std::regex_replace(text, std::regex("config = model/"), "config = " TTT_SOURCE_DIR "/configs/model/");
  text = std::regex_replace(text, std::regex("target_batch_size = [0-9]+"), "target_batch_size = 32");
  text = std::regex_replace(text, std::regex("epochs = [0-9]+"), "epochs = 2");
  text = std::regex_replace(text, std::regex("matchmaking_time = [0-9]+"), "matchmaking_time = 15");
  // A full group (both trainers) forms at once; the 15 s only cover start-up.
  text = std::regex_replace(text, std::regex("group_size = 16"), "group_size = 2");
  std::ofstream(profile) << text;

  auto with = [&](std::vector<std::string> argv, const std::string& name) {
    for (auto& a : extra(name))
      argv.push_back(a);
    return argv;
  };
  process dht(with({ttt_binary(), "node", "--profile", TTT_SOURCE_DIR "/configs/node.ini", "--listen",
                    "127.0.0.1:0", "--data-dir", tmp.path() + "/dht"}, "dht"),
              tmp.path() + "/dht.log");
  auto ready = dht.wait_for("listening on (127\\.0\\.0\\.1:[0-9]+)");
  BOOST_REQUIRE_MESSAGE(ready, dht.output());
  std::vector<std::unique_ptr<process>> trainers;
  for (int i = 0; i < 2; ++i) {
    auto name = "trainer" + std::to_string(i);
    trainers.push_back(std::make_unique<process>(
      with({ttt_binary(), "node", "--profile", profile, "--listen", "127.0.0.1:0", "--initial-peer", (*ready)[1],
            "--data", data, "--data-dir", tmp.path() + "/" + name}, name),
      tmp.path() + "/" + name + ".log"));
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

} // namespace

BOOST_AUTO_TEST_CASE(two_trainer_processes_average_and_agree) {
  temp_dir tmp;
  train_two(tmp, [](const std::string&) { return std::vector<std::string>{}; });
}

BOOST_AUTO_TEST_CASE(certified_trainers_of_a_closed_run_train_together) {
  // The run's authority admits each node by its key; every node presents
  // its certificate in every handshake, and checks everyone else's.
  temp_dir tmp;
  auto run_dir = tmp.path() + "/run";
  auto [rc, out] = run({ttt_binary(), "run", "init", "--out", run_dir, "--run-id", "ttt-demo", "--admission", "closed"},
                       tmp.path() + "/init.log");
  BOOST_REQUIRE_MESSAGE(rc == 0, out);
  for (const char* name : {"dht", "trainer0", "trainer1"}) {
    auto [irc, id] = run({ttt_binary(), "identity", "--data-dir", tmp.path() + "/" + name},
                         tmp.path() + "/identity-" + name + ".log");
    std::smatch key;
    BOOST_REQUIRE_MESSAGE(irc == 0 && std::regex_search(id, key, std::regex("public key +([0-9a-f]{64})")), id);
    auto [arc, admitted] = run({ttt_binary(), "run", "admit", "--run", run_dir, "--peer-key", key[1].str(), "--name",
                                name, "--out", tmp.path() + "/" + name + ".cert"},
                               tmp.path() + "/admit-" + name + ".log");
    BOOST_REQUIRE_MESSAGE(arc == 0, admitted);
  }
  train_two(tmp, [&](const std::string& name) {
    return std::vector<std::string>{"--manifest", run_dir + "/run.manifest", "--certificate",
                                    tmp.path() + "/" + name + ".cert"};
  });
}
