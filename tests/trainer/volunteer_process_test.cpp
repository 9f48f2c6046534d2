// A volunteer's whole path with real processes on loopback: an aux peer
// (checkpointer, monitor with its dashboard, seeder, the run's kit) and two
// volunteers who each run only `ttt join http://AUX`: they get the kit, fit
// the machine, fetch the run's shards from the seeder, train together and
// show up on the leaderboard; one restarted keeps its total and fetches
// nothing again. Headless chromium renders the dashboard: the leaderboard's
// rows, the charts and the sample picture are in the DOM, the counts grow,
// and once the swarm stops, the page's numbers are those of /api/leaderboard
// and /metrics. A screenshot is left in the test's folder (and in
// $TTT_TEST_ARTIFACTS when set).
#define BOOST_TEST_MODULE volunteer_process
#include <boost/test/unit_test.hpp>

#include "tests/common/process.hpp"

#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <regex>

using namespace ttt::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

/// GET `path` from the dashboard at `base` (http://HOST:PORT); "" when it fails.
std::string get(const std::string& base, const std::string& path) {
  httplib::Client client(base);
  client.set_read_timeout(10);
  auto res = client.Get(path);
  return res && res->status == 200 ? res->body : std::string();
}

/// name -> samples, from every match of `pattern` (groups: name and samples,
/// or samples and name when `samples_first`).
std::map<std::string, long long> samples_by_name(const std::string& text, const std::string& pattern,
                                                 bool samples_first = false) {
  std::map<std::string, long long> out;
  std::regex re(pattern);
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator(); ++it)
    out[(*it)[samples_first ? 2 : 1]] = std::stoll((*it)[samples_first ? 1 : 2]);
  return out;
}

std::map<std::string, long long> leaderboard(const std::string& base) {
  return samples_by_name(get(base, "/api/leaderboard"), R"re("name":"([^"]+)"[^}]*?"samples":([0-9]+))re");
}

/// The leaderboard as the page's DOM shows it (rows carry data-samples; the name is the cell's text).
std::map<std::string, long long> dom_leaderboard(const std::string& dom) {
  return samples_by_name(dom, R"re(<tr class="volunteer"[^>]*data-samples="([0-9]+)"[^>]*><td class="name"[^>]*>([^ <]+))re",
                         true);
}

std::string chromium() {
  for (const char* p : {"/usr/bin/chromium", "/usr/bin/chromium-browser"})
    if (fs::exists(p))
      return p;
  return "";
}

/// Headless chromium's rendering of `url`: its DOM (and a screenshot into `png` when given).
std::string render(const std::string& url, const std::string& dir, const std::string& png = "") {
  std::vector<std::string> argv = {chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                                   "--user-data-dir=" + dir + "/chromium", "--window-size=1280,2200"};
  argv.push_back(png.empty() ? "--dump-dom" : "--screenshot=" + png);
  argv.push_back(url);
  process p(argv, dir + (png.empty() ? "/dom.html" : "/screenshot.log"));
  BOOST_REQUIRE_MESSAGE(p.wait(60s).has_value(), "chromium did not finish");
  return p.output();
}

struct run_swarm {
  temp_dir tmp;
  std::string data = tmp.path() + "/run-data";
  std::unique_ptr<process> aux;
  std::string dashboard;

  run_swarm() {
    auto [rc, out] = run({ttt_binary(), "data", "shapes", "--out", data, "--count", "256"},
                         tmp.path() + "/shapes.log", 120s);
    BOOST_REQUIRE_MESSAGE(rc == 0, out);
    // The operator's trainer profile, handed to joiners as the run's kit.
    std::string trainer = read_text(TTT_SOURCE_DIR "/configs/trainer.ini");
    trainer = std::regex_replace(trainer, std::regex("config = model/"), "config = " TTT_SOURCE_DIR "/configs/model/");
    trainer = std::regex_replace(trainer, std::regex("target_batch_size = [0-9]+"), "target_batch_size = 64");
    trainer = std::regex_replace(trainer, std::regex("group_size = 16"), "group_size = 2");
    trainer = std::regex_replace(trainer, std::regex("status_every = [0-9]+"), "status_every = 3");
    std::ofstream(tmp.path() + "/run-trainer.ini") << trainer;
    std::string profile = read_text(TTT_SOURCE_DIR "/configs/aux.ini");
    profile = std::regex_replace(profile, std::regex("roles = .*"), "roles = dht, checkpointer, monitor, seeder");
    profile = std::regex_replace(profile, std::regex("dashboard = .*"), "dashboard = 127.0.0.1:0");
    profile = std::regex_replace(profile, std::regex("poll_interval = [0-9]+"), "poll_interval = 1");
    profile = std::regex_replace(profile, std::regex("sample_every = [0-9]+"), "sample_every = 2");
    profile = std::regex_replace(profile, std::regex("\nshards =\n"), "\nshards = run-data\n");
    profile = std::regex_replace(profile, std::regex("\nprofile =\n"), "\nprofile = run-trainer.ini\n");
    profile = std::regex_replace(profile, std::regex("\nlisten =\n"), "\nlisten = 127.0.0.1:0\n");
    std::ofstream(tmp.path() + "/aux.ini") << profile;
    aux = std::make_unique<process>(std::vector<std::string>{ttt_binary(), "node", "--profile", tmp.path() + "/aux.ini",
                                                             "--listen", "127.0.0.1:0", "--data-dir",
                                                             tmp.path() + "/aux"},
                                    tmp.path() + "/aux.log");
    auto at = aux->wait_for("dashboard of run '[^']+' at (http://[0-9.:]+)/");
    BOOST_REQUIRE_MESSAGE(at, aux->output());
    dashboard = (*at)[1];
    BOOST_REQUIRE_MESSAGE(aux->wait_for("seeder: listed under shards"), aux->output());
  }

  std::unique_ptr<process> join(const std::string& name, int start) {
    return std::make_unique<process>(
      std::vector<std::string>{ttt_binary(), "join", dashboard, "--name", name, "--data-dir", tmp.path() + "/" + name,
                               "--listen", "127.0.0.1:0", "--set", "metrics.listen=127.0.0.1:0"},
      tmp.path() + "/" + name + "-" + std::to_string(start) + ".log");
  }
};

} // namespace

BOOST_AUTO_TEST_CASE(volunteers_join_with_one_command_and_the_dashboard_shows_them) {
  run_swarm s;
  BOOST_TEST(get(s.dashboard, "/run").find("run_id = ttt-demo") != std::string::npos);
  auto alice = s.join("alice", 1);
  auto bob = s.join("bob", 1);
  for (auto* v : {alice.get(), bob.get()}) {
    // The machine is fitted, the data fetched from the seeder and verified, the trainer started.
    BOOST_REQUIRE_MESSAGE(v->wait_for("hardware: cpu, [0-9.]+ GiB to train in: micro-batch [0-9]+", 60s), v->output());
    BOOST_REQUIRE_MESSAGE(v->wait_for("data: 5 files in [^ ]+ \\(5 fetched now, 0 already there\\)", 60s),
                          v->output());
    BOOST_REQUIRE_MESSAGE(v->wait_for("epoch 3 done: .* averaged with 2 peers", 120s), v->output());
    BOOST_REQUIRE_MESSAGE(v->wait_for("status: swarm at epoch [0-9]+, loss [0-9.]+, 2 peers; you: epoch", 60s),
                          v->output());
  }
  // Each node's own figures: the aux peer answered DHT stores, the trainer trained and averaged.
  auto own_metrics = [](process& p) {
    auto at = p.wait_for("metrics of this node at (http://[0-9.:]+)/metrics", 1s);
    BOOST_REQUIRE_MESSAGE(at, p.output());
    return get((*at)[1], "/metrics");
  };
  auto value = [](const std::string& text, const std::string& series) {
    std::smatch m;
    BOOST_REQUIRE_MESSAGE(std::regex_search(text, m, std::regex(series + R"(\{[^}]*\} ([0-9.e+]+))")), series);
    return std::stod(m[1]);
  };
  auto aux_figures = own_metrics(*s.aux), alice_figures = own_metrics(*alice);
  BOOST_TEST(aux_figures.find("ttt_node_dht_requests_total{") != std::string::npos, aux_figures);
  BOOST_TEST(value(aux_figures, "ttt_node_dht_requests_total") > 0);
  BOOST_TEST(value(alice_figures, "ttt_node_epochs_total") >= 3);
  BOOST_TEST(value(alice_figures, "ttt_node_samples_total") >= 3 * 32);
  BOOST_TEST(value(alice_figures, "ttt_node_averaging_sent_bytes_total") > 0);
  for (const char* file : {"train-00000.shard", "valid-00000.shard", "tokenizer.model", "codebook.safetensors"})
    BOOST_TEST(read_text(s.tmp.path() + "/run-data/" + file) == read_text(s.tmp.path() + "/alice/data/" + file));

  // Both on the leaderboard, and the browser's page says so, with growing counts.
  std::map<std::string, long long> board;
  for (int i = 0; i < 100 && (board.size() < 2 || board["alice"] == 0 || board["bob"] == 0); ++i) {
    std::this_thread::sleep_for(200ms);
    board = leaderboard(s.dashboard);
  }
  BOOST_REQUIRE_MESSAGE(board.count("alice") && board.count("bob"), get(s.dashboard, "/api/leaderboard"));
  BOOST_REQUIRE_MESSAGE(!chromium().empty(), "chromium is missing: scripts/install-deps.sh installs it");
  auto dom1 = render(s.dashboard + "/", s.tmp.path());
  auto rows1 = dom_leaderboard(dom1);
  BOOST_TEST(rows1.size() == 2u, dom1);
  for (const char* id : {"chart-loss", "chart-samples", "chart-peers", "leaderboard", "sample-picture", "weights"})
    BOOST_TEST(dom1.find(std::string("id=\"") + id + "\"") != std::string::npos, id);
  BOOST_TEST(std::regex_search(dom1, std::regex(R"(<svg[^>]*id="chart-loss"[^>]*>[\s\S]*?<polyline)")), "a loss curve");
  std::this_thread::sleep_for(6s);
  auto rows2 = dom_leaderboard(render(s.dashboard + "/", s.tmp.path()));
  BOOST_TEST(rows2["alice"] > rows1["alice"]);
  BOOST_TEST(rows2["bob"] > rows1["bob"]);

  // A volunteer stopped and joining again fetches nothing and keeps its total.
  alice->kill(SIGINT);
  BOOST_REQUIRE(alice->wait(60s).has_value());
  auto before = leaderboard(s.dashboard)["alice"];
  BOOST_TEST(before > 0);
  auto again = s.join("alice", 2);
  BOOST_REQUIRE_MESSAGE(again->wait_for("data: 5 files in [^ ]+ \\(0 fetched now, 5 already there\\)", 60s),
                        again->output());
  auto resumed = again->wait_for("epoch ([0-9]+) done: .* averaged with 2 peers", 120s);
  BOOST_REQUIRE_MESSAGE(resumed, again->output());
  long long after = 0;
  for (int i = 0; i < 100 && after <= before; ++i) {
    std::this_thread::sleep_for(200ms);
    after = leaderboard(s.dashboard)["alice"];
  }
  BOOST_TEST(after > before); // the old total plus the new samples, not the new ones alone

  // The swarm stops; the page's numbers are the JSON's and Prometheus'.
  again->kill(SIGINT);
  bob->kill(SIGINT);
  BOOST_REQUIRE(again->wait(60s).has_value());
  BOOST_REQUIRE(bob->wait(60s).has_value());
  std::this_thread::sleep_for(3s); // two polls of the monitor
  auto final_board = leaderboard(s.dashboard);
  auto final_rows = dom_leaderboard(render(s.dashboard + "/", s.tmp.path()));
  auto prometheus = samples_by_name(get(s.dashboard, "/metrics"),
                                    R"re(ttt_volunteer_samples_total\{[^}]*name="([^"]+)"\} ([0-9]+))re");
  BOOST_TEST(final_board.size() == 2u);
  BOOST_TEST(final_rows == final_board);
  BOOST_TEST(prometheus == final_board);

  auto png = s.tmp.path() + "/dashboard.png";
  render(s.dashboard + "/", s.tmp.path(), png);
  BOOST_TEST(fs::exists(png));
  BOOST_TEST(fs::file_size(png) > 20000u); // a page with pictures and charts, not a blank one
  if (const char* artifacts = std::getenv("TTT_TEST_ARTIFACTS")) {
    std::error_code ec;
    fs::create_directories(artifacts, ec);
    fs::copy_file(png, fs::path(artifacts) / "dashboard.png", fs::copy_options::overwrite_existing, ec);
  }
}
