#define BOOST_TEST_MODULE node_metrics
#include <boost/test/unit_test.hpp>

#include "actors/common/node_metrics.hpp"

using ttt::node_metrics;
using ttt::prometheus_label;

BOOST_AUTO_TEST_CASE(counters_and_gauges_render_with_the_nodes_labels) {
  node_metrics m(prometheus_label("peer", "ab12") + "," + prometheus_label("run", "demo"));
  m.add("ttt_node_samples_total", 96);
  m.add("ttt_node_samples_total", 32);
  m.set("ttt_node_loss", 1.5);
  m.add("ttt_node_dht_requests_total", 1, prometheus_label("kind", "store"));
  m.add("ttt_node_dht_requests_total", 2, prometheus_label("kind", "find"));
  BOOST_TEST(m.value("ttt_node_samples_total") == 128.0);
  BOOST_TEST(m.value("ttt_node_dht_requests_total", prometheus_label("kind", "find")) == 2.0);
  auto text = m.render();
  BOOST_TEST(text.find("# TYPE ttt_node_samples_total counter\n") != std::string::npos);
  BOOST_TEST(text.find("# TYPE ttt_node_loss gauge\n") != std::string::npos);
  BOOST_TEST(text.find("ttt_node_samples_total{peer=\"ab12\",run=\"demo\"} 128\n") != std::string::npos, text);
  BOOST_TEST(text.find("ttt_node_loss{peer=\"ab12\",run=\"demo\"} 1.5\n") != std::string::npos, text);
  BOOST_TEST(text.find("ttt_node_dht_requests_total{peer=\"ab12\",run=\"demo\",kind=\"store\"} 1\n") !=
             std::string::npos, text);
  // A counter never touched is there as 0, so that rate() has a start.
  BOOST_TEST(text.find("ttt_node_epochs_total{peer=\"ab12\",run=\"demo\"} 0\n") != std::string::npos, text);
}

BOOST_AUTO_TEST_CASE(unknown_names_wrong_kinds_and_negative_steps_change_nothing) {
  node_metrics m;
  m.add("ttt_node_made_up_total", 5);
  m.set("ttt_node_samples_total", 1e9);  // a counter is only added to
  m.add("ttt_node_loss", 3);             // a gauge is only set
  m.add("ttt_node_samples_total", -10);  // counters never go down
  BOOST_TEST(m.value("ttt_node_made_up_total") == 0.0);
  BOOST_TEST(m.value("ttt_node_samples_total") == 0.0);
  BOOST_TEST(m.value("ttt_node_loss") == 0.0);
  BOOST_TEST(m.render().find("made_up") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(label_values_are_escaped) {
  BOOST_TEST(prometheus_label("name", "a\"b\\c\nd") == "name=\"a\\\"b\\\\c\\nd\"");
}
