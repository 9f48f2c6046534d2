// The dashboard: Prometheus' text format, the SVG charts, the page, and the
// HTTP server on real loopback TCP.
#define BOOST_TEST_MODULE dashboard
#include <boost/test/unit_test.hpp>

#include "actors/common/identity.hpp"
#include "actors/metrics/dashboard.hpp"

#include <httplib.h>

#include <cmath>
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

/// The samples in Prometheus `text`, after checking that every sample line is
/// `name{labels} value` and that its name was TYPEd before it.
int typed_samples(const std::string& text) {
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
  return samples;
}

/// The SVG element of the chart titled `title` in `page`.
std::string chart_in(const std::string& page, const std::string& title) {
  auto label = page.find("aria-label=\"" + title + "\"");
  BOOST_REQUIRE(label != std::string::npos);
  auto start = page.rfind("<svg", label);
  return page.substr(start, page.find("</svg>", start) - start);
}

size_t count_of(const std::string& text, const std::string& what) {
  size_t count = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    ++count;
  return count;
}

/// sample_view with five epochs, of which the trainers evaluated 2 and 4,
/// and one peer that reports a score.
dashboard_view scored_view() {
  auto v = sample_view();
  v.history = {epoch(1, 2.5, 40), epoch(2, 2.0, 42), epoch(3, 1.5, 41), epoch(4, 1.2, 40), epoch(5, 1.1, 40)};
  v.history[1].eval_score = 0.5;
  v.history[1].eval_reporters = 2;
  v.history[3].eval_score = 0.75;
  v.history[3].eval_reporters = 1;
  v.peers[0].eval_score = 0.75;
  return v;
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
  BOOST_TEST(typed_samples(text) == 5 + 1 + 3 * 2 + 1);
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

BOOST_AUTO_TEST_CASE(a_peer_clipped_by_two_trainers_is_on_the_page_in_json_and_in_metrics) {
  auto v = sample_view();
  auto attacker = peer_id_of(identity::generate().public_key());
  const auto& lone_reporter = v.peers[0].peer;
  clipped_summary by_two;
  by_two.peer = attacker;
  by_two.reporters = 2;
  by_two.most_clipped = 7;
  by_two.rounds = 8;
  by_two.dropped_by = 1;
  by_two.reported_by = {v.peers[0].peer, v.peers[1].peer};
  // One trainer says the other clipped: shown, and shown as one trainer's word.
  clipped_summary by_one;
  by_one.peer = v.peers[1].peer;
  by_one.reporters = 1;
  by_one.most_clipped = 2;
  by_one.rounds = 8;
  by_one.reported_by = {lone_reporter};
  v.clipped = {by_two, by_one};

  auto text = render_prometheus(v);
  std::string labels = "{run=\"run \\\"one\\\"\",peer=\"" + attacker.to_hex() + "\"} ";
  BOOST_TEST(text.find("# TYPE ttt_peer_clipped_reports gauge\n") != std::string::npos, text);
  BOOST_TEST(text.find("ttt_peer_clipped_reports" + labels + "2\n") != std::string::npos, text);
  BOOST_TEST(text.find("ttt_peer_clipped_rounds" + labels + "7\n") != std::string::npos);
  BOOST_TEST(text.find("ttt_peer_dropped_reports" + labels + "1\n") != std::string::npos);
  BOOST_TEST(text.find("ttt_peer_clipped_reports{run=\"run \\\"one\\\"\",peer=\"" + v.peers[1].peer.to_hex()
                       + "\"} 1\n")
             != std::string::npos);

  auto page = render_page(v);
  BOOST_TEST(page.find("<th>clipped by</th>") != std::string::npos);
  BOOST_TEST(page.find("<h2>Clipped peers</h2>") != std::string::npos);
  BOOST_TEST(page.find("<code>" + attacker.to_hex().substr(0, 16) + "</code></td><td>2 trainers</td><td>7 of 8 rounds")
             != std::string::npos, page);
  // In the peers table, the peer one trainer reports.
  BOOST_TEST(page.find("<td>1 trainer only, 2 of 8 rounds</td>") != std::string::npos, page);

  auto json = render_json(v);
  BOOST_TEST(json.find("\"clipped\":[{\"peer\":\"" + attacker.to_hex()
                       + "\",\"reporters\":2,\"clipped_rounds\":7,\"rounds\":8,\"dropped_by\":1,\"reported_by\":[")
             != std::string::npos, json);
  BOOST_TEST(json.find("\"clipped_by\":1}") != std::string::npos);
  BOOST_TEST(json.find("\"clipped_by\":0}") != std::string::npos);

  // What the server serves from the board.
  auto board = std::make_shared<dashboard_board>();
  board->set_run("r1");
  board->set_peers(v.peers, v.clipped, 0, v.now);
  dashboard_server server;
  auto err = server.start("127.0.0.1", 0, board);
  BOOST_REQUIRE_MESSAGE(err.empty(), err);
  httplib::Client client("127.0.0.1", server.port());
  auto metrics = client.Get("/metrics");
  BOOST_REQUIRE(metrics);
  BOOST_TEST(metrics->body.find("ttt_peer_clipped_reports{run=\"r1\",peer=\"" + attacker.to_hex() + "\"} 2\n")
             != std::string::npos, metrics->body);
  auto served_page = client.Get("/");
  BOOST_REQUIRE(served_page);
  BOOST_TEST(served_page->body.find(attacker.to_hex().substr(0, 16)) != std::string::npos);
  auto history = client.Get("/api/history");
  BOOST_REQUIRE(history);
  BOOST_TEST(history->body.find("{\"peer\":\"" + attacker.to_hex() + "\",\"reporters\":2") != std::string::npos);
  server.stop();
}

BOOST_AUTO_TEST_CASE(a_sparse_series_on_a_fixed_axis_draws_a_dot_per_point_even_alone) {
  chart_style style;
  style.y_range = std::make_pair(0.0, 1.0);
  style.dots = true;
  style.waiting_note = "no score <yet>";
  auto score = [](const swarm_snapshot& s) { return s.eval_score; };
  std::vector<swarm_snapshot> history = {epoch(1, 2.0, 1), epoch(2, 2.0, 1), epoch(3, 2.0, 1)};
  auto none = render_chart_svg(history, "score", score, 640, 240, style);
  BOOST_TEST(none.find("no score &lt;yet&gt;") != std::string::npos, none);
  BOOST_TEST(none.find("<circle") == std::string::npos);
  // One score: a dot in the middle, no line.
  history[1].eval_score = 0.5;
  auto one = render_chart_svg(history, "score", score, 640, 240, style);
  BOOST_TEST(one.find("points=") == std::string::npos);
  BOOST_TEST(one.find("<circle cx=\"342.5\" cy=\"120.0\"") != std::string::npos, one);
  BOOST_TEST(one.find(">epoch 2</text>") != std::string::npos);
  // On the fixed axis, not the data's own: 0.5 and 0.75 are not the frame's
  // edges; the epoch between them, without a score, is left out.
  history[2].eval_score = 0.75;
  auto two = render_chart_svg(history, "score", score, 640, 240, style);
  auto points = polyline_points(two);
  BOOST_REQUIRE(points.size() == 2u);
  BOOST_TEST(points[0].second == 120.0); // 0.5: half way between 210 and 30
  BOOST_TEST(points[1].second == 75.0);  // 0.75
  BOOST_TEST(count_of(two, "<circle") == 2u);
  BOOST_TEST(two.find(">1</text>") != std::string::npos); // the axis' top
  BOOST_TEST(two.find(">0</text>") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_eval_score_is_charted_beside_the_loss_and_served_in_json_and_metrics) {
  auto v = scored_view();
  auto page = render_page(v);
  // The latest known score, though the latest epoch has none.
  BOOST_TEST(page.find("<p>Eval score <b>0.7500</b> at epoch 4 (from 1 trainer;") != std::string::npos, page);
  // The eval chart right after the loss chart, with the two scored epochs.
  auto loss_at = page.find("aria-label=\"swarm loss per epoch\"");
  auto eval_at = page.find("aria-label=\"eval score (0..1)\"");
  BOOST_TEST(loss_at < eval_at);
  BOOST_TEST(page.find("<svg", loss_at) == page.rfind("<svg", eval_at));
  auto chart = chart_in(page, "eval score (0..1)");
  BOOST_TEST(polyline_points(chart).size() == 2u);
  BOOST_TEST(count_of(chart, "<circle") == 2u);
  BOOST_TEST(polyline_points(chart_in(page, "swarm loss per epoch")).size() == 5u);
  // The peers table: the score of the peer that reports one, a dash for the other.
  BOOST_TEST(page.find("<th>eval score</th>") != std::string::npos);
  BOOST_TEST(page.find("</td><td>0.7500</td><td>20.0</td>") != std::string::npos, page);
  BOOST_TEST(page.find("</td><td>—</td><td>21.0</td>") != std::string::npos, page);

  auto json = render_json(v);
  BOOST_TEST(json.find("{\"epoch\":1,\"loss\":2.5,") != std::string::npos, json);
  BOOST_TEST(json.find("\"eval_score\":null,\"eval_reporters\":0}") != std::string::npos);
  BOOST_TEST(json.find("\"eval_score\":0.5,\"eval_reporters\":2}") != std::string::npos);
  BOOST_TEST(json.find("\"eval_score\":0.75,\"eval_reporters\":1}") != std::string::npos);
  BOOST_TEST(json.find("\"eval_score\":0.75,\"clipped_by\":0}") != std::string::npos); // the peer's
  BOOST_TEST(json.find("NaN") == std::string::npos);

  auto text = render_prometheus(v);
  BOOST_TEST(text.find("# TYPE ttt_eval_score gauge\n") != std::string::npos, text);
  BOOST_TEST(text.find("ttt_eval_score{run=\"run \\\"one\\\"\"} 0.75\n") != std::string::npos);
  BOOST_TEST(text.find("ttt_eval_score_epoch{run=\"run \\\"one\\\"\"} 4\n") != std::string::npos);
  BOOST_TEST(typed_samples(text) == 5 + 2 + 1 + 3 * 2 + 1);

  // What the server serves from the board, as the monitor fills it: the
  // latest epoch's score amended when it comes a poll late.
  auto board = std::make_shared<dashboard_board>();
  board->set_run("r1");
  board->set_history({v.history.begin(), v.history.begin() + 4});
  auto fifth = v.history[4];
  board->append(fifth);
  fifth.eval_score = 0.8;
  fifth.eval_reporters = 1;
  auto stale = v.history[3];
  stale.eval_score = 0.1;
  board->amend_latest(stale); // not the latest epoch: ignored
  board->amend_latest(fifth);
  dashboard_server server;
  auto err = server.start("127.0.0.1", 0, board);
  BOOST_REQUIRE_MESSAGE(err.empty(), err);
  httplib::Client client("127.0.0.1", server.port());
  auto metrics = client.Get("/metrics");
  BOOST_REQUIRE(metrics);
  BOOST_TEST(metrics->body.find("ttt_eval_score{run=\"r1\"} 0.8\n") != std::string::npos, metrics->body);
  BOOST_TEST(metrics->body.find("ttt_eval_score_epoch{run=\"r1\"} 5\n") != std::string::npos);
  auto history = client.Get("/api/history");
  BOOST_REQUIRE(history);
  BOOST_TEST(history->body.find("\"epoch\":4,") != std::string::npos);
  BOOST_TEST(history->body.find("\"eval_score\":0.75,\"eval_reporters\":1}") != std::string::npos, history->body);
  BOOST_TEST(history->body.find("\"eval_score\":0.8,\"eval_reporters\":1}") != std::string::npos);
  auto served_page = client.Get("/");
  BOOST_REQUIRE(served_page);
  BOOST_TEST(served_page->body.find("Eval score <b>0.8000</b> at epoch 5") != std::string::npos);
  server.stop();
}

BOOST_AUTO_TEST_CASE(without_an_eval_score_the_page_json_and_metrics_say_none) {
  auto v = sample_view();
  auto page = render_page(v);
  BOOST_TEST(page.find("Epoch <b>3</b>: loss <b>1.5000</b>") != std::string::npos);
  BOOST_TEST(page.find("Eval score <b>") == std::string::npos);
  BOOST_TEST(chart_in(page, "eval score (0..1)").find("no eval score yet") != std::string::npos);
  BOOST_TEST(polyline_points(chart_in(page, "swarm loss per epoch")).size() == 3u);
  auto json = render_json(v);
  BOOST_TEST(json.find("\"eval_score\":null,\"eval_reporters\":0}") != std::string::npos, json);
  BOOST_TEST(json.find("NaN") == std::string::npos);
  BOOST_TEST(render_prometheus(v).find("ttt_eval_score") == std::string::npos);
  // Nor with no epoch at all.
  dashboard_view empty;
  BOOST_TEST(render_page(empty).find("no eval score yet") != std::string::npos);
  BOOST_TEST(render_prometheus(empty).find("ttt_eval_score") == std::string::npos);
}

namespace {

/// sample_view with two volunteers on its leaderboard: a certified one
/// online now, and one that chose its name, last seen five minutes ago.
dashboard_view leaderboard_view() {
  auto v = sample_view();
  contribution alice;
  alice.peer = peer_id_of(identity::generate().public_key());
  alice.name = "Alice \"<A>\"";
  alice.name_verified = true;
  alice.device_kind = "cuda:0 (NVIDIA <H100>)";
  alice.samples = 3000;
  alice.seconds_online = 7200;
  alice.first_seen = 100;
  alice.last_seen = v.now;
  contribution bob;
  bob.peer = peer_id_of(identity::generate().public_key());
  bob.name = "bob\\";
  bob.device_kind = "cpu";
  bob.samples = 1000;
  bob.seconds_online = 1800;
  bob.first_seen = 200;
  bob.last_seen = v.now - 300;
  v.leaderboard = {alice, bob};
  v.volunteers.volunteers = 2;
  v.volunteers.samples = 4000;
  return v;
}

/// The page's leaderboard rows, top first.
std::vector<std::string> volunteer_rows(const std::string& page) {
  std::vector<std::string> rows;
  std::regex row("<tr class=\"volunteer\"[^>]*>.*?</tr>");
  for (auto it = std::sregex_iterator(page.begin(), page.end(), row); it != std::sregex_iterator(); ++it)
    rows.push_back(it->str());
  return rows;
}

/// The element with id `id` in `page`, from its tag to the next `close`.
std::string element(const std::string& page, const std::string& id, const std::string& close) {
  auto at = page.find("id=\"" + id + "\"");
  BOOST_REQUIRE_MESSAGE(at != std::string::npos, id);
  auto start = page.rfind('<', at);
  return page.substr(start, page.find(close, at) + close.size() - start);
}

/// A history of `epochs` epochs whose alive peers go 1, 2, 3, 1, 2, 3, ...
std::vector<swarm_snapshot> long_history(uint64_t epochs) {
  std::vector<swarm_snapshot> history;
  for (uint64_t e = 1; e <= epochs; ++e) {
    auto s = epoch(e, 5.0 / static_cast<double>(e), 40);
    s.alive_peers = static_cast<uint32_t>(1 + e % 3);
    history.push_back(s);
  }
  return history;
}

published_state a_publication() {
  published_state p;
  p.epoch = 12;
  p.state_digest = "5ca1ab1e";
  p.weights_path = "/srv/ttt/published/weights-12.safetensors";
  p.weights_digest = "0123abcd";
  p.weights_bytes = 12'345'678;
  p.samples_path = "/srv/ttt/published/samples-10.png";
  p.samples_epoch = 10;
  p.prompts = {"a red <circle>", "two blue squares"};
  p.time = 1002;
  return p;
}

} // namespace

BOOST_AUTO_TEST_CASE(the_leaderboard_shows_two_volunteers_on_the_page) {
  auto v = leaderboard_view();
  auto page = render_page(v);
  auto table = element(page, "leaderboard", "</table>");
  auto rows = volunteer_rows(table);
  BOOST_REQUIRE(rows.size() == 2u);
  const auto& alice = v.leaderboard[0];
  const auto& bob = v.leaderboard[1];
  BOOST_TEST(rows[0].find("data-peer=\"" + alice.peer.to_hex() + "\" data-samples=\"3000\" data-online=\"yes\"")
             != std::string::npos, rows[0]);
  // Names escaped; a certificate's name unmarked.
  BOOST_TEST(rows[0].find(">Alice &quot;&lt;A&gt;&quot;</td>") != std::string::npos, rows[0]);
  BOOST_TEST(rows[0].find("(unverified)") == std::string::npos);
  BOOST_TEST(rows[0].find("<td>3000</td><td>75.0%</td><td>2.0</td><td>0 s ago</td>"
                          "<td>cuda:0 (NVIDIA &lt;H100&gt;)</td><td class=\"online\">yes</td>")
             != std::string::npos, rows[0]);
  BOOST_TEST(rows[1].find("data-peer=\"" + bob.peer.to_hex() + "\" data-samples=\"1000\" data-online=\"no\"")
             != std::string::npos, rows[1]);
  BOOST_TEST(rows[1].find(">bob\\ <span class=\"unverified\">(unverified)</span></td>") != std::string::npos,
             rows[1]);
  BOOST_TEST(rows[1].find("<td>1000</td><td>25.0%</td><td>0.5</td><td>5 min ago</td><td>cpu</td>"
                          "<td class=\"online\">no</td>")
             != std::string::npos, rows[1]);
  BOOST_TEST(page.find("2 volunteers contributed 4000 samples") != std::string::npos);
  // A name that is only the start of an id is not anyone's choice.
  v.leaderboard[1].name = bob.peer.to_hex().substr(0, id_name_digits);
  BOOST_TEST(render_page(v).find("(unverified)") == std::string::npos);
  // The page shows the top leaderboard_shown of many; no volunteer yet: an empty table.
  v.leaderboard.assign(leaderboard_shown + 20, alice);
  BOOST_TEST(volunteer_rows(render_page(v)).size() == leaderboard_shown);
  v.leaderboard.clear();
  page = render_page(v);
  BOOST_TEST(volunteer_rows(page).empty());
  BOOST_TEST(page.find("id=\"leaderboard\"") != std::string::npos);
  BOOST_TEST(page.find("No volunteer credited yet.") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_leaderboard_is_in_json_and_in_prometheus_escaped) {
  auto v = leaderboard_view();
  const auto& alice = v.leaderboard[0];
  const auto& bob = v.leaderboard[1];
  auto json = render_leaderboard_json(v);
  BOOST_TEST(json.rfind("{\"volunteers\":2,\"samples\":4000,\"untracked\":0,\"entries\":[{\"peer\":\"" +
                            alice.peer.to_hex() + "\",\"name\":\"Alice \\\"<A>\\\"\",\"name_verified\":true,"
                            "\"device\":\"cuda:0 (NVIDIA <H100>)\",\"samples\":3000,\"share\":0.75,"
                            "\"seconds_online\":7200,\"first_seen\":100.000,\"last_seen\":1003.000,\"online\":true}",
                        0) == 0u,
             json);
  BOOST_TEST(json.find("{\"peer\":\"" + bob.peer.to_hex() + "\",\"name\":\"bob\\\\\",\"name_verified\":false,") !=
             std::string::npos, json);
  BOOST_TEST(json.find("\"share\":0.25,") != std::string::npos);
  BOOST_TEST(json.find("\"online\":false}]}") != std::string::npos);
  auto history = render_json(v);
  BOOST_TEST(history.find("\"leaderboard\":" + json + ",\"published\":null}") != std::string::npos, history);
  BOOST_TEST(history.find("{\"epoch\":3,\"loss\":1.5,") != std::string::npos); // its fields are kept

  auto text = render_prometheus(v);
  std::string run = "run=\"run \\\"one\\\"\"";
  BOOST_TEST(text.find("# TYPE ttt_volunteer_samples_total counter\n") != std::string::npos, text);
  BOOST_TEST(text.find("ttt_volunteer_samples_total{" + run + ",peer=\"" + alice.peer.to_hex() +
                       "\",name=\"Alice \\\"<A>\\\"\"} 3000\n") != std::string::npos, text);
  BOOST_TEST(text.find("ttt_volunteer_samples_total{" + run + ",peer=\"" + bob.peer.to_hex() +
                       "\",name=\"bob\\\\\"} 1000\n") != std::string::npos, text);
  BOOST_TEST(text.find("ttt_volunteer_online{" + run + ",peer=\"" + alice.peer.to_hex() +
                       "\",name=\"Alice \\\"<A>\\\"\"} 1\n") != std::string::npos);
  BOOST_TEST(text.find("ttt_volunteer_online{" + run + ",peer=\"" + bob.peer.to_hex() + "\",name=\"bob\\\\\"} 0\n") !=
             std::string::npos);
  BOOST_TEST(text.find("ttt_volunteers{" + run + "} 2\n") != std::string::npos);
  BOOST_TEST(text.find("ttt_monitor_untracked_volunteers{" + run + "} 0\n") != std::string::npos);
  BOOST_TEST(typed_samples(text) == 5 + 1 + 3 * 2 + 2 + 2 * 2 + 1);
}

BOOST_AUTO_TEST_CASE(the_server_serves_the_leaderboard_the_monitor_sets) {
  auto v = leaderboard_view();
  auto board = std::make_shared<dashboard_board>();
  board->set_run("r1");
  board->set_peers(v.peers, {}, 0, v.now);
  leaderboard_totals totals;
  totals.volunteers = 2;
  totals.samples = 4000;
  totals.untracked = 3;
  board->set_leaderboard(v.leaderboard, totals);
  dashboard_server server;
  auto err = server.start("127.0.0.1", 0, board);
  BOOST_REQUIRE_MESSAGE(err.empty(), err);
  httplib::Client client("127.0.0.1", server.port());
  auto leaderboard = client.Get("/api/leaderboard");
  BOOST_REQUIRE(leaderboard);
  BOOST_TEST(leaderboard->status == 200);
  BOOST_TEST(leaderboard->get_header_value("Content-Type") == "application/json");
  BOOST_TEST(leaderboard->body == render_leaderboard_json(board->view()));
  BOOST_TEST(leaderboard->body.find("\"untracked\":3,") != std::string::npos);
  BOOST_TEST(leaderboard->body.find("\"name\":\"bob\\\\\"") != std::string::npos, leaderboard->body);
  auto page = client.Get("/");
  BOOST_REQUIRE(page);
  BOOST_TEST(volunteer_rows(page->body).size() == 2u);
  BOOST_TEST(page->body.find("3 live volunteers are not credited") != std::string::npos);
  auto metrics = client.Get("/metrics");
  BOOST_REQUIRE(metrics);
  BOOST_TEST(metrics->body.find("ttt_volunteer_samples_total{run=\"r1\",peer=\"" + v.leaderboard[0].peer.to_hex())
             != std::string::npos);
  // The board holds at most max_leaderboard_entries.
  board->set_leaderboard(std::vector<contribution>(max_leaderboard_entries + 5, v.leaderboard[1]), totals);
  BOOST_TEST(board->view().leaderboard.size() == max_leaderboard_entries);
  server.stop();
}

BOOST_AUTO_TEST_CASE(the_charts_cover_a_long_history_in_at_most_max_chart_points) {
  auto v = sample_view();
  v.history = long_history(300);
  auto page = render_page(v);
  BOOST_TEST(polyline_points(element(page, "chart-loss", "</svg>")).size() == 300u);
  auto peers = polyline_points(element(page, "chart-peers", "</svg>"));
  BOOST_REQUIRE(peers.size() == 300u);
  // Alive peers 1..3: the frame's bottom and top.
  BOOST_TEST(peers[0].second == 120.0); // epoch 1: 2 peers
  BOOST_TEST(peers[1].second == 30.0);  // epoch 2: 3
  BOOST_TEST(peers[2].second == 210.0); // epoch 3: 1
  BOOST_TEST(element(page, "chart-samples", "</svg>").find("<polyline") != std::string::npos);
  BOOST_TEST(element(page, "chart-eval", "</svg>").find("no eval score yet") != std::string::npos);

  // A long run: every chart at most max_chart_points, left to right across
  // the whole frame, and the page stays small.
  v.history = long_history(100'000);
  page = render_page(v);
  for (const char* id : {"chart-loss", "chart-samples", "chart-peers"}) {
    auto chart = element(page, id, "</svg>");
    auto points = polyline_points(chart);
    BOOST_TEST(points.size() == max_chart_points, id);
    for (size_t i = 1; i < points.size(); ++i)
      BOOST_TEST_REQUIRE(points[i - 1].first < points[i].first);
    BOOST_TEST(points.front().first < 61.0);
    BOOST_TEST(points.back().first > 624.0);
    BOOST_TEST(chart.find(">epoch 100000</text>") != std::string::npos);
  }
  // Averaged runs of 200 epochs: 1, 2 and 3 peers alike, so 2 throughout.
  for (const auto& [x, y] : polyline_points(element(page, "chart-peers", "</svg>")))
    BOOST_TEST_REQUIRE(std::abs(y - 120.0) < 1.0);
  BOOST_TEST(page.size() < 100'000u);
}

BOOST_AUTO_TEST_CASE(the_latest_samples_and_weights_are_on_the_page_and_in_json) {
  auto v = sample_view();
  BOOST_TEST(render_page(v).find("sample-picture") == std::string::npos);
  v.published = a_publication();
  auto page = render_page(v);
  auto picture = element(page, "sample-picture", ">");
  BOOST_TEST(picture.find("src=\"/samples/latest.png?epoch=10\"") != std::string::npos, picture);
  BOOST_TEST(page.find("Drawn at epoch 10") != std::string::npos);
  BOOST_TEST(page.find("<li>a red &lt;circle&gt;</li><li>two blue squares</li>") != std::string::npos, page);
  auto weights = element(page, "weights", "</a>");
  BOOST_TEST(weights.find("href=\"/weights/latest.safetensors\"") != std::string::npos, weights);
  BOOST_TEST(weights.find("epoch 12, 12.3 MB, BLAKE2b-256 <code>0123abcd</code>") != std::string::npos, weights);
  // The files' places on this node's disk are nobody's business.
  BOOST_TEST(page.find("/srv/ttt") == std::string::npos);
  auto json = render_json(v);
  BOOST_TEST(json.find("\"published\":{\"epoch\":12,\"state_digest\":\"5ca1ab1e\",\"time\":1002,"
                       "\"weights\":{\"url\":\"/weights/latest.safetensors\",\"epoch\":12,\"bytes\":12345678,"
                       "\"digest\":\"0123abcd\"},\"samples\":{\"url\":\"/samples/latest.png?epoch=10\",\"epoch\":10,"
                       "\"prompts\":[\"a red <circle>\",\"two blue squares\"]}}}")
             != std::string::npos, json);
  BOOST_TEST(json.find("/srv/ttt") == std::string::npos);
  // Weights without pictures yet.
  v.published->samples_path.clear();
  page = render_page(v);
  BOOST_TEST(page.find("sample-picture") == std::string::npos);
  BOOST_TEST(page.find("id=\"weights\"") != std::string::npos);
  BOOST_TEST(render_json(v).find("\"samples\":null}") != std::string::npos);

  // What the server serves once the publisher sets it.
  auto board = std::make_shared<dashboard_board>();
  board->set_run("r1");
  dashboard_server server;
  auto err = server.start("127.0.0.1", 0, board);
  BOOST_REQUIRE_MESSAGE(err.empty(), err);
  httplib::Client client("127.0.0.1", server.port());
  auto before = client.Get("/");
  BOOST_REQUIRE(before);
  BOOST_TEST(before->body.find("sample-picture") == std::string::npos);
  board->set_published(a_publication());
  auto after = client.Get("/");
  BOOST_REQUIRE(after);
  BOOST_TEST(after->body.find("<img id=\"sample-picture\" src=\"/samples/latest.png?epoch=10\"") != std::string::npos);
  auto history = client.Get("/api/history");
  BOOST_REQUIRE(history);
  BOOST_TEST(history->body.find("\"published\":{\"epoch\":12,") != std::string::npos);
  server.stop();
}

BOOST_AUTO_TEST_CASE(the_page_needs_nothing_from_elsewhere) {
  auto v = leaderboard_view();
  v.published = a_publication();
  v.history = long_history(50);
  auto page = render_page(v);
  BOOST_TEST(page.find("<script") == std::string::npos);
  BOOST_TEST(page.find("<link") == std::string::npos);
  BOOST_TEST(page.find("@import") == std::string::npos);
  BOOST_TEST(page.find("url(") == std::string::npos);
  BOOST_TEST(page.find("@font-face") == std::string::npos);
  // The only absolute URL is SVG's namespace, which nothing fetches.
  std::regex absolute("(src|href)=\"(https?:)?//");
  BOOST_TEST(!std::regex_search(page, absolute));
  BOOST_TEST(page.find("<meta http-equiv=\"refresh\" content=\"5\">") != std::string::npos);
  for (const char* id : {"chart-loss", "chart-eval", "chart-samples", "chart-peers", "leaderboard",
                         "sample-picture", "weights"})
    BOOST_TEST(count_of(page, std::string("id=\"") + id + "\"") == 1u, id);
}
