// A closed run with real processes on loopback: `ttt run init` and `ttt run
// admit` make the run and the certificates, a closed-run `ttt node` refuses
// to start without its own certificate and, started with it, refuses an
// uncertified `ttt dht store` at connect, serves a certified one, and after
// `ttt run revoke --initial-peer` refuses the revoked client once its next
// revocation poll has run, while another certified client still gets in.
#define BOOST_TEST_MODULE wire_admission_process
#include <boost/test/unit_test.hpp>

#include "tests/common/process.hpp"

#include <sys/stat.h>

#include <fstream>
#include <regex>

using namespace ttt::test;

namespace {

constexpr const char* run_id = "closed-run-test";

struct cli {
  const temp_dir& tmp;
  int counter = 0;

  std::pair<int, std::string> operator()(std::vector<std::string> args) {
    args.insert(args.begin(), ttt_binary());
    return run(args, tmp.path() + "/cli" + std::to_string(counter++) + ".log");
  }

  /// `ttt identity --data-dir dir`: (public key hex, peer id hex).
  std::pair<std::string, std::string> identity(const std::string& dir) {
    auto [rc, out] = (*this)({"identity", "--data-dir", dir});
    BOOST_REQUIRE_MESSAGE(rc == 0, out);
    std::smatch m;
    BOOST_REQUIRE_MESSAGE(std::regex_search(out, m, std::regex("public key +([0-9a-f]{64})\\npeer id +([0-9a-f]{40})")),
                          out);
    return {m[1], m[2]};
  }

  /// Issues a certificate for the identity in `dir`; returns its file.
  std::string admit(const std::string& run_dir, const std::string& dir, const std::string& name) {
    auto key = identity(dir).first;
    auto file = tmp.path() + "/" + name + ".cert";
    auto [rc, out] = (*this)({"run", "admit", "--run", run_dir, "--peer-key", key, "--name", name, "--days", "1",
                              "--out", file});
    BOOST_REQUIRE_MESSAGE(rc == 0, out);
    return file;
  }
};

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

} // namespace

BOOST_AUTO_TEST_CASE(a_closed_run_admits_certified_peers_only_and_drops_a_revoked_one) {
  temp_dir tmp;
  cli ttt{tmp};
  auto run_dir = tmp.path() + "/run";
  auto manifest = run_dir + "/run.manifest";
  {
    auto [rc, out] = ttt({"run", "init", "--out", run_dir, "--run-id", run_id, "--admission", "closed"});
    BOOST_REQUIRE_MESSAGE(rc == 0, out);
    struct stat st {};
    BOOST_REQUIRE(::stat((run_dir + "/authority.key").c_str(), &st) == 0);
    BOOST_TEST((st.st_mode & 0777) == 0600u);
    // A run directory is made once: a second init would orphan every certificate.
    auto before = read_text(run_dir + "/authority.key");
    auto [rc2, out2] = ttt({"run", "init", "--out", run_dir, "--run-id", "another"});
    BOOST_TEST(rc2 == 2, out2);
    BOOST_TEST(read_text(run_dir + "/authority.key") == before);
  }
  // Bad input: exit 2, nothing written.
  {
    auto [rc, out] = ttt({"run", "admit", "--run", run_dir, "--peer-key", "00zz", "--name", "x", "--out",
                          tmp.path() + "/bad.cert"});
    BOOST_TEST(rc == 2, out);
    BOOST_TEST(out.find("--peer-key") != std::string::npos, out);
    BOOST_TEST(!exists(tmp.path() + "/bad.cert"));
    auto [rc2, out2] = ttt({"run", "admit", "--run", tmp.path() + "/no-such-run", "--peer-key",
                            std::string(64, 'a'), "--name", "x", "--out", tmp.path() + "/bad.cert"});
    BOOST_TEST(rc2 == 2, out2);
    BOOST_TEST(!exists(tmp.path() + "/bad.cert"));
  }

  auto node_dir = tmp.path() + "/node";
  auto node_cert = ttt.admit(run_dir, node_dir, "aux-node");
  auto profile_text = [&](const std::string& certificate) {
    return "[node]\nroles = dht\nlisten = 127.0.0.1:0\ndata_dir = " + node_dir + "\n[run]\nmanifest = " + manifest +
           "\n" + (certificate.empty() ? "" : "certificate = " + certificate + "\n") +
           "revocation_poll_interval = 1\n";
  };

  // Without its certificate a closed-run node does not start.
  write_text(tmp.path() + "/uncertified.ini", profile_text(""));
  {
    auto [rc, out] = ttt({"node", "--profile", tmp.path() + "/uncertified.ini"});
    BOOST_TEST(rc == 2, out);
    BOOST_TEST(out.find("is closed and this node has no certificate") != std::string::npos, out);
  }

  write_text(tmp.path() + "/node.ini", profile_text(node_cert));
  process node({ttt_binary(), "node", "--profile", tmp.path() + "/node.ini"}, tmp.path() + "/node.log");
  auto ready = node.wait_for("ttt node ([0-9a-f]{40}) listening on (127\\.0\\.0\\.1:[0-9]+)");
  BOOST_REQUIRE_MESSAGE(ready, node.output());
  auto address = (*ready)[1] + "@" + (*ready)[2];
  BOOST_TEST(node.output().find("closed admission") != std::string::npos, node.output());
  BOOST_TEST(node.output().find("certified as 'aux-node'") != std::string::npos, node.output());

  // An uncertified client: refused at connect, and told why.
  {
    auto [rc, out] = ttt({"dht", "store", "--run", run_id, "--initial-peer", address, "k-stranger", "v"});
    BOOST_TEST(rc != 0, out);
    BOOST_TEST(out.find("no valid certificate (no certificate)") != std::string::npos, out);
    BOOST_TEST(out.find("stored") == std::string::npos, out);
  }

  // Certified clients get in.
  auto alice_dir = tmp.path() + "/alice";
  auto bob_dir = tmp.path() + "/bob";
  auto alice_cert = ttt.admit(run_dir, alice_dir, "alice");
  auto bob_cert = ttt.admit(run_dir, bob_dir, "bob");
  auto as = [&](const std::string& dir, const std::string& cert, std::vector<std::string> args) {
    args.insert(args.begin() + 2, {"--manifest", manifest, "--certificate", cert, "--data-dir", dir,
                                   "--initial-peer", address});
    return ttt(args);
  };
  {
    auto [rc, out] = as(alice_dir, alice_cert, {"dht", "store", "k-alice", "from-alice"});
    BOOST_REQUIRE_MESSAGE(rc == 0, out);
    auto [rc2, out2] = as(alice_dir, alice_cert, {"dht", "get", "k-alice"});
    BOOST_TEST(rc2 == 0, out2);
    BOOST_TEST(out2.find("from-alice") != std::string::npos, out2);
  }

  // The authority revokes alice through the DHT; the node picks it up on
  // its next poll (every second here) and refuses her from then on.
  {
    auto [rc, out] = ttt({"run", "revoke", "--run", run_dir, "--peer-key", ttt.identity(alice_dir).first,
                          "--reason", "test revocation", "--initial-peer", address});
    BOOST_REQUIRE_MESSAGE(rc == 0, out);
    BOOST_TEST(out.find("published under revoked." + std::string(run_id)) != std::string::npos, out);
  }
  auto revoked = node.wait_for("peer " + ttt.identity(alice_dir).second + " revoked by the run's authority \\(test revocation\\)");
  BOOST_REQUIRE_MESSAGE(revoked, node.output());
  {
    auto [rc, out] = as(alice_dir, alice_cert, {"dht", "get", "k-alice"});
    BOOST_TEST(rc != 0, out);
    BOOST_TEST(out.find("revoked") != std::string::npos, out);
    BOOST_TEST(out.find("from-alice") == std::string::npos, out);
  }
  // Another certified peer is not affected, and reads alice's earlier record.
  {
    auto [rc, out] = as(bob_dir, bob_cert, {"dht", "get", "k-alice"});
    BOOST_TEST(rc == 0, out);
    BOOST_TEST(out.find("from-alice") != std::string::npos, out);
  }
  // The node logged its refusals (rate-limited: within ten seconds).
  BOOST_TEST(static_cast<bool>(node.wait_for("no valid certificate \\(no certificate\\)")), node.output());

  node.kill(SIGTERM);
  BOOST_TEST(node.wait().value_or(-1) == 0);
}
