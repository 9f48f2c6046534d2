// A liar with a valid identity of the run, speaking ttt's real wire to real
// `ttt node` processes on loopback, tries each storage attack of THREATS.md
// on every node: a plain value over a dictionary, an expiration 1e12 s
// ahead, a plain value where a run's owned entries live, 257 entries under
// one key, a find naming one id 64 times, and thousands of records. Each is
// refused with a clear reason, and the honest peers' records stay readable
// (with the `ttt dht` commands, from every node).
#define BOOST_TEST_MODULE adversary_dht
#include <boost/test/unit_test.hpp>

#include "actors/dht/dht_node.hpp"
#include "actors/dht/protocol.hpp"
#include "tests/adversary/wire_client.hpp"
#include "tests/common/process.hpp"

#include <memory>

using namespace ttt;
using namespace ttt::test;

namespace {

struct node_handle {
  std::unique_ptr<process> proc;
  std::string id_hex;
  std::string address; ///< HOST:PORT
  uint16_t port = 0;
  std::string contact() const { return id_hex + "@" + address; }
};

struct swarm {
  temp_dir tmp;
  std::vector<node_handle> nodes;
  int counter = 0;

  node_handle start(const std::vector<std::string>& join) {
    auto n = std::to_string(nodes.size());
    std::vector<std::string> argv = {ttt_binary(), "node", "--profile", TTT_SOURCE_DIR "/configs/node.ini",
                                     "--listen", "127.0.0.1:0", "--data-dir", tmp.path() + "/node" + n};
    for (const auto& j : join) {
      argv.push_back("--initial-peer");
      argv.push_back(j);
    }
    node_handle h;
    h.proc = std::make_unique<process>(argv, tmp.path() + "/node" + n + ".log");
    auto ready = h.proc->wait_for("ttt node ([0-9a-f]{40}) listening on (127\\.0\\.0\\.1:([0-9]+))");
    BOOST_REQUIRE_MESSAGE(ready, h.proc->output());
    h.id_hex = (*ready)[1];
    h.address = (*ready)[2];
    h.port = static_cast<uint16_t>(std::stoi((*ready)[3]));
    return h;
  }

  std::pair<int, std::string> dht(std::vector<std::string> args, size_t via = 0) {
    args.insert(args.begin(), {ttt_binary(), "dht"});
    args.push_back("--initial-peer");
    args.push_back(nodes.at(via).contact());
    return run(args, tmp.path() + "/cli" + std::to_string(counter++) + ".log");
  }
};

dht::dht_record record(std::string key, std::string value, double ttl) {
  dht::dht_record r;
  r.key = std::move(key);
  r.value = std::move(value);
  r.expiration = dht::wall_clock_seconds() + ttl;
  return r;
}

dht::dht_record entry(std::string key, std::string subkey, std::string value, double ttl) {
  auto r = record(std::move(key), std::move(value), ttl);
  r.subkey = std::move(subkey);
  r.has_subkey = true;
  return r;
}

size_t accepted(const std::vector<dht::store_result>& results) {
  size_t n = 0;
  for (const auto& r : results)
    n += r.accepted ? 1 : 0;
  return n;
}

/// True when every refusal among `results` says `why`.
bool refused_because(const std::vector<dht::store_result>& results, const std::string& why) {
  for (const auto& r : results)
    if (!r.accepted && r.error.find(why) == std::string::npos)
      return false;
  return true;
}

} // namespace

BOOST_AUTO_TEST_CASE(a_liar_cannot_overwrite_outlive_crowd_out_or_fill_the_store) {
  swarm s;
  s.nodes.push_back(s.start({}));
  s.nodes.push_back(s.start({s.nodes[0].contact()}));
  s.nodes.push_back(s.start({s.nodes[0].contact()}));
  // The honest peers' dictionary, stored through the swarm.
  for (const char* who : {"alice", "bob"}) {
    auto [rc, out] = s.dht({"store", "shared", std::string("value-of-") + who, "--subkey", who});
    BOOST_REQUIRE_MESSAGE(rc == 0, out);
  }
  auto mallory = identity::generate();
  for (auto& node : s.nodes) {
    wire_liar liar(mallory, node.port);
    // 1. A plain value with a later expiration over the dictionary.
    auto plain = liar.store({record("shared", "mine now", 590)});
    BOOST_TEST(accepted(plain) == 0u);
    BOOST_TEST(refused_because(plain, "other kind"), plain.at(0).error);
    // 2. An expiration in the year 33000 (the most the codec lets through),
    // on a fresh key and in the dictionary.
    auto forever = record("forever", "x", 0);
    forever.expiration = 0.999e12;
    auto forever_entry = entry("shared", "mallory", "x", 0);
    forever_entry.expiration = 0.999e12;
    auto far = liar.store({forever, forever_entry});
    BOOST_TEST(accepted(far) == 0u);
    BOOST_TEST(refused_because(far, "ahead"), far.at(0).error);
    // 3. A plain value where the run's progress records live.
    auto progress = liar.store({record("progress.ttt-demo", "x", 60)});
    BOOST_TEST(accepted(progress) == 0u);
    BOOST_TEST(refused_because(progress, "dictionary entries whose subkey names their owner"),
               progress.at(0).error);
    // 4. 257 entries under one key (readers accept 256): one sender gets 16.
    std::vector<dht::dht_record> crowd;
    for (int i = 0; i < 256; ++i)
      crowd.push_back(entry("crowded", "m" + std::to_string(i), "junk", 600));
    auto crowded = liar.store(crowd);
    crowded.push_back(liar.store({entry("crowded", "m256", "junk", 600)}).at(0));
    BOOST_TEST(accepted(crowded) == 16u);
    BOOST_TEST(refused_because(crowded, "quota"));
    // 5. One id 64 times in a find: refused whole, built never.
    auto find = liar.request(dht::request_kind::find);
    find.key_ids.assign(64, node_id::of_key("shared"));
    auto answer = liar.call(find);
    BOOST_TEST(answer.error.find("more than once") != std::string::npos, answer.error);
    BOOST_TEST(answer.found.empty());
  }
  // 6. Thousands of records on one node: past the sender's quota (4096
  // records) each is refused, and says why.
  {
    wire_liar liar(mallory, s.nodes[1].port);
    size_t stored = 0;
    std::vector<dht::store_result> last;
    for (int batch = 0; batch < 20; ++batch) {
      std::vector<dht::dht_record> junk;
      for (int i = 0; i < 256; ++i)
        junk.push_back(record("junk." + std::to_string(batch) + "." + std::to_string(i), "x", 600));
      last = liar.store(junk);
      stored += accepted(last);
    }
    BOOST_TEST(stored <= 4096u);
    BOOST_TEST(stored >= 4000u); // the quota, not something else, stopped it
    BOOST_TEST(accepted(last) == 0u);
    BOOST_TEST(refused_because(last, "quota"), last.at(0).error);
  }
  // The honest records are whole on every node, and honest stores go on:
  // into the key the liar crowded too.
  auto [rc, out] = s.dht({"store", "crowded", "value-of-carol", "--subkey", "carol"}, 2);
  BOOST_REQUIRE_MESSAGE(rc == 0, out);
  for (size_t via = 0; via < s.nodes.size(); ++via) {
    auto [grc, got] = s.dht({"get", "shared"}, via);
    BOOST_REQUIRE_MESSAGE(grc == 0, got);
    BOOST_TEST(got.find("value-of-alice") != std::string::npos, got);
    BOOST_TEST(got.find("value-of-bob") != std::string::npos, got);
    BOOST_TEST(got.find("mine now") == std::string::npos, got);
    auto [crc, crowded] = s.dht({"get", "crowded"}, via);
    BOOST_REQUIRE_MESSAGE(crc == 0, crowded);
    BOOST_TEST(crowded.find("value-of-carol") != std::string::npos, crowded);
  }
  for (auto& node : s.nodes)
    BOOST_TEST(node.proc->running());
  // Each node said what it refused, once per request.
  BOOST_TEST(s.nodes[1].proc->wait_for("refused 256 of 256 records from .*quota").has_value(),
             s.nodes[1].proc->output());
}
