// Unit tests of the DHT's pure parts: ids, routing table, record store,
// validator and wire protocol (including every class of bad input).
#define BOOST_TEST_MODULE dht_core
#include <boost/test/unit_test.hpp>

#include "actors/dht/lookup.hpp"
#include "actors/dht/protocol.hpp"
#include "actors/dht/record_store.hpp"
#include "actors/dht/routing_table.hpp"
#include "actors/dht/validator.hpp"
#include "schema/dht.capnp.h"
#include "tests/dht/printing.hpp"

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <random>

using namespace ttt;
using namespace ttt::dht;

namespace {

node_id random_id(std::mt19937_64& rng) {
  node_id id;
  for (auto& b : id.bytes)
    b = static_cast<uint8_t>(rng());
  return id;
}

peer_info peer(const node_id& id, uint16_t port) {
  return peer_info{id, "127.0.0.1", port, std::string(32, 'k')};
}

dht_record plain(std::string key, std::string value, double exp) {
  dht_record r;
  r.key = std::move(key);
  r.value = std::move(value);
  r.expiration = exp;
  return r;
}

dht_record entry(std::string key, std::string subkey, std::string value, double exp) {
  auto r = plain(std::move(key), std::move(value), exp);
  r.subkey = std::move(subkey);
  r.has_subkey = true;
  return r;
}

std::string example_value(const std::string& text, uint32_t count) {
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<schema::ExampleValue>();
  root.setText(text);
  root.setCount(count);
  auto words = capnp::messageToFlatArray(message);
  auto bytes = words.asBytes();
  return std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
}

} // namespace

BOOST_AUTO_TEST_CASE(node_ids_hash_hex_and_distance) {
  auto a = node_id::of_key("alpha");
  BOOST_TEST(a == node_id::of_key("alpha"));
  BOOST_TEST(a != node_id::of_key("beta"));
  BOOST_TEST(node_id::from_hex(a.to_hex()).value() == a);
  BOOST_TEST(!node_id::from_hex("zz").has_value());
  BOOST_TEST(!node_id::from_bytes("short").has_value());
  BOOST_TEST(a.distance(a) == node_id{});
  BOOST_TEST(a.common_prefix_bits(a) == 160);
  node_id b = a;
  b.bytes[0] ^= 0x10; // differs in bit 3
  BOOST_TEST(a.common_prefix_bits(b) == 3);
}

BOOST_AUTO_TEST_CASE(routing_table_splits_keeps_k_and_uses_replacements) {
  std::mt19937_64 rng(7);
  auto self = random_id(rng);
  routing_table table(self, 20, 5);
  std::vector<peer_info> added;
  std::optional<peer_info> to_ping;
  for (int i = 0; i < 2000; ++i) {
    auto p = peer(random_id(rng), static_cast<uint16_t>(1000 + i));
    added.push_back(p);
    if (auto stale = table.on_seen(p, i))
      to_ping = stale;
  }
  BOOST_TEST(table.buckets().size() > 1u);
  for (const auto& b : table.buckets()) {
    BOOST_TEST(b.nodes.size() <= 20u);
    for (const auto& n : b.nodes)
      BOOST_TEST(b.covers(n.id));
  }
  // The buckets partition the id space: every id is covered exactly once.
  for (int i = 0; i < 100; ++i) {
    auto id = random_id(rng);
    int covering = 0;
    for (const auto& b : table.buckets())
      covering += b.covers(id) ? 1 : 0;
    BOOST_TEST(covering == 1);
  }
  BOOST_REQUIRE(to_ping.has_value());
  // A failed least-recently-seen peer is replaced by the newest replacement.
  size_t before = table.size();
  BOOST_TEST(table.contains(to_ping->id));
  table.on_failure(to_ping->id);
  BOOST_TEST(!table.contains(to_ping->id));
  BOOST_TEST(table.size() == before);
  // nearest() is sorted by XOR distance and matches a brute-force answer.
  auto target = random_id(rng);
  auto near = table.nearest(target, 20);
  BOOST_TEST(near.size() == 20u);
  auto all = table.all();
  std::sort(all.begin(), all.end(), [&](const peer_info& x, const peer_info& y) {
    return x.id.distance(target) < y.id.distance(target);
  });
  for (size_t i = 0; i < near.size(); ++i)
    BOOST_TEST(near[i].id == all[i].id);
  // Our own id and client-mode peers never enter.
  BOOST_TEST(!table.on_seen(peer(self, 1), 0).has_value());
  BOOST_TEST(!table.contains(self));
  peer_info client{random_id(rng), "", 0, std::string(32, 'c')};
  table.on_seen(client, 0);
  BOOST_TEST(!table.contains(client.id));
}

BOOST_AUTO_TEST_CASE(routing_table_refresh_targets_fall_in_stale_buckets) {
  std::mt19937_64 rng(3);
  auto self = random_id(rng);
  routing_table table(self);
  for (int i = 0; i < 300; ++i)
    table.on_seen(peer(random_id(rng), static_cast<uint16_t>(i + 1)), 100);
  auto targets = table.refresh_targets(200, rng);
  BOOST_TEST(targets.size() == table.buckets().size());
  for (size_t i = 0; i < targets.size(); ++i)
    BOOST_TEST(table.buckets()[i].covers(targets[i]));
  BOOST_TEST(table.refresh_targets(50, rng).empty());
}

BOOST_AUTO_TEST_CASE(routing_table_resists_poisoning_and_eclipse) {
  std::mt19937_64 rng(11);
  routing_table table(random_id(rng), 20, 5, 2);
  // A known peer's address changes only once the new one was checked.
  auto known = peer_info{random_id(rng), "203.0.113.7", 4000, std::string(32, 'k')};
  table.on_seen(known, 1);
  auto planted = known;
  planted.host = "198.51.100.66";
  BOOST_TEST(table.moved(planted));
  table.on_seen(planted, 2);
  BOOST_TEST(table.find(known.id)->host == "203.0.113.7");
  table.on_seen(planted, 3, true);
  BOOST_TEST(table.find(known.id)->host == "198.51.100.66");
  // At most two peers of one /24 in a bucket, however many ids it grinds;
  // other networks and loopback are not limited by it.
  size_t attackers = 0;
  for (int i = 0; i < 50; ++i) {
    auto p = peer_info{random_id(rng), "192.0.2." + std::to_string(i), 4000, std::string(32, 'k')};
    table.on_seen(p, 4);
    attackers += table.contains(p.id) ? 1 : 0;
  }
  BOOST_TEST(attackers <= 2u * table.buckets().size());
  BOOST_TEST(attackers >= 1u);
  size_t local = 0;
  for (int i = 0; i < 15; ++i) {
    auto p = peer(random_id(rng), static_cast<uint16_t>(5000 + i));
    table.on_seen(p, 5);
    local += table.contains(p.id) ? 1 : 0;
  }
  BOOST_TEST(local == 15u);
  BOOST_TEST(subnet_of("10.1.2.3") == "10.1.2");
  BOOST_TEST(subnet_of("2001:db8:1234:5678::1") == "2001:db8:1234");
  BOOST_TEST(subnet_of("127.0.0.5").empty());
}

BOOST_AUTO_TEST_CASE(record_store_later_expiration_wins) {
  record_store store;
  auto id = node_id::of_key("k");
  BOOST_TEST(store.store(plain("k", "v1", 100), 10) == record_store::outcome::stored);
  BOOST_TEST(store.store(plain("k", "v0", 50), 10) == record_store::outcome::superseded);
  BOOST_TEST(store.store(plain("k", "same", 100), 10) == record_store::outcome::superseded);
  BOOST_TEST(store.get(id, 10).at(0).value == "v1");
  BOOST_TEST(store.store(plain("k", "v2", 200), 10) == record_store::outcome::stored);
  BOOST_TEST(store.get(id, 10).at(0).value == "v2");
  BOOST_TEST(store.store(plain("k", "old", 5), 10) == record_store::outcome::expired);
  // Expired records are never returned, and purge drops them.
  BOOST_TEST(store.get(id, 250).empty());
  BOOST_TEST(store.purge(250) == 1u);
  BOOST_TEST(store.size() == 0u);
}

BOOST_AUTO_TEST_CASE(record_store_dictionaries_have_per_subkey_expiration) {
  record_store store;
  auto id = node_id::of_key("d");
  BOOST_TEST(store.store(entry("d", "a", "A", 100), 0) == record_store::outcome::stored);
  BOOST_TEST(store.store(entry("d", "b", "B", 50), 0) == record_store::outcome::stored);
  BOOST_TEST(store.store(entry("d", "a", "A-old", 90), 0) == record_store::outcome::superseded);
  BOOST_TEST(store.get(id, 0).size() == 2u);
  BOOST_TEST(store.get(id, 60).size() == 1u); // b expired
  BOOST_TEST(store.get(id, 60).at(0).subkey == "a");
  // A plain value never replaces a dictionary, whatever its expiration: a
  // stranger's value cannot wipe other peers' entries (THREATS.md).
  BOOST_TEST(store.store(plain("d", "p", 95), 0) == record_store::outcome::wrong_kind);
  BOOST_TEST(store.store(plain("d", "p", 1e9), 0) == record_store::outcome::wrong_kind);
  BOOST_TEST(store.get(id, 0).size() == 2u);
  // Nor an entry a plain value; once the dictionary has expired the key is free.
  BOOST_TEST(store.store(plain("d", "p", 150), 120) == record_store::outcome::stored);
  BOOST_TEST(store.get(id, 120).size() == 1u);
  BOOST_TEST(!store.get(id, 120).at(0).has_subkey);
  BOOST_TEST(store.store(entry("d", "c", "C", 160), 120) == record_store::outcome::wrong_kind);
  BOOST_TEST(store.store(entry("d", "c", "C", 200), 160) == record_store::outcome::stored);
  BOOST_TEST(store.get(id, 160).at(0).subkey == "c");
}

BOOST_AUTO_TEST_CASE(record_store_bounds_keys_senders_and_itself) {
  std::mt19937_64 rng(3);
  auto liar = random_id(rng);
  auto honest = random_id(rng);
  store_limits limits;
  limits.max_entries_per_origin_per_key = 4;
  limits.max_records_per_origin = 10;
  limits.max_bytes_per_origin = 256 << 10;
  record_store store(nullptr, limits);
  auto id = node_id::of_key("k");
  // One sender holds at most 4 entries of a shared key; others still store.
  for (int i = 0; i < 4; ++i)
    BOOST_TEST(store.store(entry("k", "l" + std::to_string(i), "x", 100), 0, liar) ==
               record_store::outcome::stored);
  BOOST_TEST(store.store(entry("k", "l4", "x", 100), 0, liar) == record_store::outcome::origin_quota);
  BOOST_TEST(store.store(entry("k", "l0", "newer", 200), 0, liar) == record_store::outcome::stored);
  BOOST_TEST(store.store(entry("k", "h", "honest", 100), 0, honest) == record_store::outcome::stored);
  BOOST_TEST(store.get(id, 0).size() == 5u);
  // Its records across keys are bounded too, and freed when they expire.
  for (int i = 0; i < 6; ++i)
    BOOST_TEST(store.store(plain("p" + std::to_string(i), "v", 50), 0, liar) ==
               record_store::outcome::stored);
  BOOST_TEST(store.store(plain("p6", "v", 100), 0, liar) == record_store::outcome::origin_quota);
  BOOST_TEST(store.usage_of(liar).first == 10u);
  store.purge(60);
  BOOST_TEST(store.usage_of(liar).first == 4u);
  BOOST_TEST(store.store(plain("p6", "v", 100), 60, liar) == record_store::outcome::stored);
  // Bytes per sender.
  BOOST_TEST(store.store(plain("big", std::string(300 << 10, 'b'), 100), 60, liar) ==
             record_store::outcome::origin_quota);
  // A key takes at most the entries a reader accepts (256) and the bytes one
  // answer carries; this node's own records count against the key as well.
  record_store open(nullptr, merge_limits(1));
  for (int i = 0; i < 256; ++i)
    BOOST_TEST(open.store(entry("full", std::to_string(i), "v", 100), 0) == record_store::outcome::stored);
  BOOST_TEST(open.store(entry("full", "256", "v", 100), 0) == record_store::outcome::key_full);
  BOOST_TEST(open.store(entry("full", "0", "replaced", 200), 0) == record_store::outcome::stored);
  record_store bytes(nullptr, store_limits{});
  BOOST_TEST(bytes.store(entry("fat", "a", std::string(500 << 10, 'a'), 100), 0) ==
             record_store::outcome::stored);
  BOOST_TEST(bytes.store(entry("fat", "b", std::string(500 << 10, 'b'), 100), 0) ==
             record_store::outcome::key_full);
  // The whole store.
  store_limits tiny;
  tiny.max_records = 2;
  record_store small(nullptr, tiny);
  BOOST_TEST(small.store(plain("a", "v", 100), 0) == record_store::outcome::stored);
  BOOST_TEST(small.store(plain("b", "v", 100), 0) == record_store::outcome::stored);
  BOOST_TEST(small.store(plain("c", "v", 100), 0) == record_store::outcome::store_full);
  BOOST_TEST(small.store(plain("a", "v2", 200), 0) == record_store::outcome::stored);
}

BOOST_AUTO_TEST_CASE(validator_bounds_lifetimes_and_shapes) {
  auto v = default_validator();
  auto owner = identity::generate();
  double now = 1e6;
  // ttt's run records are owned dictionary entries living at most an hour.
  auto progress = entry("progress.run", owner_marker(owner.public_key()), "", now + 60);
  progress.value = example_value("x", 1); // not a ProgressRecord, refused for that below
  auto plain_progress = plain("progress.run", "v", now + 60);
  BOOST_TEST(describe(v.validate(plain_progress, now)).find("must be dictionary entries") !=
             std::string::npos);
  auto unowned = entry("progress.run", "mine", "v", now + 60);
  BOOST_TEST(describe(v.validate(unowned, now)).find("must be dictionary entries") != std::string::npos);
  // A far expiration is refused everywhere, with a bound per prefix.
  auto far = plain("free.key", "v", now + 1e12);
  BOOST_TEST(describe(v.validate(far, now)).find("ahead") != std::string::npos);
  BOOST_TEST(!v.validate(plain("free.key", "v", now + 6 * 24 * 3600), now));
  auto example = plain("example.k", example_value("x", 1), now + 6 * 24 * 3600);
  BOOST_TEST(!v.validate(example, now));
  dht_record mm = entry("mm.run.grad.0", owner_marker(owner.public_key()), "", now + 2 * 3600);
  sign_record(mm, owner);
  BOOST_TEST(describe(v.validate(mm, now)).find("ahead") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(record_store_reports_changes_to_its_sink) {
  struct counting_sink : record_sink {
    int saved_count = 0, erased_count = 0;
    void saved(const node_id&, const dht_record&) override { ++saved_count; }
    void erased(const node_id&, const dht_record&) override { ++erased_count; }
  } sink;
  record_store store(&sink);
  store.store(entry("d", "a", "A", 100), 0);
  store.store(entry("d", "b", "B", 100), 0);
  store.store(plain("d", "P", 200), 0); // refused: the key is a dictionary
  store.store(entry("d", "a", "A2", 150), 0); // replaces its older version
  store.purge(300);
  BOOST_TEST(sink.saved_count == 3);
  BOOST_TEST(sink.erased_count == 3);
}

BOOST_AUTO_TEST_CASE(validator_owner_signatures) {
  auto owner = identity::generate();
  auto intruder = identity::generate();
  auto v = default_validator();
  auto rec = plain("progress" + owner_marker(owner.public_key()), "42", 1000);
  BOOST_TEST(describe(v.validate(rec, 0)).find("not signed") != std::string::npos);
  sign_record(rec, intruder);
  BOOST_TEST(describe(v.validate(rec, 0)).find("does not verify") != std::string::npos);
  sign_record(rec, owner);
  BOOST_TEST(!v.validate(rec, 0));
  // The signature covers the expiration: extending it invalidates the record.
  auto extended = rec;
  extended.expiration += 1;
  BOOST_TEST(v.validate(extended, 0));
  // The value too.
  auto altered = rec;
  altered.value = "43";
  BOOST_TEST(v.validate(altered, 0));
  // Owned subkeys of a shared key.
  auto sub = entry("peers", owner_marker(owner.public_key()), "me", 1000);
  BOOST_TEST(v.validate(sub, 0));
  sign_record(sub, owner);
  BOOST_TEST(!v.validate(sub, 0));
  auto bad_marker = plain("x[owner:abc]", "v", 1000);
  BOOST_TEST(describe(v.validate(bad_marker, 0)).find("malformed owner marker") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(validator_schema_bound_prefixes) {
  auto v = default_validator();
  BOOST_TEST(v.validate(plain("example.one", example_value("hi", 3), 1000), 0) == caf::error{});
  auto err = v.validate(plain("example.two", "not capnp at all", 1000), 0);
  BOOST_TEST(describe(err).find("is not a ExampleValue") != std::string::npos);
  // Keys outside the prefix are free-form.
  BOOST_TEST(!v.validate(plain("other", "not capnp at all", 1000), 0));
  // A well-formed message with trailing garbage is refused too.
  BOOST_TEST(v.validate(plain("example.three", example_value("hi", 3) + std::string(8, '\0'), 1000), 0));
}

BOOST_AUTO_TEST_CASE(protocol_round_trips) {
  dht_request req;
  req.sender = peer(node_id::of_key("me"), 4000);
  req.kind = request_kind::store;
  req.records = {plain("k", "v", 10), entry("d", "s", "x", 20)};
  req.in_cache = true;
  auto back = decode_request(encode(req));
  BOOST_REQUIRE(back);
  BOOST_TEST(back->sender.address() == "127.0.0.1:4000");
  BOOST_TEST(back->in_cache);
  BOOST_TEST(back->records.size() == 2u);
  BOOST_TEST((back->records[1] == req.records[1]));

  dht_response resp;
  resp.responder = req.sender;
  resp.kind = request_kind::find;
  resp.found.push_back(find_result{{plain("k", "v", 10)}, {req.sender}});
  auto r = decode_response(encode(resp));
  BOOST_REQUIRE(r);
  BOOST_TEST(r->found.at(0).nearest.at(0).port == 4000);

  auto rec = decode_record(encode(plain("k", "v", 10)));
  BOOST_REQUIRE(rec);
  BOOST_TEST(rec->value == "v");
}

BOOST_AUTO_TEST_CASE(protocol_refuses_malformed_and_oversized_input) {
  // Not whole words, empty, random words, oversized, wrong id sizes.
  BOOST_TEST(describe(decode_request("abc").error()).find("whole number") != std::string::npos);
  BOOST_TEST(!decode_request(""));
  std::mt19937_64 rng(1);
  for (int i = 0; i < 200; ++i) {
    std::string junk(8 * (1 + rng() % 64), '\0');
    for (auto& c : junk)
      c = static_cast<char>(rng());
    auto r = decode_request(junk); // must not crash; an error or a harmless request
    (void)r;
  }
  std::string big(protocol_limits::max_message_bytes + 8, '\0');
  BOOST_TEST(describe(decode_request(big).error()).find("exceeds") != std::string::npos);

  dht_request req;
  req.sender = peer(node_id::of_key("me"), 4000);
  req.sender.public_key = "short";
  BOOST_TEST(describe(decode_request(encode(req)).error()).find("public key") != std::string::npos);

  req.sender.public_key = std::string(32, 'k');
  req.kind = request_kind::store;
  req.records.push_back(plain(std::string(2000, 'k'), "v", 10));
  BOOST_TEST(describe(decode_request(encode(req)).error()).find("key exceeds") != std::string::npos);
  req.records[0] = plain("k", std::string(protocol_limits::max_value_bytes + 1, 'v'), 10);
  BOOST_TEST(describe(decode_request(encode(req)).error()).find("value exceeds") != std::string::npos);
  req.records.assign(protocol_limits::max_records_per_message + 1, plain("k", "v", 10));
  BOOST_TEST(describe(decode_request(encode(req)).error()).find("exceeds the limit") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(lookup_converges_on_the_closest_peers) {
  // A static "network" of 200 peers, each knowing 8 random others plus its
  // neighbours; the lookup must end with the true 20 closest.
  std::mt19937_64 rng(11);
  std::vector<peer_info> peers;
  for (int i = 0; i < 200; ++i)
    peers.push_back(peer(random_id(rng), static_cast<uint16_t>(i + 1)));
  auto target = random_id(rng);
  auto sorted = peers;
  std::sort(sorted.begin(), sorted.end(), [&](const auto& a, const auto& b) {
    return a.id.distance(target) < b.id.distance(target);
  });
  auto knows = [&](const peer_info& p) {
    routing_table t(p.id);
    for (const auto& q : peers)
      t.on_seen(q, 0);
    return t.nearest(target, 20);
  };
  lookup search(node_id{}, target, {peers[0], peers[1]}, lookup::options{});
  int rounds = 0;
  while (!search.done() && rounds++ < 1000) {
    auto next = search.next_queries();
    BOOST_REQUIRE(!next.empty());
    BOOST_TEST(next.size() <= 3u);
    for (const auto& p : next)
      search.on_response(p.id, find_result{{}, knows(p)}, 0);
  }
  BOOST_TEST(search.done());
  auto closest = search.closest_responders(20);
  BOOST_REQUIRE(closest.size() == 20u);
  for (size_t i = 0; i < 20; ++i)
    BOOST_TEST(closest[i].id == sorted[i].id);
}
