// The monitor role: trainers' signed metrics records in the DHT, aggregated
// per epoch into RocksDB history and one log line per epoch.
#define BOOST_TEST_MODULE monitor
#include <boost/test/unit_test.hpp>

#include "actors/dht/validator.hpp"
#include "actors/metrics/monitor.hpp"
#include "storage/database.hpp"
#include "tests/dht/printing.hpp"
#include "tests/dht/sim_network.hpp"

#include <cstdlib>
#include <unistd.h>

using namespace ttt;
using namespace ttt::metrics;
using ttt::test::sim_network;

namespace {

/// Publishes `m` for `who` under the run's metrics key, signed by `signer`.
void publish(sim_network& net, const dht::dht_actor& via, const identity& signer, peer_metrics m) {
  dht::dht_record rec;
  rec.key = metrics_key("run1");
  rec.subkey = dht::owner_marker(signer.public_key());
  rec.has_subkey = true;
  rec.value = encode(m);
  rec.expiration = net.now + 120;
  dht::sign_record(rec, signer);
  auto ok = net.store(via, rec);
  BOOST_REQUIRE(ok && *ok && **ok);
}

peer_metrics figures(const identity& who, uint64_t step, double loss, uint32_t mini_steps,
                     double rate, double time) {
  return peer_metrics{who.id(), step, rate, 64, loss, mini_steps, time};
}

} // namespace

BOOST_AUTO_TEST_CASE(summarize_takes_the_latest_live_step) {
  auto a = identity::generate(), b = identity::generate(), c = identity::generate();
  std::vector<peer_metrics> r = {figures(a, 5, 8.0, 4, 10, 100), figures(b, 5, 4.0, 4, 20, 100),
                                 figures(c, 4, 100.0, 1, 99, 100)};
  auto s = summarize(r, 101, 60);
  BOOST_REQUIRE(s);
  BOOST_TEST(s->step == 5u);
  BOOST_TEST(s->alive_peers == 2u);
  BOOST_TEST(s->mean_loss == 1.5); // (8 + 4) / (4 + 4)
  BOOST_TEST(s->samples_per_second == 30.0);
  BOOST_TEST(s->samples == 128u);
  BOOST_TEST(!summarize(r, 1000, 60)); // all stale
}

BOOST_AUTO_TEST_CASE(monitor_aggregates_each_epoch_once_into_its_history) {
  char tmpl[] = "/tmp/ttt-monitor-XXXXXX";
  BOOST_REQUIRE(::mkdtemp(tmpl) != nullptr);
  std::string dir = tmpl;
  auto db = storage::database::open(dir);
  BOOST_REQUIRE(db);
  {
    sim_network net;
    std::vector<dht::dht_actor> nodes;
    for (uint16_t i = 1; i <= 6; ++i) {
      nodes.push_back(net.spawn(net.config(i, 40 + i)));
      if (i > 1)
        net.bootstrap(nodes.back(), {"10.0.0.1:1"});
    }
    auto t1 = identity::generate(), t2 = identity::generate(), liar = identity::generate();
    monitor_config mc;
    mc.dht = nodes[0];
    mc.run_id = "run1";
    mc.db = db->get();
    mc.clock = [&] { return net.now; };
    mc.poll_interval = std::chrono::seconds(1);
    std::vector<std::string> lines;
    mc.log = [&](const std::string& line) { lines.push_back(line); };
    mc.board = std::make_shared<dashboard_board>();
    // The node verifies certificates against the run's manifest; here a
    // stand-in that knows one.
    mc.name_of = [](const node_id&, const std::string& certificate) {
      return certificate == "t1's certificate" ? std::string("Alice <b>") : std::string();
    };
    auto monitor = spawn_monitor(net.system(), mc);
    auto tick = [&] {
      net.now += 1;
      net.sched().clock().advance_time(std::chrono::seconds(1));
      net.settle();
    };
    publish(net, nodes[2], t1, figures(t1, 1, 12.0, 4, 10, net.now));
    publish(net, nodes[3], t2, figures(t2, 1, 8.0, 4, 30, net.now));
    // A record signed by one peer but claiming another's id is ignored.
    publish(net, nodes[4], liar, figures(t1, 1, 1000.0, 1, 1000, net.now));
    tick();
    tick();
    auto certified = figures(t1, 2, 6.0, 4, 10, net.now);
    certified.certificate = "t1's certificate";
    publish(net, nodes[2], t1, certified);
    tick();
    tick();
    BOOST_REQUIRE(lines.size() == 2u);
    BOOST_TEST(lines[0] == "epoch 1: loss 2.5000, 2 alive peers, 40.0 samples/s, 128 samples");
    BOOST_TEST(lines[1] == "epoch 2: loss 1.5000, 1 alive peers, 10.0 samples/s, 64 samples");
    // The dashboard's board saw the same epochs, both peers and the refused record.
    auto view = mc.board->view();
    BOOST_TEST(view.run_id == "run1");
    BOOST_REQUIRE(view.history.size() == 2u);
    BOOST_TEST(view.history[1].mean_loss == 1.5);
    BOOST_TEST(view.peers.size() == 2u);
    BOOST_TEST(view.refused_records >= 1u);
    // The name its certificate gives t1, on the page (escaped) and in JSON.
    size_t named = 0;
    for (const auto& p : view.peers)
      named += p.name == "Alice <b>" && p.peer == t1.id() ? 1 : 0;
    BOOST_TEST(named == 1u);
    BOOST_TEST(render_page(view).find("Alice &lt;b&gt;") != std::string::npos);
    BOOST_TEST(render_json(view).find("\"name\":\"Alice <b>\"") != std::string::npos);
    caf::anon_send_exit(monitor, caf::exit_reason::user_shutdown);
  }
  auto history = read_history(**db);
  BOOST_REQUIRE(history.size() == 2u);
  BOOST_TEST(history[0].step == 1u);
  BOOST_TEST(history[1].mean_loss == 1.5);
  db->reset();
  std::system(("rm -rf '" + dir + "'").c_str());
}
