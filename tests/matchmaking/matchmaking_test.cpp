// Matchmaking through the DHT: the pure decision rule, and matchmakers
// driving real dht_node actors on a simulated network (CAF test coordinator).
#define BOOST_TEST_MODULE matchmaking
#include <boost/test/unit_test.hpp>

#include "actors/averager/matchmaker.hpp"
#include "actors/averager/state_advert.hpp"
#include "tests/dht/printing.hpp"
#include "tests/dht/sim_network.hpp"

using namespace ttt;
using namespace ttt::averaging;
using ttt::test::sim_network;

namespace {

declaration make_decl(const identity& who, double deadline, peer_mode mode = peer_mode::node) {
  declaration d;
  d.peer = who.id();
  d.public_key = who.public_key();
  d.host = mode == peer_mode::client ? "" : "10.0.0.1";
  d.port = mode == peer_mode::client ? 0 : 7;
  d.mode = mode;
  d.deadline = deadline;
  return d;
}

/// The error of `r`, for failure messages (Boost builds them even on success).
std::string why(const caf::expected<announcement>& r) {
  return r ? std::string("ok") : describe(r.error());
}

struct swarm {
  sim_network net;
  std::vector<dht::dht_actor> nodes;
  std::vector<identity> ids;
  std::vector<matchmaker_actor> matchmakers;
  std::vector<std::shared_ptr<std::optional<caf::expected<announcement>>>> results;

  explicit swarm(size_t dht_nodes) {
    for (size_t i = 0; i < dht_nodes; ++i) {
      nodes.push_back(net.spawn(net.config(static_cast<uint16_t>(i + 1), 500 + i)));
      if (i > 0)
        net.bootstrap(nodes.back(), {"10.0.0.1:1"});
    }
  }

  /// A peer with its own client-mode DHT node and matchmaker, asking for a group now.
  void join(const std::string& round, peer_mode mode, matchmaking_settings settings) {
    auto cfg = net.config(0, 9000 + matchmakers.size());
    auto node = net.spawn(cfg);
    net.bootstrap(node, {"10.0.0.1:1"});
    matchmaker_config mc;
    mc.dht = node;
    mc.self = cfg.self;
    mc.clock = [this] { return net.now; };
    ids.push_back(cfg.self);
    matchmakers.push_back(spawn_matchmaker(net.system(), mc));
    match_request req;
    req.round = round;
    req.self = make_decl(cfg.self, 0, mode);
    req.settings = settings;
    auto out = std::make_shared<std::optional<caf::expected<announcement>>>();
    results.push_back(out);
    auto mm = matchmakers.back();
    net.system().spawn([=](caf::event_based_actor* self) {
      self->request(mm, caf::infinite, avg_match_atom_v, req)
        .then([=](announcement& a) { *out = std::move(a); },
              [=](caf::error& e) { *out = std::move(e); });
    });
    net.settle();
  }

  /// Advances simulated time by `seconds` in steps of 50 ms.
  void advance(double seconds) {
    for (double t = 0; t < seconds; t += 0.05) {
      net.now += 0.05;
      net.sched().clock().advance_time(std::chrono::milliseconds(50));
      net.settle();
    }
  }
};

} // namespace

BOOST_AUTO_TEST_CASE(decide_orders_by_deadline_and_cuts_chunks) {
  std::vector<identity> p;
  for (int i = 0; i < 6; ++i)
    p.push_back(identity::generate());
  std::vector<declaration> declared;
  for (int i = 0; i < 6; ++i)
    declared.push_back(make_decl(p[static_cast<size_t>(i)], 100 + i));
  matchmaking_settings s;
  const double now = 96; // every deadline within matchmaking_time + grace ahead
  s.target_group_size = 4;
  s.min_group_size = 2;
  // The earliest peer leads the first chunk of 4: full, so it announces at once.
  auto d0 = decide(declared[0], declared, {}, now, s);
  BOOST_TEST((d0.what == step::announce));
  BOOST_TEST(d0.group.members.size() == 4u);
  BOOST_TEST(d0.group.members[3].peer == declared[3].peer);
  // The leader of the second chunk (2 peers) waits until its deadline, then announces.
  BOOST_TEST((decide(declared[4], declared, {}, now, s).what == step::wait));
  auto d4 = decide(declared[4], declared, {}, 104.5, s);
  BOOST_TEST((d4.what == step::announce));
  BOOST_TEST(d4.group.members.size() == 2u);
  // Followers wait for their leader, then join the announcement that lists them.
  BOOST_TEST((decide(declared[2], declared, {}, now, s).what == step::wait));
  d0.group.group_id = make_group_id("mm.r", d0.group.members);
  auto d2 = decide(declared[2], declared, {d0.group}, now, s);
  BOOST_TEST((d2.what == step::joined));
  BOOST_TEST(d2.group.index_of(declared[2].peer).value() == 2u);
  // A follower whose leader never announces gives up after the grace period.
  BOOST_TEST((decide(declared[5], declared, {}, 104 + s.announce_grace + 1, s).what == step::failed));
  // Too few peers: the leader fails at its deadline.
  std::vector<declaration> alone = {declared[0]};
  auto lonely = decide(declared[0], alone, {}, 101, s);
  BOOST_TEST((lonely.what == step::failed));
  BOOST_TEST(lonely.why.find("only 1 peer") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(decide_ignores_groups_nobody_asked_for) {
  auto a = identity::generate(), b = identity::generate(), intruder = identity::generate();
  auto da = make_decl(a, 100), db = make_decl(b, 101), di = make_decl(intruder, 99);
  matchmaking_settings s;
  const double now = 96;
  // The intruder never declared: its announcement drafting a and b is ignored.
  announcement forged;
  forged.members = {di, da, db};
  forged.group_id = make_group_id("mm.r", forged.members);
  BOOST_TEST((decide(db, {da, db}, {forged}, now, s).what == step::wait));
  // A listed member with a deadline other than the one it declared: ignored too.
  announcement altered;
  altered.members = {da, db};
  altered.members[1].deadline = 5;
  BOOST_TEST((decide(db, {da, db}, {altered}, now, s).what == step::wait));
}

BOOST_AUTO_TEST_CASE(deadlines_outside_the_matchmaking_window_are_ignored) {
  auto a = identity::generate(), b = identity::generate(), c = identity::generate();
  auto early = identity::generate(), late = identity::generate();
  matchmaking_settings s; // matchmaking_time 5, grace 5
  const double now = 96;
  auto da = make_decl(a, 100), db = make_decl(b, 101), dc = make_decl(c, 102);
  // A liar declaring a deadline long past would sort first and lead (and
  // never announce); one far ahead would hold a place for nothing.
  auto dearly = make_decl(early, 10), dlate = make_decl(late, 1e6);
  std::vector<declaration> declared = {dearly, da, db, dc, dlate};
  BOOST_TEST(!plausible_deadline(dearly, now, s));
  BOOST_TEST(!plausible_deadline(dlate, now, s));
  BOOST_TEST(plausible_deadline(make_decl(a, now - s.announce_grace), now, s));
  BOOST_TEST(plausible_deadline(make_decl(a, now + s.matchmaking_time + s.announce_grace), now, s));
  BOOST_TEST(!plausible_deadline(make_decl(a, now + s.matchmaking_time + s.announce_grace + 0.1), now, s));
  // a leads the honest three: it gathers until its deadline, then announces them.
  BOOST_TEST((decide(da, declared, {}, now, s).what == step::wait));
  auto led = decide(da, declared, {}, 100, s);
  BOOST_REQUIRE((led.what == step::announce));
  BOOST_REQUIRE_EQUAL(led.group.members.size(), 3u);
  BOOST_TEST(led.group.members[0].peer == a.id());
  BOOST_TEST(led.group.members[1].peer == b.id());
  BOOST_TEST(led.group.members[2].peer == c.id());
  // b waits for a, not for the liar, and ignores the liar's announcement.
  announcement by_liar;
  by_liar.members = {dearly, da, db, dc};
  by_liar.group_id = make_group_id("mm.r", by_liar.members);
  BOOST_TEST((decide(db, declared, {by_liar}, now, s).what == step::wait));
  led.group.group_id = make_group_id("mm.r", led.group.members);
  auto joined = decide(db, declared, {by_liar, led.group}, now, s);
  BOOST_TEST((joined.what == step::joined));
  BOOST_TEST(joined.group.members.size() == 3u);
}

BOOST_AUTO_TEST_CASE(huge_declared_bandwidth_is_bounded_when_the_group_is_read) {
  auto a = identity::generate(), b = identity::generate(), c = identity::generate();
  auto liar = identity::generate();
  announcement ann;
  ann.members = {make_decl(a, 100), make_decl(b, 101), make_decl(c, 102), make_decl(liar, 103)};
  ann.members[3].bandwidth = 1e11;
  auto g = ann.group();
  BOOST_TEST(g.members[3].bandwidth == 4.0); // 4 x the lower median (1)
  auto spans = partition_spans(g.members, 7000);
  BOOST_TEST(spans[3].size() == 4000u);      // not 7000 - 3: the honest keep 3/7
  for (size_t i = 0; i < 3; ++i)
    BOOST_TEST(spans[i].size() == 1000u);
  // Two reducers: the lower median is the honest one's.
  announcement pair;
  pair.members = {make_decl(a, 100), make_decl(liar, 101)};
  pair.members[1].bandwidth = 1e11;
  auto pair_spans = partition_spans(pair.group().members, 5000);
  BOOST_TEST(pair_spans[0].size() == 1000u);
  BOOST_TEST(pair_spans[1].size() == 4000u);
  // Everyone huge: the hard maximum, equal shares.
  announcement huge = ann;
  for (auto& m : huge.members)
    m.bandwidth = 1e11;
  for (const auto& m : huge.group().members)
    BOOST_TEST(m.bandwidth == 1e6);
  // Honest spreads within 4x of the median stay as declared.
  announcement honest = ann;
  honest.members[0].bandwidth = 1;
  honest.members[1].bandwidth = 2;
  honest.members[2].bandwidth = 3;
  honest.members[3].bandwidth = 4;
  auto hg = honest.group();
  for (size_t i = 0; i < 4; ++i)
    BOOST_TEST(hg.members[i].bandwidth == static_cast<double>(i + 1));
}

BOOST_AUTO_TEST_CASE(excluded_peers_are_left_out_and_their_groups_refused) {
  auto a = identity::generate(), b = identity::generate(), c = identity::generate();
  auto liar = identity::generate();
  auto da = make_decl(a, 100), dl = make_decl(liar, 101), db = make_decl(b, 102),
       dc = make_decl(c, 103);
  std::vector<declaration> declared = {da, dl, db, dc};
  matchmaking_settings s;
  s.excluded = {liar.id()};
  // Leading, a leaves the liar out of its group.
  auto led = decide(da, declared, {}, 100, s);
  BOOST_REQUIRE((led.what == step::announce));
  BOOST_REQUIRE_EQUAL(led.group.members.size(), 3u);
  for (const auto& m : led.group.members)
    BOOST_TEST(m.peer != liar.id());
  // Following, b refuses its leader's group when it lists the liar.
  matchmaking_settings plain;
  auto with_liar = decide(da, declared, {}, 100, plain).group;
  BOOST_REQUIRE_EQUAL(with_liar.members.size(), 4u);
  with_liar.group_id = make_group_id("mm.r", with_liar.members);
  auto refused = decide(db, declared, {with_liar}, 100, s);
  BOOST_TEST((refused.what == step::failed));
  BOOST_TEST(refused.why.find("dropped") != std::string::npos);
  BOOST_TEST((decide(db, declared, {with_liar}, 100, plain).what == step::joined));
  // The liar leading a group of its own cannot fail b: b ignores it.
  auto dl_first = make_decl(liar, 99);
  announcement by_liar;
  by_liar.members = {dl_first, da, db};
  by_liar.group_id = make_group_id("mm.r", by_liar.members);
  BOOST_TEST((decide(db, {dl_first, da, db}, {by_liar}, 98, s).what == step::wait));
}

BOOST_AUTO_TEST_CASE(codecs_round_trip_and_refuse_bad_records) {
  auto a = identity::generate();
  auto d = make_decl(a, 123.5, peer_mode::aux);
  d.bandwidth = 2.5;
  auto back = decode_declaration(encode(d));
  BOOST_REQUIRE(back);
  BOOST_TEST(back->peer == d.peer);
  BOOST_TEST((back->mode == peer_mode::aux));
  BOOST_TEST(back->bandwidth == 2.5);
  auto lying = d;
  lying.peer = identity::generate().id();
  BOOST_TEST(describe(decode_declaration(encode(lying)).error()).find("not the hash") != std::string::npos);
  BOOST_TEST(!decode_declaration("junk"));
  announcement ann;
  ann.members = {d, d};
  ann.group_id = make_group_id("mm.r", ann.members);
  BOOST_TEST(describe(decode_announcement(encode(ann)).error()).find("listed twice") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(peers_starting_at_different_moments_form_one_group) {
  swarm sw(12);
  matchmaking_settings s;
  s.target_group_size = 4;
  s.min_group_size = 2;
  s.matchmaking_time = 3;
  for (int i = 0; i < 4; ++i) {
    sw.join("run.grad.1", i == 2 ? peer_mode::client : peer_mode::node, s);
    sw.advance(0.5);
  }
  sw.advance(5);
  std::string group_id;
  for (size_t i = 0; i < 4; ++i) {
    BOOST_REQUIRE_MESSAGE(sw.results[i]->has_value(), "peer " << i << " got no answer");
    auto& r = **sw.results[i];
    BOOST_REQUIRE_MESSAGE(r, "peer " << i << ": " << why(r));
    BOOST_TEST(r->members.size() == 4u);
    BOOST_TEST(r->members.front().peer == sw.ids[0].id()); // the earliest leads
    BOOST_TEST(r->index_of(sw.ids[i].id()).has_value());
    BOOST_TEST((r->members[r->index_of(sw.ids[2].id()).value()].mode == peer_mode::client));
    if (i == 0)
      group_id = r->group_id;
    BOOST_TEST(r->group_id == group_id);
  }
}

BOOST_AUTO_TEST_CASE(more_peers_than_a_group_form_several_groups) {
  swarm sw(12);
  matchmaking_settings s;
  s.target_group_size = 3;
  s.min_group_size = 2;
  s.matchmaking_time = 2;
  for (int i = 0; i < 5; ++i) {
    sw.join("run.grad.2", peer_mode::node, s);
    sw.advance(0.1);
  }
  sw.advance(6);
  std::map<std::string, size_t> sizes;
  for (size_t i = 0; i < 5; ++i) {
    BOOST_REQUIRE(sw.results[i]->has_value());
    auto& r = **sw.results[i];
    BOOST_REQUIRE_MESSAGE(r, why(r));
    sizes[r->group_id] = r->members.size();
  }
  BOOST_TEST(sizes.size() == 2u);
  std::multiset<size_t> got;
  for (auto& [_, n] : sizes)
    got.insert(n);
  BOOST_TEST((got == std::multiset<size_t>{2, 3}));
}

BOOST_AUTO_TEST_CASE(a_lone_peer_gets_no_group) {
  swarm sw(6);
  matchmaking_settings s;
  s.target_group_size = 4;
  s.min_group_size = 2;
  s.matchmaking_time = 1;
  sw.join("run.grad.3", peer_mode::node, s);
  sw.advance(3);
  BOOST_REQUIRE(sw.results[0]->has_value());
  auto& r = **sw.results[0];
  BOOST_REQUIRE(!r);
  BOOST_TEST(describe(r.error()).find("only 1 peer") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(newcomers_find_state_holders_best_first_through_the_dht) {
  swarm sw(8);
  auto advertise = [&](const identity& signer, state_advert a, double ttl) {
    dht::dht_record rec;
    rec.key = state_key("run1");
    rec.subkey = dht::owner_marker(signer.public_key());
    rec.has_subkey = true;
    rec.value = encode(a);
    rec.expiration = sw.net.now + ttl;
    dht::sign_record(rec, signer);
    auto ok = sw.net.store(sw.nodes[1], rec);
    BOOST_REQUIRE(ok && *ok && **ok);
  };
  auto h1 = identity::generate(), h2 = identity::generate(), h3 = identity::generate(),
       liar = identity::generate();
  advertise(h1, state_advert{h1.id(), "10.0.0.5", 5, 7}, 100);
  advertise(h2, state_advert{h2.id(), "10.0.0.6", 6, 9}, 100);
  advertise(h3, state_advert{h3.id(), "10.0.0.7", 7, 7}, 50); // same epoch as h1, written "earlier"
  // Signed by one peer, naming another: ignored.
  advertise(liar, state_advert{h1.id(), "10.6.6.6", 6, 99}, 100);
  // A value that is not a StateAdvert is refused by the DHT itself.
  dht::dht_record junk;
  junk.key = state_key("run1");
  junk.subkey = dht::owner_marker(liar.public_key());
  junk.has_subkey = true;
  junk.value = "not a state advert";
  junk.expiration = sw.net.now + 100;
  dht::sign_record(junk, liar);
  BOOST_TEST(!*sw.net.store(sw.nodes[2], junk));

  auto holders = best_holders(sw.net.get(sw.nodes[6], state_key("run1"), true));
  BOOST_REQUIRE(holders.size() == 3u);
  BOOST_TEST(holders[0].peer == h2.id()); // epoch 9
  BOOST_TEST(holders[1].peer == h3.id()); // epoch 7, older advert
  BOOST_TEST(holders[2].peer == h1.id());
  BOOST_TEST(holders[0].address() == "10.0.0.6:6");
}
