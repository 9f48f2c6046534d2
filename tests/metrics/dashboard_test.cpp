// The dashboard: Prometheus' text format, the SVG charts, the page, and the
// HTTP server on real loopback TCP.
#define BOOST_TEST_MODULE dashboard
#include <boost/test/unit_test.hpp>

#include "actors/common/identity.hpp"
#include "actors/metrics/dashboard.hpp"

#include <httplib.h>

#include <regex>
#include <sstream>

using namespace ttt;
using namespace ttt::metrics;

namespace {

swarm_snapshot epoch(uint64_t step, double loss, double rate) {
  swarm_snapshot s;
  s.step = step;
  s.mean_loss = loss;
  s.samples_per_second = rate;
  s.alive_peers = 2;
  s.samples = 256;
  s.time = 1000.0 + static_cast<double>(step);
  return s;
}

dashboard_view sample_view() {
  dashboard_view v;
  v.run_id = "run \"one\"";
  v.history = {epoch(1, 2.5, 40), epoch(2, 2.0, 42), epoch(3, 1.5, 41)};
  for (int i = 0; i < 2; ++i) {
    peer_metrics p;
    p.peer = peer_id_of(identity::generate().public_key());
    p.step = 3;
    p.samples_per_second = 20.0 + i;
    p.samples_accumulated = 128;
    p.loss = 6.0;
    p.mini_steps = 4;
    p.time = 1002;
    v.peers.push_back(p);
  }
  v.refused_records = 1;
  v.now = 1003;
  return v;
}

std::vector<std::pair<double, double>> polyline_points(const std::string& svg) {
  std::smatch m;
  BOOST_REQUIRE(std::regex_search(svg, m, std::regex("points=\"([^\"]*)\"")));
  std::vector<std::pair<double, double>> out;
  std::istringstream in(m[1].str());
  std::string pair;
  while (in >> pair) {
    auto comma = pair.find(',');
    out.emplace_back(std::stod(pair.substr(0, comma)), std::stod(pair.substr(comma + 1)));
  }
  return out;
}

} // namespace

BOOST_AUTO_TEST_CASE(prometheus_text_has_every_sample_typed_and_labelled) {
  auto text = render_prometheus(sample_view());
  BOOST_TEST(text.find("ttt_swarm_epoch{run=\"run \\\"one\\\"\"} 3\n") != std::string::npos, text);
  BOOST_TEST(text.find("ttt_swarm_loss{run=\"run \\\"one\\\"\"} 1.5\n") != std::string::npos);
  BOOST_TEST(text.find("ttt_swarm_alive_peers{run=\"run \\\"one\\\"\"} 2\n") != std::string::npos);
  BOOST_TEST(text.find("ttt_monitor_refused_records_total{run=\"run \\\"one\\\"\"} 1\n") != std::string::npos);
  BOOST_TEST(text.find(",peer=\"") != std::string::npos);
  BOOST_TEST(text.find("ttt_peer_loss") != std::string::npos);
  // Every sample line is `name{labels} value`, and its name was TYPEd before it.
  std::istringstream lines(text);
  std::string line, typed;
  std::regex sample(R"(^([a-z_]+)\{[^}]*\} (-?[0-9.e+]+|NaN|[+-]Inf)$)");
  int samples = 0;
  while (std::getline(lines, line)) {
    if (line.rfind("# TYPE ", 0) == 0) {
      typed = line.substr(7, line.find(' ', 7) - 7);
      continue;
    }
    if (line.rfind("# HELP ", 0) == 0)
      continue;
    std::smatch m;
    BOOST_TEST_REQUIRE(std::regex_match(line, m, sample), line);
    BOOST_TEST(m[1].str() == typed, line);
    ++samples;
  }
  BOOST_TEST(samples == 5 + 1 + 3 * 2 + 1);
}

BOOST_AUTO_TEST_CASE(the_loss_chart_draws_every_epoch_within_its_frame) {
  auto v = sample_view();
  auto svg = render_chart_svg(v.history, "loss", [](const swarm_snapshot& s) { return s.mean_loss; }, 640, 240);
  BOOST_TEST(svg.rfind("<svg", 0) == 0);
  auto points = polyline_points(svg);
  BOOST_REQUIRE(points.size() == 3u);
  // Later epochs to the right; the highest loss at the top, the lowest at the bottom.
  BOOST_TEST(points[0].first < points[1].first);
  BOOST_TEST(points[1].first < points[2].first);
  BOOST_TEST(points[0].second == 30.0);  // top margin
  BOOST_TEST(points[2].second == 210.0); // height - bottom margin
  BOOST_TEST(points[1].second == 120.0);
  auto one = render_chart_svg({epoch(1, 2.0, 1)}, "loss", [](const swarm_snapshot& s) { return s.mean_loss; });
  BOOST_TEST(one.find("points=") == std::string::npos);
  BOOST_TEST(one.find("waiting for two epochs") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_page_escapes_what_peers_chose) {
  auto v = sample_view();
  v.run_id = "<script>alert(1)</script>";
  auto page = render_page(v);
  BOOST_TEST(page.find("<script>") == std::string::npos);
  BOOST_TEST(page.find("&lt;script&gt;") != std::string::npos);
  BOOST_TEST(page.find("Epoch <b>3</b>: loss <b>1.5000</b>") != std::string::npos);
  BOOST_TEST(page.find("<polyline") != std::string::npos);
  auto json = render_json(v);
  BOOST_TEST(json.find("\"run_id\":\"<script>alert(1)</script>\"") != std::string::npos);
  BOOST_TEST(json.find("{\"epoch\":3,\"loss\":1.5,") != std::string::npos);
  dashboard_view empty;
  BOOST_TEST(render_page(empty).find("No epoch finished yet") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_server_answers_over_http_and_follows_the_board) {
  auto board = std::make_shared<dashboard_board>();
  board->set_run("r1");
  board->set_history({epoch(1, 2.5, 40)});
  dashboard_server server;
  auto err = server.start("127.0.0.1", 0, board);
  BOOST_REQUIRE_MESSAGE(err.empty(), err);
  BOOST_REQUIRE(server.port() != 0);
  httplib::Client client("127.0.0.1", server.port());
  auto metrics = client.Get("/metrics");
  BOOST_REQUIRE(metrics);
  BOOST_TEST(metrics->status == 200);
  BOOST_TEST(metrics->body.find("ttt_swarm_epoch{run=\"r1\"} 1\n") != std::string::npos, metrics->body);
  board->append(epoch(2, 2.0, 41));
  auto again = client.Get("/metrics");
  BOOST_REQUIRE(again);
  BOOST_TEST(again->body.find("ttt_swarm_epoch{run=\"r1\"} 2\n") != std::string::npos);
  auto page = client.Get("/");
  BOOST_REQUIRE(page);
  BOOST_TEST(page->status == 200);
  BOOST_TEST(page->get_header_value("Content-Type").find("text/html") == 0u);
  BOOST_TEST(page->body.find("<polyline") != std::string::npos);
  auto history = client.Get("/api/history");
  BOOST_REQUIRE(history);
  BOOST_TEST(history->body.find("\"epoch\":2") != std::string::npos);
  auto missing = client.Get("/nope");
  BOOST_REQUIRE(missing);
  BOOST_TEST(missing->status == 404);
  // The port is taken: a second server says so instead of failing silently.
  dashboard_server second;
  auto clash = second.start("127.0.0.1", server.port(), board);
  BOOST_TEST(clash.find("cannot listen") != std::string::npos, clash);
  server.stop();
  BOOST_TEST(!client.Get("/metrics")); // stopped: nothing answers
}
