// The volunteers' contributions: the monitor's accounting (restarts, bounded
// claims, time online, capacity, names), its codec, and the bounds on the
// text a trainer's metrics record carries about its volunteer.
#define BOOST_TEST_MODULE contributions
#include <boost/test/unit_test.hpp>

#include "actors/common/capnp_io.hpp"
#include "actors/metrics/contributions.hpp"
#include "schema/progress.capnp.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

using namespace ttt;
using namespace ttt::metrics;

namespace ttt {
inline std::ostream& boost_test_print_type(std::ostream& os, const node_id& id) {
  return os << id.to_hex();
}
} // namespace ttt

namespace {

/// A peer id made of `seed`'s bytes (the accounting never checks keys).
node_id peer(uint32_t seed) {
  std::string raw(node_id::size, '\0');
  for (size_t i = 0; i < 4; ++i)
    raw[i] = static_cast<char>(seed >> (8 * i));
  raw[19] = 'p';
  return *node_id::from_bytes(raw);
}

/// A live report of `who` claiming `total` samples since its process started.
peer_metrics report(const node_id& who, uint64_t total, std::string chosen = "", std::string device = "cpu") {
  peer_metrics m;
  m.peer = who;
  m.step = 1;
  m.total_samples = total;
  m.volunteer_name = std::move(chosen);
  m.device_kind = std::move(device);
  return m;
}

contribution_rules rules(double max_per_second = 20000, double alive_window = 60) {
  contribution_rules r;
  r.max_samples_per_second = max_per_second;
  r.alive_window = alive_window;
  return r;
}

const contribution& entry(const contribution_ledger& ledger, const node_id& who) {
  auto it = ledger.volunteers.find(who);
  BOOST_REQUIRE(it != ledger.volunteers.end());
  return it->second;
}

/// A metrics record of `who` whose name and device are `name` and `device`,
/// whatever they are: what a liar can send, bypassing encode()'s cuts.
std::string raw_record(const node_id& who, const std::string& name, const std::string& device) {
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<schema::MetricsRecord>();
  root.setPeerId(capnp_io::as_data(who.raw()));
  root.setStep(1);
  root.setTime(1);
  root.setTotalSamples(7);
  root.setVolunteerName(capnp::Text::Reader(name.c_str(), name.size()));
  root.setDeviceKind(capnp::Text::Reader(device.c_str(), device.size()));
  return capnp_io::to_bytes(message);
}

} // namespace

BOOST_AUTO_TEST_CASE(a_restarted_volunteer_keeps_its_total_and_its_new_samples_count) {
  contribution_ledger ledger;
  auto a = peer(1);
  auto r = rules();
  credit_poll(ledger, {report(a, 1000)}, 100, r);
  BOOST_TEST(entry(ledger, a).samples == 1000u);
  credit_poll(ledger, {report(a, 1500)}, 105, r);
  BOOST_TEST(entry(ledger, a).samples == 1500u);
  // The same report seen again counts nothing.
  credit_poll(ledger, {report(a, 1500)}, 110, r);
  BOOST_TEST(entry(ledger, a).samples == 1500u);
  // Restarted, the trainer counts from 0 again: its whole new total counts.
  credit_poll(ledger, {report(a, 200)}, 115, r);
  BOOST_TEST(entry(ledger, a).samples == 1700u);
  credit_poll(ledger, {report(a, 700)}, 120, r);
  BOOST_TEST(entry(ledger, a).samples == 1700u + 500u);
  BOOST_TEST(entry(ledger, a).last_total == 700u);
  // The monitor restarts too: the entry comes back from its bytes and goes on
  // from the same total, so the report it saw already counts nothing again.
  contribution_ledger restarted;
  auto back = decode_contribution(encode(entry(ledger, a)));
  BOOST_REQUIRE(back);
  restarted.volunteers.emplace(a, *back);
  credit_poll(restarted, {report(a, 700)}, 130, r);
  BOOST_TEST(entry(restarted, a).samples == 2200u);
  credit_poll(restarted, {report(a, 900)}, 135, r);
  BOOST_TEST(entry(restarted, a).samples == 2400u);
  BOOST_TEST(entry(restarted, a).first_seen == 100.0);
}

BOOST_AUTO_TEST_CASE(a_lying_total_is_credited_no_faster_than_the_monitor_allows) {
  contribution_ledger ledger;
  auto liar = peer(1), honest = peer(2), late = peer(3);
  auto r = rules(100, 60);
  // A first sighting: at most 100 samples/s over one alive window.
  credit_poll(ledger, {report(liar, 1'000'000'000), report(honest, 400), report(late, 0)}, 1000, r);
  BOOST_TEST(entry(ledger, liar).samples == 6000u);
  BOOST_TEST(entry(ledger, honest).samples == 400u);
  BOOST_TEST(entry(ledger, late).samples == 0u);
  // Ten seconds later: at most 1000 more, whatever the claim.
  credit_poll(ledger, {report(liar, 2'000'000'000), report(honest, 900), report(late, 1'000'000)}, 1010, r);
  BOOST_TEST(entry(ledger, liar).samples == 7000u);
  BOOST_TEST(entry(ledger, honest).samples == 900u);
  // The bound runs from the first sighting, even one that claimed nothing.
  BOOST_TEST(entry(ledger, late).samples == 1000u);
  // What the bound cut is not banked: the same claim later counts nothing.
  credit_poll(ledger, {report(liar, 2'000'000'000)}, 2000, r);
  BOOST_TEST(entry(ledger, liar).samples == 7000u);
  // A claim after a long silence is bounded by the whole silence.
  credit_poll(ledger, {report(liar, 3'000'000'000)}, 3000, r);
  BOOST_TEST(entry(ledger, liar).samples == 7000u + 100u * 1990u);
  // Faking restarts (a total that falls and climbs back) is bounded alike.
  for (int poll = 1; poll <= 10; ++poll)
    credit_poll(ledger, {report(liar, poll % 2 ? 5 : 3'000'000'000)}, 3000 + poll, r);
  BOOST_TEST(entry(ledger, liar).samples <= 7000u + 100u * 2000u);
  // The clock set back allows nothing, then or when it catches up again.
  auto before = entry(ledger, liar).samples;
  credit_poll(ledger, {report(liar, 4'000'000'000)}, 10, r);
  BOOST_TEST(entry(ledger, liar).samples == before);
  credit_poll(ledger, {report(liar, 5'000'000'000)}, 3011, r);
  BOOST_TEST(entry(ledger, liar).samples == before + 100u);
  // Sums saturate instead of wrapping.
  contribution_ledger huge;
  auto unbounded = rules(1e300, 60);
  credit_poll(huge, {report(liar, std::numeric_limits<uint64_t>::max())}, 1, unbounded);
  credit_poll(huge, {report(liar, 5)}, 2, unbounded);
  BOOST_TEST(entry(huge, liar).samples == std::numeric_limits<uint64_t>::max());
  BOOST_TEST(totals_of(huge).samples == std::numeric_limits<uint64_t>::max());
}

BOOST_AUTO_TEST_CASE(time_online_grows_between_consecutive_polls_that_see_the_volunteer_alive) {
  contribution_ledger ledger;
  auto a = peer(1), b = peer(2);
  auto r = rules(20000, 60);
  credit_poll(ledger, {report(a, 0)}, 100, r);
  BOOST_TEST(entry(ledger, a).seconds_online == 0.0);
  credit_poll(ledger, {report(a, 0)}, 105, r);
  credit_poll(ledger, {report(a, 0), report(b, 0)}, 110, r);
  BOOST_TEST(entry(ledger, a).seconds_online == 10.0);
  BOOST_TEST(entry(ledger, b).seconds_online == 0.0);
  // A poll without it: the time until the next is not counted.
  credit_poll(ledger, {report(b, 0)}, 115, r);
  credit_poll(ledger, {report(a, 0), report(b, 0)}, 120, r);
  BOOST_TEST(entry(ledger, a).seconds_online == 10.0);
  BOOST_TEST(entry(ledger, b).seconds_online == 10.0);
  credit_poll(ledger, {report(a, 0)}, 125, r);
  BOOST_TEST(entry(ledger, a).seconds_online == 15.0);
  BOOST_TEST(entry(ledger, a).last_seen == 125.0);
  BOOST_TEST(entry(ledger, b).last_seen == 120.0);
  // A gap longer than a report lives counts one alive window.
  credit_poll(ledger, {report(a, 0)}, 1125, r);
  BOOST_TEST(entry(ledger, a).seconds_online == 75.0);
  // A restarted monitor does not know what happened before its first poll.
  contribution_ledger restarted;
  restarted.volunteers = ledger.volunteers;
  credit_poll(restarted, {report(a, 0)}, 1130, r);
  BOOST_TEST(entry(restarted, a).seconds_online == 75.0);
  credit_poll(restarted, {report(a, 0)}, 1135, r);
  BOOST_TEST(entry(restarted, a).seconds_online == 80.0);
}

BOOST_AUTO_TEST_CASE(the_ledger_keeps_at_most_max_volunteers_and_counts_those_left_out) {
  contribution_ledger ledger;
  auto r = rules();
  std::vector<peer_metrics> crowd;
  for (uint32_t i = 0; i < max_volunteers; ++i)
    crowd.push_back(report(peer(i), 10));
  auto changed = credit_poll(ledger, crowd, 100, r);
  BOOST_TEST(changed.size() == max_volunteers);
  BOOST_TEST(ledger.volunteers.size() == max_volunteers);
  BOOST_TEST(ledger.untracked == 0u);
  // Full: three newcomers are not credited and are counted; a known
  // volunteer still is.
  changed = credit_poll(ledger, {report(peer(max_volunteers), 10), report(peer(7), 30),
                                 report(peer(max_volunteers + 1), 10), report(peer(max_volunteers + 2), 10)},
                        105, r);
  BOOST_TEST(ledger.volunteers.size() == max_volunteers);
  BOOST_TEST(ledger.untracked == 3u);
  BOOST_TEST(changed.size() == 1u);
  BOOST_TEST(entry(ledger, peer(7)).samples == 30u);
  BOOST_TEST(!ledger.volunteers.count(peer(max_volunteers)));
  auto totals = totals_of(ledger);
  BOOST_TEST(totals.volunteers == max_volunteers);
  BOOST_TEST(totals.samples == 10u * max_volunteers + 20u);
  BOOST_TEST(totals.untracked == 3u);
  // The count is of the latest poll.
  credit_poll(ledger, {report(peer(7), 30)}, 110, r);
  BOOST_TEST(ledger.untracked == 0u);
  // A smaller bound holds the same way.
  contribution_ledger small;
  auto two = rules();
  two.max_volunteers = 2;
  credit_poll(small, {report(peer(1), 1), report(peer(2), 1), report(peer(3), 1)}, 1, two);
  BOOST_TEST(small.volunteers.size() == 2u);
  BOOST_TEST(small.untracked == 1u);
}

BOOST_AUTO_TEST_CASE(a_certificates_name_wins_then_the_chosen_one_then_the_id) {
  contribution_ledger ledger;
  auto certified = peer(1), chosen = peer(2), anonymous = peer(3);
  auto with_certificate = report(certified, 5, "Mallory");
  with_certificate.name = "Alice";
  credit_poll(ledger, {with_certificate, report(chosen, 5, "bob the builder"), report(anonymous, 5)}, 1, rules());
  BOOST_TEST(entry(ledger, certified).name == "Alice");
  BOOST_TEST(entry(ledger, certified).name_verified);
  BOOST_TEST(!chosen_name(entry(ledger, certified)));
  BOOST_TEST(entry(ledger, chosen).name == "bob the builder");
  BOOST_TEST(!entry(ledger, chosen).name_verified);
  BOOST_TEST(chosen_name(entry(ledger, chosen)));
  BOOST_TEST(entry(ledger, anonymous).name == anonymous.to_hex().substr(0, 12));
  BOOST_TEST(!chosen_name(entry(ledger, anonymous)));
  BOOST_TEST(entry(ledger, anonymous).device_kind == "cpu");
  // The latest report decides: without its certificate the name is its own
  // choice again, and shown so.
  credit_poll(ledger, {report(certified, 5, "Mallory", "cuda:0 (NVIDIA H100)")}, 2, rules());
  BOOST_TEST(entry(ledger, certified).name == "Mallory");
  BOOST_TEST(chosen_name(entry(ledger, certified)));
  BOOST_TEST(entry(ledger, certified).device_kind == "cuda:0 (NVIDIA H100)");
  // A certificate's name is shown as printable text within the bound too.
  auto odd = report(certified, 5);
  odd.name = "Al\nice" + std::string(100, 'x');
  credit_poll(ledger, {odd}, 3, rules());
  BOOST_TEST(entry(ledger, certified).name == "Alice" + std::string(max_volunteer_name_bytes - 5, 'x'));
}

BOOST_AUTO_TEST_CASE(the_leaderboard_order_is_most_samples_first_then_by_id) {
  contribution_ledger ledger;
  credit_poll(ledger, {report(peer(1), 10), report(peer(2), 30), report(peer(3), 30), report(peer(4), 20)}, 1,
              rules());
  auto top = top_contributions(ledger, 3);
  BOOST_REQUIRE(top.size() == 3u);
  BOOST_TEST(top[0].samples == 30u);
  BOOST_TEST(top[1].samples == 30u);
  BOOST_TEST(top[0].peer < top[1].peer);
  BOOST_TEST(top[2].peer == peer(4));
  BOOST_TEST(top_contributions(ledger, 100).size() == 4u);
  BOOST_TEST(top_contributions(contribution_ledger{}, 5).empty());
}

BOOST_AUTO_TEST_CASE(a_contribution_round_trips_and_hostile_bytes_are_refused) {
  contribution c;
  c.peer = peer(9);
  c.name = "Zoë";
  c.name_verified = true;
  c.device_kind = "cuda:1 (NVIDIA H200)";
  c.samples = 123456789012;
  c.last_total = 42;
  c.seconds_online = 3600.5;
  c.first_seen = 1000;
  c.last_seen = 4600;
  c.last_credited = 4590;
  auto back = decode_contribution(encode(c));
  BOOST_REQUIRE(back);
  BOOST_TEST(back->peer == c.peer);
  BOOST_TEST(back->name == "Zoë");
  BOOST_TEST(back->name_verified);
  BOOST_TEST(back->device_kind == c.device_kind);
  BOOST_TEST(back->samples == c.samples);
  BOOST_TEST(back->last_total == 42u);
  BOOST_TEST(back->seconds_online == 3600.5);
  BOOST_TEST(back->first_seen == 1000.0);
  BOOST_TEST(back->last_seen == 4600.0);
  BOOST_TEST(back->last_credited == 4590.0);
  // What a broken or tampered database could hold.
  auto bad_time = c;
  bad_time.seconds_online = std::numeric_limits<double>::quiet_NaN();
  BOOST_TEST(!decode_contribution(encode(bad_time)));
  bad_time.seconds_online = -1;
  BOOST_TEST(!decode_contribution(encode(bad_time)));
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<schema::Contribution>();
  root.setPeerId(capnp_io::as_data("short"));
  BOOST_TEST(!decode_contribution(capnp_io::to_bytes(message)));
  root.setPeerId(capnp_io::as_data(c.peer.raw()));
  BOOST_TEST(static_cast<bool>(decode_contribution(capnp_io::to_bytes(message))));
  std::string long_name(max_volunteer_name_bytes + 1, 'n');
  root.setName(capnp::Text::Reader(long_name.c_str(), long_name.size()));
  BOOST_TEST(!decode_contribution(capnp_io::to_bytes(message)));
  BOOST_TEST(!decode_contribution("garbage!"));
  BOOST_TEST(!decode_contribution(std::string(64 * 1024, '\0')));
}

BOOST_AUTO_TEST_CASE(printable_text_is_bounded_well_formed_utf8_without_controls) {
  BOOST_TEST(printable_text("", 64));
  BOOST_TEST(printable_text("Zoë 山田 🚀", 64));
  BOOST_TEST(printable_text(std::string(64, 'x'), 64));
  BOOST_TEST(!printable_text(std::string(65, 'x'), 64));
  for (const char* hostile : {"a\nb", "a\tb", "\x1b[31mred", "del\x7f", "c1\xc2\x85", "bad\xff", "cut\xc3",
                              "overlong\xc0\xaf", "overlong\xe0\x80\xaf", "surrogate\xed\xa0\x80",
                              "past\xf4\x90\x80\x80", "lone\x80"})
    BOOST_TEST(!printable_text(hostile, 64), hostile);
  BOOST_TEST(!printable_text(std::string("nul\0byte", 8), 64));
  // Cutting keeps whole characters and drops what a reader refuses.
  BOOST_TEST(cut_to_printable("a\nb\xff" "c", 64) == "abc");
  std::string accents;
  for (int i = 0; i < 40; ++i)
    accents += "é"; // two bytes each
  BOOST_TEST(cut_to_printable(accents, 63).size() == 62u);
  BOOST_TEST(printable_text(cut_to_printable(accents, 63), 63));
}

BOOST_AUTO_TEST_CASE(metrics_records_carry_the_volunteer_and_refuse_overlong_or_control_text) {
  auto who = peer(5);
  auto m = report(who, 98765, "Zoë", "cuda:0 (NVIDIA H100)");
  m.loss = 3.5;
  m.mini_steps = 2;
  m.time = 10;
  auto back = decode_metrics(encode(m));
  BOOST_REQUIRE(back);
  BOOST_TEST(back->total_samples == 98765u);
  BOOST_TEST(back->volunteer_name == "Zoë");
  BOOST_TEST(back->device_kind == "cuda:0 (NVIDIA H100)");
  // The writer cuts what a reader would refuse; the rest of its record counts.
  m.volunteer_name = "evil\n" + std::string(100, 'n');
  m.device_kind = "cuda:0 (NVIDIA H200) (micro-steps replayed as CUDA graphs)";
  back = decode_metrics(encode(m));
  BOOST_REQUIRE(back);
  BOOST_TEST(back->volunteer_name == "evil" + std::string(max_volunteer_name_bytes - 4, 'n'));
  BOOST_TEST(back->device_kind == m.device_kind.substr(0, max_device_kind_bytes));
  BOOST_TEST(back->loss == 3.5);
  // A reader refuses what no honest writer sends.
  BOOST_TEST(static_cast<bool>(decode_metrics(raw_record(who, std::string(64, 'n'), std::string(48, 'd')))));
  BOOST_TEST(!decode_metrics(raw_record(who, std::string(65, 'n'), "cpu")));
  BOOST_TEST(!decode_metrics(raw_record(who, "ok", std::string(49, 'd'))));
  for (const auto& hostile :
       std::vector<std::string>{"new\nline", "esc\x1b[2J", "bad\xff", "c1\xc2\x9b", std::string("nul\0", 4)}) {
    BOOST_TEST(!decode_metrics(raw_record(who, hostile, "cpu")), hostile);
    BOOST_TEST(!decode_metrics(raw_record(who, "ok", hostile)), hostile);
  }
  // A trainer from before these fields: no total, no name, no device.
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<schema::MetricsRecord>();
  root.setPeerId(capnp_io::as_data(who.raw()));
  root.setStep(3);
  back = decode_metrics(capnp_io::to_bytes(message));
  BOOST_REQUIRE(back);
  BOOST_TEST(back->total_samples == 0u);
  BOOST_TEST(back->volunteer_name.empty());
  BOOST_TEST(back->device_kind.empty());
}
