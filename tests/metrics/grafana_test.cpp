// configs/grafana/ttt-swarm.json charts only series ttt exports: every
// metric name its queries use is one the monitor's /metrics or a node's own
// /metrics renders, and the file is one balanced JSON object.
#define BOOST_TEST_MODULE grafana
#include <boost/test/unit_test.hpp>

#include "actors/common/node_metrics.hpp"
#include "actors/metrics/dashboard.hpp"

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

using namespace ttt;

namespace {

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// Every name a metric line or a HELP line of `text` gives.
std::set<std::string> names_in(const std::string& text, const std::string& pattern) {
  std::set<std::string> out;
  std::regex re(pattern);
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator(); ++it)
    out.insert((*it)[1]);
  return out;
}

/// A view with one of everything the monitor renders.
metrics::dashboard_view full_view() {
  metrics::dashboard_view v;
  v.run_id = "demo";
  metrics::swarm_snapshot s;
  s.step = 3;
  s.alive_peers = 2;
  s.mean_loss = 1.5;
  s.eval_score = 0.5;
  s.eval_reporters = 1;
  v.history = {s};
  metrics::peer_metrics p;
  p.peer = node_id::of_key("peer");
  p.step = 3;
  v.peers = {p};
  metrics::clipped_summary c;
  c.peer = node_id::of_key("liar");
  c.reporters = 1;
  v.clipped = {c};
  metrics::contribution who;
  who.peer = p.peer;
  who.name = "alice";
  who.samples = 10;
  v.leaderboard = {who};
  v.volunteers.volunteers = 1;
  v.now = 1;
  return v;
}

} // namespace

BOOST_AUTO_TEST_CASE(the_grafana_dashboard_charts_series_ttt_exports) {
  auto json = read(TTT_SOURCE_DIR "/configs/grafana/ttt-swarm.json");
  BOOST_REQUIRE(!json.empty());
  auto used = names_in(json, R"((ttt_[a-z_]+))");
  BOOST_TEST(used.size() >= 10u);
  auto exported = names_in(metrics::render_prometheus(full_view()), R"(# TYPE (ttt_[a-z_]+) )");
  auto own = names_in(node_metrics().render(), R"(# TYPE (ttt_[a-z_]+) )");
  exported.insert(own.begin(), own.end());
  for (const auto& name : used)
    BOOST_TEST(exported.count(name) == 1u, name << " is charted but nobody exports it");
}

BOOST_AUTO_TEST_CASE(the_grafana_dashboard_is_one_balanced_json_object) {
  auto json = read(TTT_SOURCE_DIR "/configs/grafana/ttt-swarm.json");
  int depth = 0;
  bool in_string = false, escaped = false, closed_early = false;
  for (size_t i = 0; i < json.size(); ++i) {
    char c = json[i];
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"')
      in_string = true;
    else if (c == '{' || c == '[')
      ++depth;
    else if (c == '}' || c == ']') {
      --depth;
      if (depth == 0 && json.find_first_not_of(" \n", i + 1) != std::string::npos)
        closed_early = true;
    }
  }
  BOOST_TEST(json.front() == '{');
  BOOST_TEST(depth == 0);
  BOOST_TEST(!in_string);
  BOOST_TEST(!closed_early);
}
