// The collaborative optimizer's progress tracking: global epoch, extrapolated
// samples, readiness, staleness, and the progress record's codec.
#define BOOST_TEST_MODULE progress
#include <boost/test/unit_test.hpp>

#include "actors/trainer/progress.hpp"

#include <cmath>

using namespace ttt;
using namespace ttt::trainer;

namespace {
peer_progress report(const std::string& who, uint64_t epoch, uint64_t samples, double rate,
                     double time, bool client = false) {
  return peer_progress{node_id::of_key(who), epoch, samples, rate, time, client};
}
} // namespace

BOOST_AUTO_TEST_CASE(samples_of_the_global_epoch_add_up_and_extrapolate) {
  progress_settings s;
  s.target_batch_size = 1000;
  auto me = report("me", 3, 100, 10, 100);
  std::vector<peer_progress> others = {report("a", 3, 200, 20, 95), report("b", 3, 50, 5, 100, true),
                                       report("late", 2, 900, 50, 100)};
  auto g = aggregate(me, others, 100, s);
  BOOST_TEST(g.epoch == 3u);
  BOOST_TEST(g.num_peers == 3u); // "late" is in an older epoch: not counted
  BOOST_TEST(g.num_clients == 1u);
  // a reported 5 s ago at 20/s: 200 + 100 extrapolated.
  BOOST_TEST(g.samples_accumulated == 100u + 300u + 50u);
  BOOST_TEST(g.samples_per_second == 35.0);
  BOOST_TEST(g.eta_next_epoch == 100 + (1000.0 - 450.0) / 35.0, boost::test_tools::tolerance(1e-9));
  BOOST_TEST(!ready_to_step(me, g, 100));
  BOOST_TEST(ready_to_step(me, g, g.eta_next_epoch));
  BOOST_TEST(g.next_fetch_time > 100);
  BOOST_TEST(g.next_fetch_time <= 100 + s.max_refresh_period);
}

BOOST_AUTO_TEST_CASE(reaching_the_target_makes_every_peer_ready) {
  progress_settings s;
  s.target_batch_size = 300;
  auto me = report("me", 7, 150, 0, 10);
  auto g = aggregate(me, {report("x", 7, 150, 0, 10)}, 10, s);
  BOOST_TEST(g.samples_accumulated == 300u);
  BOOST_TEST(ready_to_step(me, g, 10));
}

BOOST_AUTO_TEST_CASE(a_peer_behind_the_global_epoch_must_catch_up) {
  progress_settings s;
  auto me = report("me", 4, 999, 10, 50);
  auto g = aggregate(me, {report("a", 6, 0, 10, 50)}, 50, s);
  BOOST_TEST(g.epoch == 6u);
  BOOST_TEST(behind(me, g));
  BOOST_TEST(!ready_to_step(me, g, 1e9)); // never steps an epoch it is not in
}

BOOST_AUTO_TEST_CASE(stale_reports_and_our_own_echo_are_not_counted) {
  progress_settings s;
  s.report_lifetime = 30;
  auto me = report("me", 1, 10, 1, 100);
  auto echo = me;
  echo.samples_accumulated = 5; // our own older report, read back from the DHT
  auto g = aggregate(me, {echo, report("dead", 1, 5000, 100, 10)}, 100, s);
  BOOST_TEST(g.num_peers == 1u);
  BOOST_TEST(g.samples_accumulated == 10u);
}

BOOST_AUTO_TEST_CASE(progress_records_round_trip_and_bad_ones_are_refused) {
  auto p = report("me", 12, 345, 6.5, 1700000000.25, true);
  auto back = decode_progress(encode(p));
  BOOST_REQUIRE(back);
  BOOST_TEST((back->peer == p.peer));
  BOOST_TEST(back->epoch == 12u);
  BOOST_TEST(back->samples_per_second == 6.5);
  BOOST_TEST(back->client_mode);
  BOOST_TEST(!decode_progress("garbage!"));
  auto nan_rate = p;
  nan_rate.samples_per_second = std::nan("");
  BOOST_TEST(!decode_progress(encode(nan_rate)));
}
