// Real `ttt node` processes on loopback: a swarm of 8, values stored through
// one read through others, a node SIGKILLed and restarted on its data dir;
// and the command line's answers to bad flags and profiles.
#define BOOST_TEST_MODULE dht_swarm
#include <boost/test/unit_test.hpp>

#include "tests/common/process.hpp"

#include <fstream>
#include <memory>

using namespace ttt::test;

namespace {

struct node_proc {
  std::unique_ptr<process> proc;
  std::string data_dir;
  std::string address;
  std::string id; ///< 40 hex digits
  std::string checked() const { return id + "@" + address; }
};

node_proc start_node(const temp_dir& tmp, int index, const std::string& listen,
                     const std::vector<std::string>& initial_peers, const std::string& suffix = "") {
  node_proc n;
  n.data_dir = tmp.path() + "/node" + std::to_string(index);
  std::vector<std::string> argv = {ttt_binary(), "node", "--profile", TTT_SOURCE_DIR "/configs/node.ini",
                                   "--listen", listen, "--data-dir", n.data_dir};
  for (const auto& p : initial_peers) {
    argv.push_back("--initial-peer");
    argv.push_back(p);
  }
  n.proc = std::make_unique<process>(argv, n.data_dir + suffix + ".log");
  auto ready = n.proc->wait_for("ttt node ([0-9a-f]{40}) listening on (127\\.0\\.0\\.1:[0-9]+)");
  BOOST_REQUIRE_MESSAGE(ready, "node " << index << " did not start:\n" << n.proc->output());
  n.id = (*ready)[1];
  n.address = (*ready)[2];
  return n;
}

std::pair<int, std::string> dht(const temp_dir& tmp, std::vector<std::string> args) {
  static int counter = 0;
  args.insert(args.begin(), {ttt_binary(), "dht"});
  return run(args, tmp.path() + "/cli" + std::to_string(counter++) + ".log");
}

} // namespace

BOOST_AUTO_TEST_CASE(swarm_of_8_survives_a_sigkill_and_restart) {
  temp_dir tmp;
  std::vector<node_proc> nodes;
  nodes.push_back(start_node(tmp, 0, "127.0.0.1:0", {}));
  // Half join with node 0's id (its key is checked), half without.
  for (int i = 1; i < 8; ++i)
    nodes.push_back(start_node(tmp, i, "127.0.0.1:0", {i % 2 ? nodes[0].checked() : nodes[0].address}));
  for (size_t i = 1; i < nodes.size(); ++i)
    BOOST_REQUIRE_MESSAGE(nodes[i].proc->wait_for("bootstrap done: [1-9]"), nodes[i].proc->output());

  const int keys = 24;
  for (int i = 0; i < keys; ++i) {
    auto [rc, out] = dht(tmp, {"store", "--initial-peer", nodes[i % 8].address, "key" + std::to_string(i),
                               "value" + std::to_string(i), "--ttl", "600"});
    BOOST_REQUIRE_MESSAGE(rc == 0, out);
  }
  for (int i = 0; i < keys; ++i) {
    auto [rc, out] = dht(tmp, {"get", "--initial-peer", nodes[(i + 3) % 8].checked(), "key" + std::to_string(i)});
    BOOST_TEST(rc == 0);
    BOOST_TEST(out == "value" + std::to_string(i) + "\n");
  }
  auto [missing_rc, missing_out] = dht(tmp, {"get", "--initial-peer", nodes[1].address, "never-stored"});
  BOOST_TEST(missing_rc == 1);
  BOOST_TEST(missing_out.find("not found") != std::string::npos);
  // Without an id the client says whom it trusts; with a wrong id it
  // refuses the peer that answers.
  BOOST_TEST(missing_out.find("trusting whichever peer answers") != std::string::npos, missing_out);
  auto [wrong_rc, wrong_out] =
    dht(tmp, {"get", "--initial-peer", nodes[2].id + "@" + nodes[1].address, "key1"});
  BOOST_TEST(wrong_rc == 1);
  BOOST_TEST(wrong_out.find("no initial peer answered") != std::string::npos, wrong_out);

  // SIGKILL node 3, restart it on its data dir and port, without --initial-peer.
  auto old_address = nodes[3].address;
  auto old_id = nodes[3].proc->wait_for("ttt node ([0-9a-f]{40})");
  nodes[3].proc->kill(SIGKILL);
  BOOST_TEST(nodes[3].proc->wait().value_or(0) == 128 + SIGKILL);
  nodes[3] = start_node(tmp, 3, old_address, {}, "-restarted");
  auto new_id = nodes[3].proc->wait_for("ttt node ([0-9a-f]{40})");
  BOOST_TEST((*old_id)[1] == (*new_id)[1]); // same identity
  auto loaded = nodes[3].proc->wait_for("loaded ([0-9]+) records and ([0-9]+) known peers");
  BOOST_REQUIRE_MESSAGE(loaded, nodes[3].proc->output());
  int held = std::stoi((*loaded)[1]);
  BOOST_TEST(held > 0);
  BOOST_TEST(std::stoi((*loaded)[2]) > 0);
  BOOST_REQUIRE_MESSAGE(nodes[3].proc->wait_for("bootstrap done: [1-9]"), nodes[3].proc->output());

  // It rejoined: every key is found through it.
  for (int i = 0; i < keys; ++i) {
    auto [rc, out] = dht(tmp, {"get", "--initial-peer", nodes[3].checked(), "key" + std::to_string(i)});
    BOOST_TEST(rc == 0);
    BOOST_TEST(out == "value" + std::to_string(i) + "\n");
  }
  // It serves its own records: with every other node dead, exactly the keys
  // it held are still found through it.
  for (int i = 0; i < 8; ++i)
    if (i != 3)
      nodes[i].proc->kill(SIGKILL);
  int served = 0;
  for (int i = 0; i < keys; ++i) {
    auto [rc, out] = dht(tmp, {"get", "--initial-peer", nodes[3].checked(), "key" + std::to_string(i)});
    if (rc == 0 && out == "value" + std::to_string(i) + "\n")
      ++served;
  }
  BOOST_TEST(served == held);

  // SIGTERM stops it cleanly.
  nodes[3].proc->kill(SIGTERM);
  BOOST_TEST(nodes[3].proc->wait().value_or(-1) == 0);
  BOOST_TEST(nodes[3].proc->output().find("stopped") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(bad_flags_and_profiles_get_clear_errors) {
  temp_dir tmp;
  auto node = [&](std::vector<std::string> args) {
    static int counter = 0;
    args.insert(args.begin(), {ttt_binary(), "node"});
    return run(args, tmp.path() + "/node-cli" + std::to_string(counter++) + ".log");
  };
  auto expect = [](const std::pair<int, std::string>& r, int rc, const std::string& text) {
    BOOST_TEST(r.first == rc);
    BOOST_TEST(r.second.find(text) != std::string::npos, r.second);
  };
  expect(node({}), 2, "--profile FILE is required");
  expect(node({"--bogus"}), 2, "unknown flag --bogus");
  expect(node({"--profile"}), 2, "needs a value");
  expect(node({"--profile", tmp.path() + "/missing.ini"}), 2, "cannot read profile");
  std::ofstream(tmp.path() + "/typo.ini") << "[node]\nroles = dht\nlisten_port = 3\n";
  expect(node({"--profile", tmp.path() + "/typo.ini"}), 2, "typo.ini:3: unknown setting 'node.listen_port'");
  std::ofstream(tmp.path() + "/broken.ini") << "[node\n";
  expect(node({"--profile", tmp.path() + "/broken.ini"}), 2, "broken.ini:1: malformed section header");
  std::ofstream(tmp.path() + "/role.ini") << "[node]\nroles = dht, juggler\n";
  expect(node({"--profile", tmp.path() + "/role.ini"}), 2, "role 'juggler' is not available");
  std::ofstream(tmp.path() + "/num.ini") << "[dht]\nalpha = three\n";
  expect(node({"--profile", tmp.path() + "/num.ini"}), 2, "dht.alpha must be an integer");
  expect(node({"--profile", TTT_SOURCE_DIR "/configs/node.ini", "--listen", "nowhere"}), 2,
         "is not HOST:PORT");
  expect(node({"--profile", TTT_SOURCE_DIR "/configs/node.ini", "--initial-peer", "h:99999"}), 2,
         "port out of range");
  expect(node({"--profile", TTT_SOURCE_DIR "/configs/node.ini", "--initial-peer", "abc@127.0.0.1:9"}), 2,
         "must be 40 hex digits");
  std::ofstream(tmp.path() + "/norun.ini") << "[node]\nroles = dht\n";
  expect(node({"--profile", tmp.path() + "/norun.ini"}), 2, "every node needs [run] run_id");
  std::ofstream(tmp.path() + "/wire.ini") << "[run]\nrun_id = r\n[wire]\nmax_connections = 0\n";
  expect(node({"--profile", tmp.path() + "/wire.ini"}), 2, "[wire] limits must be positive");
  expect(node({"--help"}), 0, "--initial-peer [PEERID@]HOST:PORT");

  expect(dht(tmp, {"get", "key"}), 2, "--initial-peer [PEERID@]HOST:PORT is required");
  expect(dht(tmp, {"store", "--initial-peer", "127.0.0.1:1", "k"}), 2, "missing argument");
  expect(dht(tmp, {"store", "--initial-peer", "127.0.0.1:1", "k", "v", "--ttl", "soon"}), 2,
         "expects a number");
  expect(dht(tmp, {"frobnicate"}), 2, "usage: ttt dht");
  // Nobody listens on port 1: a clear failure, not a hang.
  expect(dht(tmp, {"get", "--initial-peer", "127.0.0.1:1", "k"}), 1, "no initial peer answered");
}
