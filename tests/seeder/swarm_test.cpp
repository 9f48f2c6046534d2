// Real nodes in one process over TCP on loopback: a seeder node (wire, DHT,
// seeder) and a client-mode joiner. The joiner finds the seeder's listing in
// the DHT and fetches every file into a fresh directory, each verified; a
// file corrupted on its first read is detected by its digest and fetched
// again; a .part left by an interrupted fetch is completed, not restarted; a
// budget takes a subset of the training shards. Over the wire, a seeder
// refuses names it does not list and chunks too long, and a node without a
// seeder answers with an error instead of leaving the caller waiting.
#define BOOST_TEST_MODULE seeder_swarm
#include <boost/test/unit_test.hpp>

#include "actors/common/describe.hpp"
#include "actors/common/types.hpp"
#include "actors/dht/dht_node.hpp"
#include "actors/seeder/fetch.hpp"
#include "actors/seeder/listing.hpp"
#include "actors/seeder/seeder.hpp"
#include "actors/wire/wire.hpp"
#include "tests/seeder/test_files.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <thread>

using namespace ttt;
using namespace std::chrono_literals;

namespace {

constexpr const char* run_id = "seeder-test";

struct config : caf::actor_system_config {
  config() {
    load<caf::io::middleman>();
    add_message_types<caf::id_block::ttt>();
    set("logger.verbosity", caf::atom("quiet"));
    set("scheduler.policy", caf::atom("sharing"));
  }
};

/// One node: a wire (listening unless client mode) and a DHT node, and a
/// seeder when given a directory.
struct node {
  identity me = identity::generate();
  caf::actor wire;
  dht::dht_actor dht;
  seeder::seeder_actor seeder;
  uint16_t port = 0;

  std::string address() const { return "127.0.0.1:" + std::to_string(port); }
  std::string contact() const { return me.id().to_hex() + "@" + address(); }

  void stop() {
    for (auto a : {caf::actor_cast<caf::actor>(seeder), caf::actor_cast<caf::actor>(dht), wire})
      if (a)
        caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  }
};

node start_node(caf::actor_system& sys, bool client_mode, const std::string& shards = {},
                seeder::shard_server::tamper_fn tamper = {}) {
  node n;
  wire::wire_config wc;
  wc.self = n.me;
  wc.run_id = run_id;
  if (!client_mode) {
    auto listening = wire::listen("127.0.0.1", 0);
    BOOST_REQUIRE(listening);
    wc.listen_fd = listening->first;
    n.port = listening->second;
  }
  n.wire = wire::spawn_wire(sys, wc);
  dht::dht_config dc;
  dc.self = n.me;
  dc.client_mode = client_mode;
  if (!client_mode) {
    dc.host = "127.0.0.1";
    dc.port = n.port;
  }
  dc.transport = n.wire;
  n.dht = dht::spawn_dht_node(sys, dc);
  caf::anon_send(n.wire, wire_routes_atom_v, caf::actor_cast<caf::actor>(n.dht), caf::actor{});
  if (!shards.empty()) {
    seeder::seeder_config sc;
    sc.dir = shards;
    sc.run_id = run_id;
    sc.self = n.me;
    sc.host = "127.0.0.1";
    sc.port = n.port;
    sc.dht = n.dht;
    sc.clock = dht::wall_clock_seconds;
    sc.tamper = std::move(tamper);
    n.seeder = seeder::spawn_seeder(sys, sc);
    caf::anon_send(n.wire, wire_seeder_atom_v, caf::actor_cast<caf::actor>(n.seeder));
  }
  return n;
}

/// The files of a small run, as a seeder's directory holds them.
struct run_files {
  test::scratch_dir dir;
  std::map<std::string, std::string> bytes;

  run_files() {
    bytes["tokenizer.model"] = test::pseudo_random_bytes(20'000, 1);
    bytes["codebook.safetensors"] = test::pseudo_random_bytes(700'000, 2);
    bytes["image_coder.json"] = "{\"kind\": \"codebook\"}";
    bytes["dalle-tiny.ini"] = "[model]\ndim = 64\n";
    bytes["valid-00000.shard"] = test::pseudo_random_bytes(300'000, 3);
    for (int i = 0; i < 4; ++i)
      bytes["train-0000" + std::to_string(i) + ".shard"] =
          test::pseudo_random_bytes(1'200'000 + 1000 * i, 10 + i);
    for (const auto& [name, content] : bytes)
      test::write_file(dir / name, content);
  }

  uint64_t total() const {
    uint64_t sum = 0;
    for (const auto& [name, content] : bytes)
      sum += content.size();
    return sum;
  }
};

/// Joins `client` through `seeder_node` and waits (bounded) until the
/// seeder's listing can be read.
void join_and_wait_for_listing(caf::scoped_actor& self, const node& client,
                               const node& seeder_node) {
  size_t known = 0;
  self->request(client.dht, 20s, bootstrap_atom_v, std::vector<std::string>{seeder_node.contact()})
      .receive([&](size_t n) { known = n; }, [](caf::error& err) { BOOST_FAIL(describe(err)); });
  BOOST_REQUIRE(known > 0u);
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    size_t listings = 0;
    self->request(client.dht, 10s, dht_get_atom_v, seeder::shards_key(run_id), true)
        .receive(
            [&](dht::dht_records& records) { listings = seeder::read_listings(records).size(); },
            [](caf::error&) {});
    if (listings > 0)
      return;
    std::this_thread::sleep_for(50ms);
  }
  BOOST_FAIL("the seeder's listing never appeared in the DHT");
}

caf::expected<seeder::download_report> fetch(caf::scoped_actor& self, const node& client,
                                             const std::string& dir, uint64_t max_bytes = 0) {
  seeder::fetch_options fo;
  fo.run_id = run_id;
  fo.max_bytes = max_bytes;
  fo.picker = std::string(client.me.id().raw());
  fo.download.dir = dir;
  fo.download.log = [](const std::string& line) { BOOST_TEST_MESSAGE(line); };
  return seeder::fetch_shards(self, client.dht, client.wire, fo);
}

/// A data call through `from`'s wire to `to`, decoded.
wire::data_response call(caf::scoped_actor& self, const node& from, const node& to,
                         const wire::data_request& req) {
  wire::data_response out;
  self->request(from.wire, 20s, data_call_atom_v, to.address(), std::string(to.me.id().raw()),
                encode(req))
      .receive(
          [&](std::string& key, std::string& body) {
            BOOST_TEST(key == to.me.public_key());
            auto decoded = wire::decode_data_response(body);
            BOOST_REQUIRE_MESSAGE(decoded, test::why(decoded));
            out = std::move(*decoded);
          },
          [](caf::error& err) { BOOST_FAIL(describe(err)); });
  return out;
}

} // namespace

BOOST_AUTO_TEST_CASE(a_fresh_joiner_gets_every_file_and_refetches_the_one_corrupted_in_transit) {
  run_files run;
  test::scratch_dir out;
  config cfg;
  caf::actor_system sys(cfg);
  caf::scoped_actor self{sys};
  // The codebook's first chunk is corrupted once, as a bad link or a bad
  // disk read would: the wire's AEAD cannot see it, only the digest can.
  auto corrupted = std::make_shared<std::atomic<int>>(0);
  auto seeder_node = start_node(
      sys, false, run.dir.path(),
      [corrupted](const std::string& name, uint64_t offset, std::string& bytes) {
        if (name == "codebook.safetensors" && offset == 0 && corrupted->fetch_add(1) == 0)
          bytes[100] ^= 0x01;
      });
  auto client = start_node(sys, true);
  join_and_wait_for_listing(self, client, seeder_node);

  auto report = fetch(self, client, out / "data");
  BOOST_REQUIRE_MESSAGE(report, test::why(report));
  BOOST_TEST(report->files == run.bytes.size());
  BOOST_TEST(report->fetched == run.bytes.size());
  BOOST_TEST(report->corrupt == 1u);
  BOOST_TEST(corrupted->load() == 2); // the bad copy, then the good one
  BOOST_TEST(report->bytes_transferred == run.total() + run.bytes["codebook.safetensors"].size());
  for (const auto& [name, content] : run.bytes) {
    BOOST_TEST(test::read_file(out / ("data/" + name)) == content, name);
    BOOST_TEST(!std::filesystem::exists(out / ("data/" + name + ".part")), name);
  }

  // Fetched again: everything is there, nothing crosses the wire.
  auto again = fetch(self, client, out / "data");
  BOOST_REQUIRE_MESSAGE(again, test::why(again));
  BOOST_TEST(again->fetched == 0u);
  BOOST_TEST(again->bytes_transferred == 0u);

  client.stop();
  seeder_node.stop();
}

BOOST_AUTO_TEST_CASE(an_interrupted_fetch_resumes_from_its_part_file) {
  run_files run;
  test::scratch_dir out;
  config cfg;
  caf::actor_system sys(cfg);
  caf::scoped_actor self{sys};
  auto seeder_node = start_node(sys, false, run.dir.path());
  auto client = start_node(sys, true);
  join_and_wait_for_listing(self, client, seeder_node);

  // A fetch that stopped halfway through a shard (one not chunk-aligned).
  const std::string name = "train-00001.shard";
  const auto& shard = run.bytes[name];
  auto half = shard.size() / 2 + 12345;
  std::filesystem::create_directories(out / "data");
  test::write_file(out / ("data/" + name + ".part"), shard.substr(0, half));
  auto report = fetch(self, client, out / "data");
  BOOST_REQUIRE_MESSAGE(report, test::why(report));
  BOOST_TEST(report->corrupt == 0u);
  BOOST_TEST(report->bytes_transferred == run.total() - half);
  BOOST_TEST(test::read_file(out / ("data/" + name)) == shard);

  client.stop();
  seeder_node.stop();
}

BOOST_AUTO_TEST_CASE(a_budget_takes_a_subset_of_the_training_shards) {
  run_files run;
  test::scratch_dir out;
  config cfg;
  caf::actor_system sys(cfg);
  caf::scoped_actor self{sys};
  auto seeder_node = start_node(sys, false, run.dir.path());
  auto client = start_node(sys, true);
  join_and_wait_for_listing(self, client, seeder_node);

  uint64_t support = 0;
  for (const auto& [name, content] : run.bytes)
    if (name.rfind("train-", 0) != 0)
      support += content.size();
  const uint64_t budget = support + 2'500'000; // two of the four 1.2 MB shards
  auto report = fetch(self, client, out / "data", budget);
  BOOST_REQUIRE_MESSAGE(report, test::why(report));
  BOOST_TEST(report->bytes <= budget);
  BOOST_TEST(report->bytes_transferred == report->bytes);
  size_t shards = 0;
  for (const auto& [name, content] : run.bytes) {
    bool there = std::filesystem::exists(out / ("data/" + name));
    if (name.rfind("train-", 0) == 0)
      shards += there ? 1 : 0;
    else
      BOOST_TEST(there, name);
    if (there)
      BOOST_TEST(test::read_file(out / ("data/" + name)) == content, name);
  }
  BOOST_TEST(shards == 2u);

  client.stop();
  seeder_node.stop();
}

BOOST_AUTO_TEST_CASE(
    over_the_wire_a_seeder_refuses_what_it_does_not_list_and_others_say_they_serve_nothing) {
  run_files run;
  test::write_file(run.dir / "secret.key", "not a data file");
  config cfg;
  caf::actor_system sys(cfg);
  caf::scoped_actor self{sys};
  auto seeder_node = start_node(sys, false, run.dir.path());
  auto plain = start_node(sys, false);
  auto client = start_node(sys, true);

  wire::data_request list;
  auto listed = call(self, client, seeder_node, list);
  BOOST_REQUIRE((listed.what == wire::data_response::kind::list));
  BOOST_TEST(listed.files.size() == run.bytes.size());

  wire::data_request chunk;
  chunk.what = wire::data_request::kind::chunk;
  chunk.name = "secret.key";
  chunk.length = 100;
  auto unlisted = call(self, client, seeder_node, chunk);
  BOOST_TEST((unlisted.what == wire::data_response::kind::error));
  BOOST_TEST(unlisted.error.find("not a file this seeder serves") != std::string::npos,
             unlisted.error);

  chunk.name = "train-00000.shard";
  chunk.length = wire::transfer_limits::max_chunk_bytes + 1;
  auto too_long = call(self, client, seeder_node, chunk);
  BOOST_TEST((too_long.what == wire::data_response::kind::error));
  BOOST_TEST(too_long.error.find("bytes (1 to") != std::string::npos, too_long.error);

  auto nothing = call(self, client, plain, list);
  BOOST_TEST((nothing.what == wire::data_response::kind::error));
  BOOST_TEST(nothing.error.find("serves no data") != std::string::npos, nothing.error);

  client.stop();
  plain.stop();
  seeder_node.stop();
}
