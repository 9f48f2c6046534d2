// The wire's admission rules and budgets as pure functions of the
// connections a node holds and of the time.
#define BOOST_TEST_MODULE wire_limits
#include <boost/test/unit_test.hpp>

#include "actors/wire/limits.hpp"

using namespace ttt::wire;

namespace {

wire_limits small() {
  wire_limits l;
  l.max_connections = 10;
  l.max_per_address = 3;
  l.max_unauthenticated = 4;
  return l;
}

connection_view conn(uint64_t key, std::string ip, bool established, double opened, bool outgoing = false) {
  return {key, std::move(ip), established, outgoing, opened};
}

} // namespace

BOOST_AUTO_TEST_CASE(a_newcomer_is_refused_past_the_cap_of_its_address) {
  std::vector<connection_view> now = {conn(1, "10.0.0.1", true, 1), conn(2, "10.0.0.1", false, 2),
                                      conn(3, "10.0.0.1", false, 3)};
  auto verdict = admit(now, "10.0.0.1", small());
  BOOST_TEST(!verdict.accept);
  BOOST_TEST(verdict.reason.find("too many from 10.0.0.1") != std::string::npos);
  BOOST_TEST(admit(now, "10.0.0.2", small()).accept);
}

BOOST_AUTO_TEST_CASE(a_flood_of_handshakes_evicts_its_own_oldest_not_the_others) {
  // Four incoming connections in their handshake (the cap): three from the
  // flooder, one honest, plus established and outgoing ones that never count.
  std::vector<connection_view> now = {conn(1, "10.0.0.9", false, 5), conn(2, "10.0.0.9", false, 1),
                                      conn(3, "10.0.0.9", false, 3), conn(4, "10.0.0.5", false, 0.5),
                                      conn(5, "10.0.0.5", true, 0.1), conn(6, "10.0.0.7", false, 0.2, true)};
  auto verdict = admit(now, "10.0.0.8", small());
  BOOST_TEST(verdict.accept);
  BOOST_REQUIRE(verdict.evict);
  BOOST_TEST(*verdict.evict == 2u); // the flooder's oldest, though the honest one is older still
  BOOST_TEST(verdict.reason.find("evicted") != std::string::npos);
  // Below the cap nobody is evicted.
  now.erase(now.begin());
  auto calm = admit(now, "10.0.0.8", small());
  BOOST_TEST(calm.accept);
  BOOST_TEST(!calm.evict);
  BOOST_TEST(calm.reason.empty());
}

BOOST_AUTO_TEST_CASE(at_the_total_cap_a_newcomer_is_refused_unless_an_eviction_makes_room) {
  auto limits = small();
  std::vector<connection_view> now;
  for (uint64_t k = 0; k < 10; ++k)
    now.push_back(conn(k, "10.0.1." + std::to_string(k), true, 0));
  auto full = admit(now, "10.0.2.1", limits);
  BOOST_TEST(!full.accept);
  BOOST_TEST(!full.evict);
  BOOST_TEST(full.reason.find("at the limit of 10") != std::string::npos);
  // Six established and four in their handshake: one is evicted, which
  // makes room.
  for (uint64_t k = 6; k < 10; ++k)
    now[k].established = false;
  auto room = admit(now, "10.0.2.1", limits);
  BOOST_TEST(room.accept);
  BOOST_TEST(room.evict.has_value());
}

BOOST_AUTO_TEST_CASE(a_budget_holds_one_second_and_pays_back_an_overdraft_over_time) {
  token_bucket bytes(1000, 100.0);
  BOOST_TEST(bytes.spend(600, 100.0));
  BOOST_TEST(bytes.spend(400, 100.0));
  BOOST_TEST(!bytes.spend(500, 100.0)); // 500 overdrawn
  BOOST_TEST(!bytes.available(100.4));  // 100 still owed
  BOOST_TEST(bytes.available(100.6));
  // Idle time never stores more than one second's worth.
  BOOST_TEST(bytes.spend(1000, 200.0));
  BOOST_TEST(!bytes.spend(1, 200.0));
  // A clock that steps back changes nothing.
  BOOST_TEST(!bytes.available(150.0));
}
