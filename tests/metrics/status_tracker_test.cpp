#define BOOST_TEST_MODULE status_tracker
#include <boost/test/unit_test.hpp>

#include "actors/metrics/volunteer_status.hpp"

using namespace ttt;
using namespace ttt::metrics;

namespace {

peer_metrics report(const node_id& peer, uint64_t step, uint64_t total, double time, double loss = 2.0) {
  peer_metrics m;
  m.peer = peer;
  m.step = step;
  m.total_samples = total;
  m.time = time;
  m.loss = loss;
  m.mini_steps = 1;
  m.samples_accumulated = 64;
  return m;
}

} // namespace

BOOST_AUTO_TEST_CASE(says_the_swarm_and_this_volunteers_share_of_the_last_hour) {
  auto me = node_id::of_key("me"), other = node_id::of_key("other");
  status_tracker t(me, 3600, 60);
  t.observe(0, 0, 0, 0, {report(me, 1, 0, 0), report(other, 1, 0, 0)});
  auto line = t.observe(60, 1000, 5, 6e6, {report(me, 5, 900, 59, 1.5), report(other, 5, 3000, 59, 1.5)});
  // 1000 of 4000 samples (its own count, not its lagging report) in a minute.
  BOOST_TEST(t.share() == 0.25);
  BOOST_TEST(line.find("swarm at epoch 5, loss 1.5000, 2 peers") != std::string::npos, line);
  BOOST_TEST(line.find("you: epoch 5, 1000 samples, 25% of the swarm's in the last 1 min") != std::string::npos, line);
  BOOST_TEST(line.find("sending 0.10 MB/s") != std::string::npos, line);
}

BOOST_AUTO_TEST_CASE(the_share_forgets_what_is_older_than_the_window) {
  auto me = node_id::of_key("me"), other = node_id::of_key("other");
  status_tracker t(me, 3600, 60);
  // The first hour: this volunteer computes everything.
  t.observe(0, 0, 0, 0, {report(other, 1, 0, 0)});
  t.observe(3600, 10000, 10, 0, {report(other, 10, 0, 3600)});
  BOOST_TEST(t.share() == 1.0);
  // The second hour: the other trainer computes as much as this one.
  t.observe(7200, 20000, 20, 0, {report(other, 20, 10000, 7200)});
  BOOST_TEST(t.share() == 0.5);
}

BOOST_AUTO_TEST_CASE(a_restarted_trainer_counts_from_zero_and_a_newcomer_from_when_it_came) {
  auto me = node_id::of_key("me"), other = node_id::of_key("other"), late = node_id::of_key("late");
  status_tracker t(me, 3600, 60);
  t.observe(0, 100, 1, 0, {report(other, 1, 5000, 0)});
  // `other` restarted (its total fell to 300); `late` arrives with a big
  // total from an earlier session: only its growth from now on counts.
  t.observe(60, 400, 2, 0, {report(other, 2, 300, 60), report(late, 2, 1000000, 60)});
  BOOST_TEST(t.share() == 0.5); // 300 of 600
  t.observe(120, 700, 3, 0, {report(other, 3, 600, 120), report(late, 3, 1000300, 120)});
  BOOST_TEST(t.share() == 0.6 / 1.5, boost::test_tools::tolerance(1e-9)); // 600 of 1500
}

BOOST_AUTO_TEST_CASE(before_any_report_it_says_so) {
  status_tracker t(node_id::of_key("me"));
  auto line = t.observe(0, 0, 0, 0, {});
  BOOST_TEST(line.find("no trainer has reported") != std::string::npos, line);
  // The first line has no share or speed to tell yet.
  BOOST_TEST(line.find("you: epoch 0, 0 samples") != std::string::npos, line);
  BOOST_TEST(line.find("sending") == std::string::npos, line);
  BOOST_TEST(t.share() == 0.0);
}
