// What a trainer reports of the peers its rounds clipped: the latest counts
// of each, the recent ones only, dropped peers kept, a bounded list.
#define BOOST_TEST_MODULE clip_reports
#include <boost/test/unit_test.hpp>

#include "actors/common/identity.hpp"
#include "actors/trainer/clip_reports.hpp"
#include "actors/trainer/records.hpp"
#include "tests/dht/printing.hpp"

using namespace ttt;
using namespace ttt::trainer;
using metrics::clipped_peer;

namespace {

node_id fresh_id() {
  return identity::generate().id();
}

} // namespace

BOOST_AUTO_TEST_CASE(the_latest_counts_of_clipped_peers_most_clipped_first) {
  clip_reports reports;
  auto liar = fresh_id(), unlucky = fresh_id(), honest = fresh_id();
  reports.record({{liar, 1, 1, false}, {unlucky, 1, 1, false}, {honest, 0, 1, false}});
  reports.record({{liar, 2, 2, false}, {unlucky, 1, 2, false}, {honest, 0, 2, false}});
  auto out = reports.report();
  BOOST_REQUIRE(out.size() == 2u); // never clipped: nothing to report
  BOOST_TEST(out[0].peer == liar);
  BOOST_TEST(out[0].clipped_rounds == 2u);
  BOOST_TEST(out[0].rounds == 2u);
  BOOST_TEST(out[1].peer == unlucky);
  // Its window no longer holds a clipped round: it leaves the report.
  reports.record({{liar, 3, 3, false}, {unlucky, 0, 8, false}});
  out = reports.report();
  BOOST_REQUIRE(out.size() == 1u);
  BOOST_TEST(out[0].peer == liar);
}

BOOST_AUTO_TEST_CASE(a_peer_absent_for_long_is_forgotten_unless_dropped) {
  clip_reports reports(clip_report_policy{64, 2});
  auto left = fresh_id(), dropped = fresh_id();
  reports.record({{left, 3, 8, false}, {dropped, 6, 8, true}});
  // Dropped peers are grouped with no more: their rounds go on without them.
  reports.record({});
  reports.record({});
  BOOST_TEST(reports.report().size() == 2u);
  reports.record({});
  auto out = reports.report();
  BOOST_REQUIRE(out.size() == 1u);
  BOOST_TEST(out[0].peer == dropped);
  BOOST_TEST(out[0].dropped);
}

BOOST_AUTO_TEST_CASE(the_report_and_the_memory_are_bounded) {
  clip_reports reports(clip_report_policy{20, 16});
  std::vector<clipped_peer> round;
  for (int i = 0; i < 100; ++i)
    round.push_back({fresh_id(), 1, 8, false});
  auto dropped = fresh_id();
  round.push_back({dropped, 6, 8, true});
  reports.record(round);
  auto all = reports.report(1000);
  BOOST_TEST(all.size() == 20u);
  BOOST_TEST(all[0].peer == dropped); // kept over peers merely clipped
  BOOST_TEST(reports.report().size() == metrics::max_clipped_reports);
}

BOOST_AUTO_TEST_CASE(the_signed_metrics_record_carries_the_report) {
  clip_reports reports;
  auto liar = fresh_id();
  reports.record({{liar, 5, 8, true}});
  auto self = identity::generate();
  metrics::peer_metrics m;
  m.peer = self.id();
  m.step = 4;
  m.clipped = reports.report();
  auto rec = metrics_record(self, "run1", m, 1000);
  BOOST_TEST(rec.key == "metrics.run1");
  auto back = metrics::decode_metrics(rec.value);
  BOOST_REQUIRE(back);
  BOOST_REQUIRE(back->clipped.size() == 1u);
  BOOST_TEST(back->clipped[0].peer == liar);
  BOOST_TEST(back->clipped[0].clipped_rounds == 5u);
  BOOST_TEST(back->clipped[0].rounds == 8u);
  BOOST_TEST(back->clipped[0].dropped);
}
