// Checkpoints and resuming with real `ttt node` processes training
// dalle-tiny on loopback: a trainer killed with SIGKILL does not stop the
// others and, restarted, resumes from its newest valid checkpoint (its epoch
// is not reset; a damaged checkpoint is skipped) and catches up with the swarm by loading state from a peer; a whole
// swarm stopped and restarted resumes with no completed epoch lost; an aux
// peer keeps the run's state as checkpoints that `ttt export` reads and
// serves it to a trainer that has nothing of its own.
#define BOOST_TEST_MODULE resume_process
#include <boost/test/unit_test.hpp>

#include "tests/common/process.hpp"

#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <sstream>

using namespace ttt::test;
using namespace std::chrono_literals;

namespace {

/// Every number the first group of `pattern` matches in `log`, in order.
std::vector<int> numbers(const std::string& log, const std::string& pattern) {
  std::vector<int> out;
  std::regex re(pattern);
  for (auto it = std::sregex_iterator(log.begin(), log.end(), re); it != std::sregex_iterator(); ++it)
    out.push_back(std::stoi((*it)[1]));
  return out;
}

std::vector<int> epochs_done(const std::string& log) {
  return numbers(log, "epoch ([0-9]+) done:");
}

std::vector<int> checkpoints_written(const std::string& log) {
  return numbers(log, "checkpoint [^ ]+ written \\(epoch ([0-9]+)\\)");
}

/// A small swarm: shapes data, a DHT entry peer, trainer profiles.
struct swarm {
  temp_dir tmp;
  std::string data = tmp.path() + "/data";
  std::string profile = tmp.path() + "/trainer.ini";
  std::unique_ptr<process> dht;
  std::string entry;
  int starts = 0;

  swarm() {
    auto [rc, out] = run({ttt_binary(), "data", "shapes", "--out", data, "--count", "64"},
                         tmp.path() + "/shapes.log", 120s);
    BOOST_REQUIRE_MESSAGE(rc == 0, out);
    std::string text = read_text(TTT_SOURCE_DIR "/configs/trainer.ini");
    text = std::regex_replace(text, std::regex("config = model/"), "config = " TTT_SOURCE_DIR "/configs/model/");
    text = std::regex_replace(text, std::regex("target_batch_size = [0-9]+"), "target_batch_size = 32");
    text = std::regex_replace(text, std::regex("matchmaking_time = [0-9]+"), "matchmaking_time = 4");
    text = std::regex_replace(text, std::regex("group_size = 16"), "group_size = 2");
    std::ofstream(profile) << text;
    start_dht();
  }

  void start_dht() {
    dht = std::make_unique<process>(
      std::vector<std::string>{ttt_binary(), "node", "--profile", TTT_SOURCE_DIR "/configs/node.ini",
                               "--listen", entry.empty() ? "127.0.0.1:0" : entry, "--data-dir",
                               tmp.path() + "/dht"},
      tmp.path() + "/dht" + std::to_string(starts++) + ".log");
    auto ready = dht->wait_for("listening on (127\\.0\\.0\\.1:[0-9]+)");
    BOOST_REQUIRE_MESSAGE(ready, dht->output());
    entry = (*ready)[1];
  }

  std::string dir_of(const std::string& name) const { return tmp.path() + "/" + name; }

  /// `ttt node` with `profile_path` as peer `name` (its data dir and a fresh log).
  std::unique_ptr<process> start(const std::string& name, const std::string& profile_path) {
    auto log = tmp.path() + "/" + name + "." + std::to_string(starts++) + ".log";
    return std::make_unique<process>(
      std::vector<std::string>{ttt_binary(), "node", "--profile", profile_path, "--listen", "127.0.0.1:0",
                               "--initial-peer", entry, "--data", data, "--data-dir", dir_of(name)},
      log);
  }
  std::unique_ptr<process> trainer(const std::string& name) { return start(name, profile); }
};

/// Waits until `p` has logged "epoch N done" for some N >= `epoch`.
bool wait_epoch(process& p, int epoch, std::chrono::milliseconds limit = 120s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline && p.running()) {
    auto done = epochs_done(p.output());
    if (!done.empty() && done.back() >= epoch)
      return true;
    std::this_thread::sleep_for(50ms);
  }
  auto done = epochs_done(p.output());
  return !done.empty() && done.back() >= epoch;
}

} // namespace

BOOST_AUTO_TEST_CASE(a_killed_trainer_does_not_stop_the_others_and_resumes_from_its_checkpoint) {
  swarm s;
  auto a = s.trainer("a");
  auto b = s.trainer("b");
  BOOST_REQUIRE_MESSAGE(wait_epoch(*b, 1), b->output());
  // Its checkpoint of 2 completed epochs is on disk and in the index.
  BOOST_REQUIRE_MESSAGE(b->wait_for("written \\(epoch 2\\)", 30s), b->output());
  b->kill(SIGKILL);
  BOOST_REQUIRE(b->wait().value_or(0) == 128 + SIGKILL);
  auto before = checkpoints_written(b->output());
  BOOST_REQUIRE(!before.empty());
  int checkpointed = before.back();

  // The other trainer goes on without it (stepping alone once no group forms).
  int a_at_kill = epochs_done(a->output()).back();
  BOOST_REQUIRE_MESSAGE(wait_epoch(*a, a_at_kill + 2), a->output());

  // Its newest checkpoint damaged on disk: the restart skips it for the one before.
  BOOST_REQUIRE(before.size() >= 2u);
  char name[32];
  std::snprintf(name, sizeof(name), "epoch-%08d", checkpointed);
  {
    std::fstream f(s.dir_of("b") + "/checkpoints/" + name + "/model.safetensors",
                   std::ios::in | std::ios::out | std::ios::binary);
    BOOST_REQUIRE(f);
    f.seekp(1000);
    f.write("corrupt", 7);
  }
  int older = before[before.size() - 2];

  auto b2 = s.trainer("b");
  auto resumed = b2->wait_for("loaded state of epoch ([0-9]+) from checkpoint", 60s);
  BOOST_REQUIRE_MESSAGE(resumed, b2->output());
  // (>=: a SIGKILL may land between a checkpoint's record and its log line,
  // so a newer, undamaged one may exist.)
  BOOST_TEST(std::stoi((*resumed)[1]) != checkpointed);
  BOOST_TEST(std::stoi((*resumed)[1]) >= older);
  BOOST_TEST(older >= 1);
  // Behind the swarm, it then loads the newer state a serves...
  auto caught_up = b2->wait_for("loaded state of epoch ([0-9]+) from peer", 60s);
  BOOST_REQUIRE_MESSAGE(caught_up, b2->output() + "\n--- a ---\n" + a->output());
  BOOST_TEST(std::stoi((*caught_up)[1]) > checkpointed);
  // ...and contributes from there: never an epoch before its checkpoint again.
  int from = std::stoi((*caught_up)[1]);
  BOOST_REQUIRE_MESSAGE(wait_epoch(*b2, from), b2->output());
  for (int e : epochs_done(b2->output()))
    BOOST_TEST(e >= older);
  BOOST_TEST(b2->output().find("starting at epoch 0") == std::string::npos);

  // A trainer behind NAT (configs/client.ini: only outgoing connections)
  // joining now loads the swarm's state over the connection it opened.
  auto client_profile = s.tmp.path() + "/client.ini";
  std::string text = read_text(TTT_SOURCE_DIR "/configs/client.ini");
  text = std::regex_replace(text, std::regex("config = model/"), "config = " TTT_SOURCE_DIR "/configs/model/");
  text = std::regex_replace(text, std::regex("target_batch_size = [0-9]+"), "target_batch_size = 32");
  text = std::regex_replace(text, std::regex("matchmaking_time = [0-9]+"), "matchmaking_time = 4");
  std::ofstream(client_profile) << text;
  auto c = s.start("c", client_profile);
  BOOST_REQUIRE_MESSAGE(c->wait_for("client mode", 30s), c->output());
  auto joined = c->wait_for("loaded state of epoch ([0-9]+) from peer", 60s);
  BOOST_REQUIRE_MESSAGE(joined, c->output());
  BOOST_TEST(std::stoi((*joined)[1]) > checkpointed);
  c->kill(SIGTERM);
  BOOST_TEST(c->wait().value_or(-1) == 0);

  for (auto* p : {a.get(), b2.get()}) {
    p->kill(SIGTERM);
    BOOST_TEST(p->wait().value_or(-1) == 0);
  }
}

BOOST_AUTO_TEST_CASE(a_whole_swarm_restarted_loses_no_completed_epoch_and_aux_keeps_the_state) {
  swarm s;
  auto aux_profile = s.tmp.path() + "/aux.ini";
  std::ofstream(aux_profile) << std::regex_replace(read_text(TTT_SOURCE_DIR "/configs/aux.ini"),
                                                   std::regex("poll_interval = [0-9]+"), "poll_interval = 1");
  auto aux = s.start("aux", aux_profile);
  std::vector<std::unique_ptr<process>> trainers;
  trainers.push_back(s.trainer("a"));
  trainers.push_back(s.trainer("b"));
  for (auto& t : trainers)
    BOOST_REQUIRE_MESSAGE(wait_epoch(*t, 2), t->output());
  BOOST_REQUIRE_MESSAGE(aux->wait_for("checkpoint [^ ]+ written \\(epoch [0-9]+\\)", 60s), aux->output());

  // Stop everything: trainers, aux, the DHT entry peer.
  std::vector<int> completed;
  for (auto& t : trainers) {
    t->kill(SIGTERM);
    BOOST_REQUIRE(t->wait().value_or(-1) == 0);
    completed.push_back(epochs_done(t->output()).back() + 1);
  }
  aux->kill(SIGTERM);
  BOOST_REQUIRE(aux->wait().value_or(-1) == 0);
  s.dht->kill(SIGTERM);
  BOOST_REQUIRE(s.dht->wait().value_or(-1) == 0);

  // The aux peer's checkpoints export as dalle-pytorch safetensors.
  auto out = s.tmp.path() + "/exported.safetensors";
  auto [rc, text] = run({ttt_binary(), "export", "--checkpoint", s.dir_of("aux"), "--out", out},
                        s.tmp.path() + "/export.log", 60s);
  BOOST_TEST_MESSAGE(text);
  BOOST_TEST(rc == 0);
  BOOST_TEST(std::filesystem::file_size(out) > 100000u);

  // Everything again. The aux peer serves its newest checkpoint at once: a
  // trainer with nothing of its own starts from it, not from scratch.
  s.start_dht();
  auto aux2 = s.start("aux", aux_profile);
  auto served = aux2->wait_for("serving checkpoint [^ ]+ \\(epoch ([0-9]+)\\)", 30s);
  BOOST_REQUIRE_MESSAGE(served, aux2->output());
  auto fresh = s.trainer("fresh");
  auto from_aux = fresh->wait_for("loaded state of epoch ([0-9]+) from peer", 60s);
  BOOST_REQUIRE_MESSAGE(from_aux, fresh->output() + "\n--- aux ---\n" + aux2->output());
  BOOST_TEST(std::stoi((*from_aux)[1]) == std::stoi((*served)[1]));
  BOOST_TEST(std::stoi((*from_aux)[1]) > 0);
  fresh->kill(SIGTERM);
  BOOST_TEST(fresh->wait().value_or(-1) == 0);

  // Each trainer resumes at its completed epochs.
  std::vector<std::unique_ptr<process>> again;
  again.push_back(s.trainer("a"));
  again.push_back(s.trainer("b"));
  for (size_t i = 0; i < again.size(); ++i) {
    auto resumed = again[i]->wait_for("loaded state of epoch ([0-9]+) from checkpoint", 60s);
    BOOST_REQUIRE_MESSAGE(resumed, again[i]->output());
    BOOST_TEST(std::stoi((*resumed)[1]) == completed[i]);
  }
  int target = std::max(completed[0], completed[1]);
  for (auto& t : again) {
    BOOST_REQUIRE_MESSAGE(wait_epoch(*t, target), t->output());
    auto done = epochs_done(t->output());
    BOOST_TEST(done.front() >= std::min(completed[0], completed[1]));
  }
  for (auto& t : again) {
    t->kill(SIGTERM);
    BOOST_TEST(t->wait().value_or(-1) == 0);
  }
  aux2->kill(SIGTERM);
  BOOST_TEST(aux2->wait().value_or(-1) == 0);
}

BOOST_AUTO_TEST_CASE(checkpointer_profiles_are_checked_with_clear_errors) {
  temp_dir tmp;
  int counter = 0;
  auto node = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {ttt_binary(), "node"});
    return run(args, tmp.path() + "/node-cli" + std::to_string(counter++) + ".log");
  };
  auto expect = [](const std::pair<int, std::string>& r, int rc, const std::string& text) {
    BOOST_TEST(r.first == rc);
    BOOST_TEST(r.second.find(text) != std::string::npos, r.second);
  };
  auto profile = [&](const std::string& name, const std::string& from, const std::string& pattern,
                     const std::string& replacement) {
    auto path = tmp.path() + "/" + name;
    std::ofstream(path) << std::regex_replace(read_text(from), std::regex(pattern), replacement);
    return path;
  };
  expect(node({"--help"}), 0, "checkpointer");
  expect(node({"--profile", profile("every.ini", TTT_SOURCE_DIR "/configs/aux.ini", "checkpoint_every = 1",
                                    "checkpoint_every = 0")}),
         2, "checkpoint_every must be at least 1");
  expect(node({"--profile", profile("keep.ini", TTT_SOURCE_DIR "/configs/trainer.ini", "keep_checkpoints = 3",
                                    "keep_checkpoints = many")}),
         2, "keep_checkpoints must be an integer");
  expect(node({"--profile", profile("run.ini", TTT_SOURCE_DIR "/configs/aux.ini", "run_id = ttt-demo", "run_id =")}),
         2, "every node needs [run] run_id");
  expect(node({"--profile", TTT_SOURCE_DIR "/configs/aux.ini", "--client-mode"}), 2,
         "cannot run in client mode");
  expect(node({"--profile", profile("typo.ini", TTT_SOURCE_DIR "/configs/aux.ini", "keep_checkpoints",
                                    "keep_checkpoint")}),
         2, "unknown setting 'checkpointer.keep_checkpoint'");
  // The shipped profile from another directory: its model config resolves
  // against the profile's folder, and the missing shards are reported
  // before the node listens.
  auto missing = node({"--profile", TTT_SOURCE_DIR "/configs/trainer.ini", "--data", tmp.path() + "/no-shards",
                       "--data-dir", tmp.path() + "/volunteer", "--listen", "127.0.0.1:0"});
  expect(missing, 2, "holds no train-*.shard files");
  BOOST_TEST(missing.second.find("listening on") == std::string::npos, missing.second);
  BOOST_TEST(missing.second.find("cannot read config") == std::string::npos, missing.second);
  expect(node({"--profile", TTT_SOURCE_DIR "/configs/trainer.ini", "--data-dir", tmp.path() + "/volunteer"}), 2,
         "the trainer needs shards");
}
