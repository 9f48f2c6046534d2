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
  // 35/s until a meets its credit (half the target, 500) 10 s later, then 15/s.
  BOOST_TEST(g.eta_next_epoch == 100 + 10 + (550.0 - 350.0) / 15.0, boost::test_tools::tolerance(1e-9));
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
  BOOST_TEST(g.epoch == 5u); // one past ours: loading state brings the rest
  BOOST_TEST(behind(me, g));
  BOOST_TEST(!ready_to_step(me, g, 1e9)); // never steps an epoch it is not in
}

BOOST_AUTO_TEST_CASE(one_liar_cannot_move_the_epoch_or_end_it) {
  progress_settings s;
  s.target_batch_size = 1000;
  auto me = report("me", 4, 100, 10, 50);
  std::vector<peer_progress> honest = {report("a", 4, 100, 10, 50), report("b", 4, 100, 10, 50)};
  // An epoch of 2^63 from one peer: the others vouch for nothing of it.
  auto with_liar = honest;
  with_liar.push_back(report("liar", uint64_t{1} << 63, 0, 0, 50));
  auto g = aggregate(me, with_liar, 50, s);
  BOOST_TEST(g.epoch == 4u);
  BOOST_TEST(!behind(me, g));
  // Two peers that stepped past us do move us, by one.
  auto stepped = honest;
  for (auto& r : stepped)
    r.epoch = 9;
  BOOST_TEST(aggregate(me, stepped, 50, s).epoch == 5u);
  // Once this peer has averaged with a and b, fresh identities vouch for nothing.
  seen_contributions seen{{node_id::of_key("a"), 100}, {node_id::of_key("b"), 100}};
  std::vector<peer_progress> sybils = honest;
  for (int i = 0; i < 8; ++i)
    sybils.push_back(report("sybil" + std::to_string(i), 5, 0, 0, 50));
  BOOST_TEST(aggregate(me, sybils, 50, s).epoch == 5u); // no history yet: any peer counts
  BOOST_TEST(aggregate(me, sybils, 50, s, seen).epoch == 4u);
  // 2^40 samples or 1e9 samples/s from one peer end no epoch: it is credited
  // with half the target, then with twice what it was seen to contribute.
  auto inflated = honest;
  inflated.push_back(report("liar", 4, uint64_t{1} << 40, 1e9, 50));
  g = aggregate(me, inflated, 50, s);
  BOOST_TEST(g.samples_accumulated == 300u + 500u);
  BOOST_TEST(!ready_to_step(me, g, 50));
  // The liar at its cap adds nothing more: the honest 30/s close the gap.
  BOOST_TEST(g.eta_next_epoch == 50 + 200.0 / 30.0, boost::test_tools::tolerance(1e-9));
  seen[node_id::of_key("liar")] = 50;
  g = aggregate(me, inflated, 50, s, seen);
  BOOST_TEST(g.samples_accumulated == 300u + 500u); // max(half the target, 2 x 50)
  // A report from the future is ignored; within the clock skew it counts.
  auto future = honest;
  future.push_back(report("liar", 4, 400, 0, 50 + 3600));
  BOOST_TEST(aggregate(me, future, 50, s).samples_accumulated == 300u);
  future.back().time = 50 + 10;
  BOOST_TEST(aggregate(me, future, 50, s).samples_accumulated == 700u);
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
