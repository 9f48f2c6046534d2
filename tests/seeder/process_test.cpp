// The seeder role and `ttt data fetch` as real processes on loopback: a
// `ttt node` whose profile lists the seeder role serves its directory; the
// command fetches every file into a fresh directory, skips them on a second
// run, and takes a subset of the training shards under --max-data. A seeder
// profile without a directory, or in client mode, does not start.
#define BOOST_TEST_MODULE seeder_process
#include <boost/test/unit_test.hpp>

#include "tests/common/process.hpp"
#include "tests/seeder/test_files.hpp"

#include <filesystem>
#include <map>

using namespace ttt;
using namespace std::chrono_literals;

namespace {

constexpr const char* run_id = "seeder-process-test";

std::string write_profile(const test::temp_dir& dir, const std::string& name,
                          const std::string& text) {
  auto path = dir.path() + "/" + name;
  test::write_file(path, text);
  return path;
}

} // namespace

BOOST_AUTO_TEST_CASE(ttt_data_fetch_gets_a_seeder_nodes_files) {
  test::temp_dir dir;
  auto shards = dir.path() + "/shards";
  std::filesystem::create_directories(shards);
  std::map<std::string, std::string> files;
  files["tokenizer.model"] = test::pseudo_random_bytes(5'000, 1);
  files["image_coder.json"] = "{\"kind\": \"codebook\"}";
  files["valid-00000.shard"] = test::pseudo_random_bytes(100'000, 2);
  for (int i = 0; i < 3; ++i)
    files["train-0000" + std::to_string(i) + ".shard"] = test::pseudo_random_bytes(700'000, 10 + i);
  for (const auto& [name, bytes] : files)
    test::write_file(shards + "/" + name, bytes);
  auto profile = write_profile(dir, "seeder.ini",
                               std::string("[node]\nroles = dht, seeder\n[run]\nrun_id = ") +
                                   run_id + "\n[seeder]\nshards = " + shards + "\n");
  test::process seeder({test::ttt_binary(), "node", "--profile", profile, "--listen", "127.0.0.1:0",
                        "--data-dir", dir.path() + "/seeder"},
                       dir.path() + "/seeder.log");
  auto contact = seeder.wait_for("others join through ([0-9a-f]{40}@[0-9.]+:[0-9]+)");
  BOOST_REQUIRE_MESSAGE(contact, seeder.output());
  BOOST_REQUIRE_MESSAGE(seeder.wait_for("seeder: serving 6 files"), seeder.output());

  auto fetch = [&](const std::string& out, std::vector<std::string> extra) {
    std::vector<std::string> argv{test::ttt_binary(),
                                  "data",
                                  "fetch",
                                  "--initial-peer",
                                  (*contact)[1],
                                  "--run",
                                  run_id,
                                  "--out",
                                  out};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return test::run(argv, dir.path() + "/fetch.log", 60s);
  };
  auto out = dir.path() + "/out";
  auto [rc, text] = fetch(out, {});
  BOOST_REQUIRE_MESSAGE(rc == 0, text);
  BOOST_TEST(text.find("data: 6/6 files") != std::string::npos, text);
  for (const auto& [name, bytes] : files)
    BOOST_TEST(test::read_file(out + "/" + name) == bytes, name);

  auto [rc_again, text_again] = fetch(out, {});
  BOOST_REQUIRE_MESSAGE(rc_again == 0, text_again);
  BOOST_TEST(text_again.find("0 fetched now, 6 already there") != std::string::npos, text_again);

  // 0.9 MB: the support files and the validation shard (0.1 MB) and one
  // 0.7 MB training shard of the three.
  auto some = dir.path() + "/some";
  auto [rc_some, text_some] = fetch(some, {"--max-data", "0.9"});
  BOOST_REQUIRE_MESSAGE(rc_some == 0, text_some);
  size_t shards_taken = 0;
  for (const auto& [name, bytes] : files)
    if (name.rfind("train-", 0) == 0)
      shards_taken += std::filesystem::exists(some + "/" + name) ? 1 : 0;
    else
      BOOST_TEST(std::filesystem::exists(some + "/" + name), name);
  BOOST_TEST(shards_taken == 1u);

  seeder.kill(SIGTERM);
  BOOST_TEST(seeder.wait().value_or(-1) == 0);
}

BOOST_AUTO_TEST_CASE(a_seeder_needs_a_directory_and_a_listening_port) {
  test::temp_dir dir;
  auto base = std::string("[node]\nroles = dht, seeder\n[run]\nrun_id = ") + run_id + "\n";
  auto no_dir = write_profile(dir, "no-dir.ini", base);
  auto [rc, text] =
      test::run({test::ttt_binary(), "node", "--profile", no_dir, "--data-dir", dir.path() + "/a"},
                dir.path() + "/a.log");
  BOOST_TEST(rc == 2);
  BOOST_TEST(text.find("[seeder] shards") != std::string::npos, text);
  auto client = write_profile(dir, "client.ini", base + "[seeder]\nshards = " + dir.path() + "\n");
  auto [rc_client, text_client] = test::run({test::ttt_binary(), "node", "--profile", client,
                                             "--client-mode", "--data-dir", dir.path() + "/b"},
                                            dir.path() + "/b.log");
  BOOST_TEST(rc_client == 2);
  BOOST_TEST(text_client.find("client mode") != std::string::npos, text_client);
}
