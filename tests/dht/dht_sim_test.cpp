// Deterministic multi-node tests of the dht_node actor: many nodes in one
// process under CAF's test coordinator, joined by a simulated network.
#define BOOST_TEST_MODULE dht_sim
#include <boost/test/unit_test.hpp>

#include "actors/dht/protocol.hpp"
#include "storage/database.hpp"
#include "tests/dht/printing.hpp"
#include "tests/dht/sim_network.hpp"

#include <cstdlib>
#include <unistd.h>

using namespace ttt;
using namespace ttt::dht;
using ttt::test::sim_network;

namespace {

dht_record make(const sim_network& net, std::string key, std::string value, double ttl,
                std::optional<std::string> subkey = std::nullopt) {
  dht_record r;
  r.key = std::move(key);
  r.value = std::move(value);
  r.expiration = net.now + ttl;
  if (subkey) {
    r.subkey = *subkey;
    r.has_subkey = true;
  }
  return r;
}

/// A swarm of `n` server nodes on ports 1..n, each joined through node 0.
std::vector<dht_actor> make_swarm(sim_network& net, size_t n, size_t seed_base = 1000) {
  std::vector<dht_actor> nodes;
  for (size_t i = 0; i < n; ++i) {
    nodes.push_back(net.spawn(net.config(static_cast<uint16_t>(i + 1), seed_base + i)));
    if (i > 0)
      BOOST_REQUIRE(net.bootstrap(nodes.back(), {"10.0.0.1:1"}) > 0);
  }
  return nodes;
}

/// A request as the wire hands it over: from the peer whose key is `sender_key`.
std::string raw_rpc(sim_network& net, const dht_actor& node, const std::string& bytes,
                    const std::string& sender_key) {
  auto reply = net.ask<std::string>(node, dht_rpc_atom_v, sender_key, bytes);
  BOOST_REQUIRE(reply && *reply);
  return **reply;
}

} // namespace

BOOST_AUTO_TEST_CASE(every_key_stored_from_any_node_is_found_from_every_node) {
  sim_network net;
  auto nodes = make_swarm(net, 64);
  for (size_t i = 0; i < nodes.size(); ++i) {
    auto ok = net.store(nodes[i], make(net, "key-" + std::to_string(i), "value-" + std::to_string(i), 600));
    BOOST_REQUIRE(ok && *ok);
    BOOST_TEST(**ok);
  }
  size_t found = 0;
  for (size_t reader = 0; reader < nodes.size(); ++reader) {
    for (size_t i = 0; i < nodes.size(); ++i) {
      auto got = net.get(nodes[reader], "key-" + std::to_string(i));
      if (got.size() == 1 && got[0].value == "value-" + std::to_string(i))
        ++found;
    }
  }
  BOOST_TEST(found == nodes.size() * nodes.size());
}

BOOST_AUTO_TEST_CASE(values_expire) {
  sim_network net;
  auto nodes = make_swarm(net, 8);
  BOOST_REQUIRE(**net.store(nodes[0], make(net, "short", "lived", 10)));
  BOOST_TEST(net.get(nodes[5], "short").size() == 1u);
  net.now += 11;
  for (auto& n : nodes)
    BOOST_TEST(net.get(n, "short").empty());
  // Storing an already expired record is refused outright.
  auto late = net.store(nodes[1], make(net, "late", "x", -1));
  BOOST_REQUIRE(late);
  BOOST_TEST(!*late);
}

BOOST_AUTO_TEST_CASE(later_expiration_wins_whatever_the_arrival_order) {
  sim_network net;
  auto nodes = make_swarm(net, 12);
  BOOST_REQUIRE(**net.store(nodes[0], make(net, "k", "v-late", 300)));
  // An earlier expiration, arriving later, does not overwrite.
  auto older = net.store(nodes[7], make(net, "k", "v-early", 100));
  BOOST_REQUIRE(older && *older);
  BOOST_TEST(!**older);
  for (auto& n : nodes)
    BOOST_TEST(net.get(n, "k", true).at(0).value == "v-late");
  BOOST_REQUIRE(**net.store(nodes[3], make(net, "k", "v-latest", 400)));
  for (auto& n : nodes)
    BOOST_TEST(net.get(n, "k", true).at(0).value == "v-latest");
}

BOOST_AUTO_TEST_CASE(dictionary_values_have_subkeys) {
  sim_network net;
  auto nodes = make_swarm(net, 10);
  BOOST_REQUIRE(**net.store(nodes[1], make(net, "group", "peer-a", 100, "a")));
  BOOST_REQUIRE(**net.store(nodes[2], make(net, "group", "peer-b", 50, "b")));
  BOOST_REQUIRE(**net.store(nodes[3], make(net, "group", "peer-c", 200, "c")));
  auto got = net.get(nodes[9], "group", true);
  BOOST_TEST(got.size() == 3u);
  net.now += 60; // b expires alone
  got = net.get(nodes[8], "group", true);
  std::set<std::string> subkeys;
  for (const auto& r : got)
    subkeys.insert(r.subkey);
  BOOST_TEST((subkeys == std::set<std::string>{"a", "c"}));
}

BOOST_AUTO_TEST_CASE(owned_keys_accept_only_their_owners_signature) {
  sim_network net;
  auto nodes = make_swarm(net, 8);
  auto owner = identity::generate();
  auto intruder = identity::generate();
  auto key = "progress" + owner_marker(owner.public_key());
  auto rec = make(net, key, "epoch 3", 100);
  sign_record(rec, owner);
  BOOST_REQUIRE(**net.store(nodes[2], rec));

  auto forged = make(net, key, "epoch 999", 200);
  sign_record(forged, intruder);
  auto refused = net.store(nodes[4], forged);
  BOOST_REQUIRE(refused);
  BOOST_TEST(!*refused);
  BOOST_TEST(describe(refused->error()).find("does not verify") != std::string::npos);
  auto unsigned_rec = make(net, key, "epoch 999", 200);
  BOOST_TEST(!*net.store(nodes[4], unsigned_rec));

  // Pushed straight at every node over the wire, the forged record is
  // refused with a clear error and stored nowhere.
  dht_request req;
  req.sender = peer_info{identity::generate().id(), "", 0, std::string(32, 'x')};
  auto sender = identity::generate();
  req.sender = peer_info{sender.id(), "", 0, sender.public_key()};
  req.client_mode = true;
  req.kind = request_kind::store;
  req.records = {forged};
  for (auto& n : nodes) {
    auto resp = decode_response(raw_rpc(net, n, encode(req), sender.public_key()));
    BOOST_REQUIRE(resp);
    BOOST_REQUIRE(resp->stored.size() == 1u);
    BOOST_TEST(!resp->stored[0].accepted);
    BOOST_TEST(resp->stored[0].error.find("does not verify") != std::string::npos);
  }
  for (auto& n : nodes)
    BOOST_TEST(net.get(n, key, true).at(0).value == "epoch 3");
}

BOOST_AUTO_TEST_CASE(schema_bound_prefixes_refuse_other_values) {
  sim_network net;
  auto nodes = make_swarm(net, 6);
  auto bad = net.store(nodes[1], make(net, "example.x", "free text", 100));
  BOOST_REQUIRE(bad);
  BOOST_TEST(!*bad);
  BOOST_TEST(describe(bad->error()).find("ExampleValue") != std::string::npos);
  BOOST_TEST(net.get(nodes[3], "example.x").empty());
}

BOOST_AUTO_TEST_CASE(client_mode_nodes_store_and_get_but_are_never_routed_to) {
  sim_network net;
  auto nodes = make_swarm(net, 16);
  auto client_cfg = net.config(0, 77);
  auto client_id = client_cfg.self.id();
  auto client = net.spawn(client_cfg);
  BOOST_TEST(net.bootstrap(client, {"10.0.0.1:5"}) > 0);
  BOOST_REQUIRE(**net.store(client, make(net, "from-client", "hello", 100)));
  BOOST_TEST(net.get(nodes[11], "from-client").at(0).value == "hello");
  BOOST_REQUIRE(**net.store(nodes[6], make(net, "to-client", "hi", 100)));
  BOOST_TEST(net.get(client, "to-client").at(0).value == "hi");
  // No server lists the client among the peers it would route to.
  auto asker = identity::generate();
  dht_request find;
  find.sender = peer_info{asker.id(), "", 0, asker.public_key()};
  find.client_mode = true;
  find.kind = request_kind::find;
  find.key_ids = {client_id};
  for (auto& n : nodes) {
    auto resp = decode_response(raw_rpc(net, n, encode(find), asker.public_key()));
    BOOST_REQUIRE(resp);
    for (const auto& p : resp->found.at(0).nearest)
      BOOST_TEST(p.id != client_id);
  }
}

BOOST_AUTO_TEST_CASE(dead_peers_are_routed_around) {
  sim_network net;
  auto nodes = make_swarm(net, 24);
  for (int i = 0; i < 24; ++i)
    BOOST_REQUIRE(**net.store(nodes[static_cast<size_t>(i)],
                              make(net, "k" + std::to_string(i), "v" + std::to_string(i), 600)));
  // A third of the swarm dies; every value had 5 replicas.
  for (size_t i = 16; i < 24; ++i)
    net.kill(nodes[i]);
  nodes.resize(16);
  size_t found = 0;
  for (auto& reader : nodes)
    for (int i = 0; i < 24; ++i)
      found += net.get(reader, "k" + std::to_string(i)).size();
  BOOST_TEST(found == 16u * 24u);
  // New stores still reach live replicas.
  BOOST_TEST(**net.store(nodes[3], make(net, "after", "death", 100)));
  BOOST_TEST(net.get(nodes[12], "after").size() == 1u);
}

BOOST_AUTO_TEST_CASE(bad_requests_get_a_clear_error_and_change_nothing) {
  sim_network net;
  auto nodes = make_swarm(net, 4);
  auto liar = identity::generate();
  auto check_error = [&](const std::string& bytes, const std::string& expected) {
    auto resp = decode_response(raw_rpc(net, nodes[1], bytes, liar.public_key()));
    BOOST_REQUIRE(resp);
    BOOST_TEST(resp->error.find(expected) != std::string::npos, resp->error);
  };
  check_error("garbage", "whole number");
  check_error(std::string(64, '\xff'), "malformed");
  // A sender whose id is not the hash of its public key.
  dht_request req;
  req.sender = peer_info{identity::generate().id(), "10.0.0.9", 9, liar.public_key()};
  req.kind = request_kind::ping;
  check_error(encode(req), "names another sender");
  // A request naming another, real peer than the one the wire proved: the
  // liar cannot plant a victim's identity (and address) in routing tables.
  auto victim = identity::generate();
  req.sender = peer_info{victim.id(), "10.0.0.9", 9, victim.public_key()};
  check_error(encode(req), "names another sender");
  // An expired record pushed over the wire is refused, not stored.
  req.sender = peer_info{liar.id(), "", 0, liar.public_key()};
  req.client_mode = true;
  req.kind = request_kind::store;
  req.records = {make(net, "stale", "x", -5)};
  auto resp = decode_response(raw_rpc(net, nodes[2], encode(req), liar.public_key()));
  BOOST_REQUIRE(resp);
  BOOST_TEST(!resp->stored.at(0).accepted);
  BOOST_TEST(resp->stored.at(0).error == "record has expired");
  // The node keeps serving.
  BOOST_TEST(**net.store(nodes[1], make(net, "still", "fine", 100)));
  BOOST_TEST(net.get(nodes[3], "still").size() == 1u);
  // And the refusals were logged.
  size_t refusals = 0;
  for (const auto& line : net.log)
    refusals += line.find("refused") != std::string::npos ? 1 : 0;
  BOOST_TEST(refusals >= 4u);
}

BOOST_AUTO_TEST_CASE(records_and_known_peers_survive_a_restart_in_rocksdb) {
  char tmpl[] = "/tmp/ttt-dht-db-XXXXXX";
  BOOST_REQUIRE(::mkdtemp(tmpl) != nullptr);
  std::string dir = tmpl;
  auto db = storage::database::open(dir);
  BOOST_REQUIRE(db);
  double restart_time = 0;
  identity keeper = identity::generate();
  {
    sim_network net;
    auto nodes = make_swarm(net, 6);
    auto cfg = net.config(100, 5);
    cfg.self = keeper;
    cfg.db = db->get();
    auto node = net.spawn(cfg);
    BOOST_REQUIRE(net.bootstrap(node, {"10.0.0.1:1"}) > 0);
    // Stored on this node directly over the wire, so it is surely a replica.
    auto sender = identity::generate();
    dht_request req;
    req.sender = peer_info{sender.id(), "", 0, sender.public_key()};
    req.client_mode = true;
    req.kind = request_kind::store;
    req.records = {make(net, "long", "lived", 1000), make(net, "short", "lived", 10),
                   make(net, "dict", "x", 1000, "a")};
    auto resp = decode_response(raw_rpc(net, node, encode(req), sender.public_key()));
    BOOST_REQUIRE(resp);
    for (const auto& r : resp->stored)
      BOOST_TEST(r.accepted);
    restart_time = net.now + 100; // "short" expires while the node is down
  }
  size_t routing_rows = 0;
  (*db)->for_each(storage::column::routing, [&](std::string_view, std::string_view) {
    ++routing_rows;
    return true;
  });
  BOOST_TEST(routing_rows > 0u);
  {
    sim_network net;
    net.now = restart_time;
    auto nodes = make_swarm(net, 6);
    auto cfg = net.config(100, 5);
    cfg.self = keeper;
    cfg.db = db->get();
    auto node = net.spawn(cfg);
    // Rejoins from its saved peers alone.
    BOOST_TEST(net.bootstrap(node, {}) > 0);
    // Serves what it stored before the restart, straight from its own store.
    auto asker = identity::generate();
    dht_request find;
    find.sender = peer_info{asker.id(), "", 0, asker.public_key()};
    find.client_mode = true;
    find.kind = request_kind::find;
    find.key_ids = {node_id::of_key("long"), node_id::of_key("short"), node_id::of_key("dict")};
    auto resp = decode_response(raw_rpc(net, node, encode(find), asker.public_key()));
    BOOST_REQUIRE(resp);
    BOOST_REQUIRE(resp->found.size() == 3u);
    BOOST_TEST(resp->found[0].records.at(0).value == "lived");
    BOOST_TEST(resp->found[1].records.empty()); // expired: never returned
    BOOST_TEST(resp->found[2].records.at(0).subkey == "a");
    bool logged = false;
    for (const auto& line : net.log)
      logged = logged || (line.find("loaded 2 records") != std::string::npos &&
                          line.find("1 expired") != std::string::npos);
    BOOST_TEST(logged);
  }
  // The expired record is gone from disk too.
  size_t record_rows = 0;
  (*db)->for_each(storage::column::dht_records, [&](std::string_view, std::string_view) {
    ++record_rows;
    return true;
  });
  BOOST_TEST(record_rows == 2u);
  db->reset();
  std::system(("rm -rf '" + dir + "'").c_str());
}
