// Real processes on loopback: four `averager peer` processes talking through
// CAF's middleman. A normal round, a round in which one peer SIGKILLs itself
// mid-transfer, and a newcomer downloading state. Every wait has a deadline.
#define BOOST_TEST_MODULE averager_process
#include <boost/test/unit_test.hpp>

#include "bench/allreduce_process.hpp"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

using ttt::bench::child_process;
using ttt::bench::field_of;
using clock_type = std::chrono::steady_clock;

namespace {

/// The `ttt` binary under test: its hidden `averager peer` command is one peer.
std::string peer_exe() {
  const char* exe = std::getenv("TTT_BINARY");
  BOOST_REQUIRE_MESSAGE(exe, "TTT_BINARY must name the ttt executable");
  return exe;
}

struct temp_dir {
  std::string path;
  temp_dir() {
    char pattern[] = "/tmp/ttt-averager-XXXXXX";
    path = ::mkdtemp(pattern);
  }
  ~temp_dir() {
    std::string cmd = "rm -rf '" + path + "'";
    (void) std::system(cmd.c_str());
  }
};

std::vector<float> read_floats(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<float> out(bytes.size() / sizeof(float));
  std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
  return out;
}

struct span_line {
  size_t reducer;
  uint64_t begin, end;
  bool failed;
  std::set<size_t> left_out;
};

std::vector<span_line> read_spans(const std::string& path) {
  std::ifstream in(path);
  std::vector<span_line> out;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    span_line s{};
    uint64_t missing;
    fields >> s.reducer >> s.begin >> s.end >> s.failed >> missing;
    for (size_t c; fields >> c;)
      s.left_out.insert(c);
    out.push_back(s);
  }
  return out;
}

/// Starts one process per member and walks them through port exchange and
/// connection; `extra[i]` are member i's own flags.
struct swarm {
  std::vector<std::unique_ptr<child_process>> peers;
  clock_type::time_point deadline = clock_type::now() + std::chrono::seconds(90);

  swarm(const std::string& modes, const std::string& out_dir,
        const std::vector<std::vector<std::string>>& extra) {
    for (size_t i = 0; i < modes.size(); ++i) {
      std::vector<std::string> args = {"averager", "peer", "--index", std::to_string(i), "--modes", modes,
                                       "--out-dir", out_dir, "--deadline-s", "100"};
      args.insert(args.end(), extra[i].begin(), extra[i].end());
      peers.push_back(std::make_unique<child_process>(peer_exe(), args));
      BOOST_REQUIRE(peers.back()->started());
    }
    std::string ports = "peers";
    for (auto& p : peers) {
      auto line = p->read_line(deadline);
      BOOST_REQUIRE_MESSAGE(line && line->rfind("port ", 0) == 0, "no port line");
      ports += " " + line->substr(5);
    }
    for (auto& p : peers)
      BOOST_REQUIRE(p->write_line(ports));
    for (auto& p : peers) {
      auto line = p->read_line(deadline);
      BOOST_REQUIRE_MESSAGE(line && *line == "ready", "peer not ready: " << line.value_or("EOF"));
    }
  }

  void start(size_t i) { BOOST_REQUIRE(peers[i]->write_line("start")); }

  std::string done_line(size_t i) {
    auto line = peers[i]->read_line(deadline);
    BOOST_REQUIRE_MESSAGE(line && line->rfind("done", 0) == 0,
                          "peer " << i << " did not finish: " << line.value_or("EOF"));
    return *line;
  }

  void release_all() {
    for (auto& p : peers)
      p->write_line("exit");
    for (auto& p : peers)
      p->wait_exit(deadline);
  }
};

float mean_over(const std::vector<std::vector<float>>& inputs, const std::set<size_t>& members,
                uint64_t k) {
  double sum = 0, total = 0;
  for (auto m : members) {
    double w = static_cast<double>(1 + m); // the peers' weights
    sum += w * static_cast<double>(inputs[m][k]);
    total += w;
  }
  return static_cast<float>(sum / total);
}

} // namespace

BOOST_AUTO_TEST_CASE(four_processes_average_exactly_with_a_client) {
  temp_dir dir;
  const uint64_t length = 300007;
  const std::string modes = "nncn";
  std::vector<std::string> common = {"--floats", std::to_string(length), "--part-elements", "16384",
                                     "--group", "process-round"};
  swarm s(modes, dir.path, std::vector<std::vector<std::string>>(4, common));
  for (size_t i = 0; i < 4; ++i)
    s.start(i);
  for (size_t i = 0; i < 4; ++i) {
    auto line = s.done_line(i);
    BOOST_TEST(field_of(line, "partial") == "0");
    BOOST_TEST(field_of(line, "refused") == "0");
  }
  s.release_all();
  std::vector<std::vector<float>> inputs;
  for (size_t i = 0; i < 4; ++i)
    inputs.push_back(read_floats(dir.path + "/input-" + std::to_string(i) + ".f32"));
  for (size_t i = 0; i < 4; ++i) {
    auto result = read_floats(dir.path + "/result-" + std::to_string(i) + ".f32");
    BOOST_REQUIRE_EQUAL(result.size(), length);
    size_t mismatches = 0;
    for (uint64_t k = 0; k < length; ++k)
      mismatches += result[k] != mean_over(inputs, {0, 1, 2, 3}, k);
    BOOST_TEST(mismatches == 0u);
  }
}

namespace {

/// Four peers; member 3 gets `fault_flag` (SIGKILL or SIGSTOP after 15 of
/// its messages). The other three must finish, with exact means over the
/// members whose parts arrived and member 3's span reported failed.
void run_round_with_a_faulty_member(const std::string& fault_flag, const std::string& group) {
  temp_dir dir;
  const uint64_t length = 400000;
  std::vector<std::string> common = {"--floats", std::to_string(length), "--part-elements", "8192",
                                     "--group", group, "--sender-timeout-ms", "3000",
                                     "--reducer-timeout-ms", "7000"};
  std::vector<std::vector<std::string>> extra(4, common);
  // Each member sends 3 x 13 parts; member 3 fails after handing over 15.
  extra[3].insert(extra[3].end(), {fault_flag, "15"});
  swarm s("nnnn", dir.path, extra);
  for (size_t i = 0; i < 4; ++i)
    s.start(i);
  for (size_t i = 0; i < 3; ++i) {
    auto line = s.done_line(i);
    BOOST_TEST_MESSAGE("member " << i << ": " << line);
    BOOST_TEST(field_of(line, "partial") == "1");
  }
  std::vector<std::vector<float>> inputs, results;
  for (size_t i = 0; i < 4; ++i)
    inputs.push_back(read_floats(dir.path + "/input-" + std::to_string(i) + ".f32"));
  for (size_t i = 0; i < 3; ++i)
    results.push_back(read_floats(dir.path + "/result-" + std::to_string(i) + ".f32"));
  for (size_t i = 0; i < 3; ++i) {
    for (const auto& span : read_spans(dir.path + "/spans-" + std::to_string(i) + ".txt")) {
      BOOST_TEST_CONTEXT("member " << i << " span " << span.reducer) {
        if (span.reducer == 3) {
          // Its reducer failed: finished parts hold the full mean, the rest this peer's own values.
          BOOST_TEST(span.failed);
          for (uint64_t k = span.begin; k < span.end; ++k)
            BOOST_REQUIRE(results[i][k] == mean_over(inputs, {0, 1, 2, 3}, k)
                          || results[i][k] == inputs[i][k]);
          continue;
        }
        BOOST_TEST(!span.failed);
        BOOST_TEST((span.left_out == std::set<size_t>{3}));
        for (uint64_t k = span.begin; k < span.end; ++k) {
          BOOST_REQUIRE(results[i][k] == mean_over(inputs, {0, 1, 2, 3}, k)
                        || results[i][k] == mean_over(inputs, {0, 1, 2}, k));
          BOOST_REQUIRE(results[i][k] == results[0][k]); // survivors agree bit for bit
        }
      }
    }
  }
  if (fault_flag == "--die-after-messages") {
    auto victim = s.peers[3]->wait_exit(s.deadline);
    BOOST_REQUIRE(victim.has_value());
    BOOST_TEST(WIFSIGNALED(*victim));
    BOOST_TEST(WTERMSIG(*victim) == SIGKILL);
  }
  if (fault_flag == "--stall-after-messages")
    ::kill(s.peers[3]->pid(), SIGKILL); // it would never read "exit"
  s.release_all();
}

} // namespace

BOOST_AUTO_TEST_CASE(peer_sigkilled_mid_transfer_others_finish) {
  run_round_with_a_faulty_member("--die-after-messages", "process-kill");
}

BOOST_AUTO_TEST_CASE(peer_stalled_mid_transfer_others_finish_by_timeouts) {
  // SIGSTOP: the connections stay open, nothing is read or sent any more;
  // only the timeouts can tell.
  run_round_with_a_faulty_member("--stall-after-messages", "process-stall");
}

BOOST_AUTO_TEST_CASE(newcomer_downloads_state_from_the_best_holder) {
  temp_dir dir;
  const uint64_t bytes = 1500000; // three chunks
  std::vector<std::vector<std::string>> extra = {
    {"--no-round", "--serve-state", "3", "--state-bytes", std::to_string(bytes)},
    {"--no-round", "--serve-state", "5", "--state-bytes", std::to_string(bytes)},
    {"--no-round", "--serve-state", "4", "--state-bytes", std::to_string(bytes)},
    {"--no-round", "--fetch-state", "--holder-epochs", "3,5,4,0"}};
  swarm s("nnnn", dir.path, extra);
  for (size_t i = 0; i < 3; ++i) {
    s.start(i);
    BOOST_TEST(field_of(s.done_line(i), "serving") == "1");
  }
  s.start(3);
  auto line = s.done_line(3);
  BOOST_TEST(field_of(line, "epoch") == "5");
  BOOST_TEST(field_of(line, "failures") == "0");
  s.release_all();
  std::ifstream in(dir.path + "/state-3.bin", std::ios::binary);
  std::string blob((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  BOOST_REQUIRE_EQUAL(blob.size(), bytes);
  size_t wrong = 0;
  for (uint64_t i = 0; i < bytes; ++i) // the holders' deterministic blob of epoch 5
    wrong += blob[i] != static_cast<char>((i * 131 + 5 * 977) % 251);
  BOOST_TEST(wrong == 0u);
}
