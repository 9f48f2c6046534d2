// The monitor role: trainers' signed metrics records in the DHT, aggregated
// per epoch into RocksDB history and one log line per epoch.
#define BOOST_TEST_MODULE monitor
#include <boost/test/unit_test.hpp>

#include "actors/dht/validator.hpp"
#include "actors/common/capnp_io.hpp"
#include "actors/metrics/monitor.hpp"
#include "schema/progress.capnp.h"
#include "storage/database.hpp"
#include "tests/dht/printing.hpp"
#include "tests/dht/sim_network.hpp"

#include <capnp/schema.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <unistd.h>

namespace tt = boost::test_tools;

using namespace ttt;
using namespace ttt::metrics;
using ttt::test::sim_network;

namespace {

/// Publishes `value` under the run's metrics key, signed by `signer`.
void publish_bytes(sim_network& net, const dht::dht_actor& via, const identity& signer, std::string value) {
  dht::dht_record rec;
  rec.key = metrics_key("run1");
  rec.subkey = dht::owner_marker(signer.public_key());
  rec.has_subkey = true;
  rec.value = std::move(value);
  rec.expiration = net.now + 120;
  dht::sign_record(rec, signer);
  auto ok = net.store(via, rec);
  BOOST_REQUIRE(ok && *ok && **ok);
}

/// Publishes `m` under the run's metrics key, signed by `signer`.
void publish(sim_network& net, const dht::dht_actor& via, const identity& signer, const peer_metrics& m) {
  publish_bytes(net, via, signer, encode(m));
}

peer_metrics figures(const identity& who, uint64_t step, double loss, uint32_t mini_steps,
                     double rate, double time) {
  return peer_metrics{who.id(), step, rate, 64, loss, mini_steps, time};
}

clipped_peer clipped(const identity& who, uint32_t times, uint32_t rounds = 8, bool dropped = false) {
  return clipped_peer{who.id(), times, rounds, dropped};
}

/// A metrics record of `who` listing `entries` clipped peers, each with the
/// id bytes `peer_id` and the given counts: what a liar can send, bypassing
/// encode()'s bounds.
std::string raw_record(const identity& who, size_t entries, std::string_view peer_id, uint32_t times,
                       uint32_t rounds) {
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<schema::MetricsRecord>();
  root.setPeerId(capnp_io::as_data(who.id().raw()));
  root.setStep(1);
  root.setTime(1);
  auto list = root.initClipped(static_cast<unsigned>(entries));
  for (unsigned i = 0; i < entries; ++i) {
    list[i].setPeerId(capnp_io::as_data(peer_id));
    list[i].setClippedRounds(times);
    list[i].setRounds(rounds);
  }
  return capnp_io::to_bytes(message);
}

/// A metrics record of `who` whose eval score is `score`, whatever it is:
/// what a liar can send, bypassing encode()'s bound.
std::string raw_scored_record(const identity& who, double score) {
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<schema::MetricsRecord>();
  root.setPeerId(capnp_io::as_data(who.id().raw()));
  root.setStep(1);
  root.setTime(1);
  root.setEvalScore(score);
  return capnp_io::to_bytes(message);
}

/// `bytes`, a message of `Root`, as a writer from before `field` (a 64-bit
/// field of the data section) wrote it: the data section ends where that
/// field starts, so a reader sees its default (and that of the data words
/// after it, fields added later).
template <class Root>
std::string as_written_before(const std::string& bytes, const char* field) {
  auto words = kj::heapArray<capnp::word>(bytes.size() / sizeof(capnp::word));
  std::memcpy(words.begin(), bytes.data(), bytes.size());
  capnp::FlatArrayMessageReader reader(words.asPtr());
  auto root = reader.getRoot<capnp::AnyPointer>().getAs<capnp::AnyStruct>();
  auto proto = capnp::Schema::from<Root>().getProto().getStruct();
  auto old_words = capnp::Schema::from<Root>().getFieldByName(field).getProto().getSlot().getOffset();
  BOOST_REQUIRE(old_words < proto.getDataWordCount());
  auto pointers = root.getPointerSection();
  capnp::MallocMessageBuilder old;
  auto out = old.getRoot<capnp::AnyPointer>().initAsAnyStruct(static_cast<uint16_t>(old_words),
                                                              static_cast<uint16_t>(pointers.size()));
  std::memcpy(out.getDataSection().begin(), root.getDataSection().begin(), old_words * sizeof(capnp::word));
  for (unsigned i = 0; i < pointers.size(); ++i)
    out.getPointerSection()[i].set(pointers[i]);
  return capnp_io::to_bytes(old);
}

} // namespace

BOOST_AUTO_TEST_CASE(eval_scores_round_trip_and_a_score_outside_0_1_is_refused) {
  auto t1 = identity::generate(), other = identity::generate();
  auto m = figures(t1, 40, 3.6, 4, 10, 100);
  m.clipped = {clipped(other, 2)};
  // Most epochs carry none.
  auto back = decode_metrics(encode(m));
  BOOST_REQUIRE(back);
  BOOST_TEST(std::isnan(back->eval_score));
  for (double score : {0.72, 0.0, 1.0}) {
    m.eval_score = score;
    back = decode_metrics(encode(m));
    BOOST_REQUIRE(back);
    BOOST_TEST(back->eval_score == score);
    BOOST_TEST(back->loss == 3.6);
    BOOST_TEST(back->clipped.size() == 1u);
  }
  // A trainer from before eval scores: its record reads as one without.
  m.eval_score = 0.72;
  back = decode_metrics(as_written_before<schema::MetricsRecord>(encode(m), "evalScore"));
  BOOST_REQUIRE(back);
  BOOST_TEST(std::isnan(back->eval_score));
  BOOST_TEST(back->step == 40u);
  BOOST_TEST(back->loss == 3.6);
  BOOST_TEST(back->clipped.size() == 1u);
  // A reader refuses a score that is a number outside [0, 1].
  BOOST_TEST(static_cast<bool>(decode_metrics(raw_scored_record(t1, 0.5))));
  BOOST_TEST(static_cast<bool>(decode_metrics(raw_scored_record(t1, std::numeric_limits<double>::quiet_NaN()))));
  for (double hostile : {7.0, -1.0, 1.0000001, std::numeric_limits<double>::infinity(),
                         -std::numeric_limits<double>::infinity()})
    BOOST_TEST(!decode_metrics(raw_scored_record(t1, hostile)), hostile);
  // The writer leaves out a score a reader would refuse, and the rest of its
  // record still counts.
  m.eval_score = 7;
  back = decode_metrics(encode(m));
  BOOST_REQUIRE(back);
  BOOST_TEST(std::isnan(back->eval_score));
  BOOST_TEST(back->loss == 3.6);
}

BOOST_AUTO_TEST_CASE(summarize_means_the_eval_scores_of_the_live_reports_that_carry_one) {
  auto a = identity::generate(), b = identity::generate(), c = identity::generate();
  auto stale = identity::generate(), behind = identity::generate();
  auto ra = figures(a, 40, 4.0, 4, 10, 100), rb = figures(b, 40, 4.0, 4, 10, 100),
       rc = figures(c, 40, 4.0, 4, 10, 100);
  auto rstale = figures(stale, 40, 4.0, 4, 10, 10), rbehind = figures(behind, 39, 4.0, 4, 10, 100);
  ra.eval_score = 0.6;
  rb.eval_score = 0.9;
  rstale.eval_score = 0.0;  // not alive
  rbehind.eval_score = 0.0; // an earlier step
  auto s = summarize({ra, rb, rc, rstale, rbehind}, 101, 60);
  BOOST_REQUIRE(s);
  BOOST_TEST(s->step == 40u);
  BOOST_TEST(s->alive_peers == 3u);
  BOOST_TEST(s->eval_reporters == 2u);
  BOOST_TEST(s->eval_score == 0.75, tt::tolerance(1e-12));
  // A step nobody evaluated has none.
  s = summarize({rc, figures(a, 40, 4.0, 4, 10, 100)}, 101, 60);
  BOOST_REQUIRE(s);
  BOOST_TEST(std::isnan(s->eval_score));
  BOOST_TEST(s->eval_reporters == 0u);
}

BOOST_AUTO_TEST_CASE(snapshots_keep_their_eval_score_and_older_history_reads_as_none) {
  swarm_snapshot s;
  s.step = 40;
  s.alive_peers = 3;
  s.mean_loss = 0.91;
  s.time = 1000;
  auto back = decode_snapshot(encode(s));
  BOOST_REQUIRE(back);
  BOOST_TEST(std::isnan(back->eval_score));
  BOOST_TEST(back->eval_reporters == 0u);
  s.eval_score = 0.72;
  s.eval_reporters = 2;
  back = decode_snapshot(encode(s));
  BOOST_REQUIRE(back);
  BOOST_TEST(back->eval_score == 0.72);
  BOOST_TEST(back->eval_reporters == 2u);
  // History a monitor wrote before eval scores.
  s.eval_reporters = 0;
  back = decode_snapshot(as_written_before<schema::SwarmSnapshot>(encode(s), "evalScore"));
  BOOST_REQUIRE(back);
  BOOST_TEST(std::isnan(back->eval_score));
  BOOST_TEST(back->step == 40u);
  BOOST_TEST(back->mean_loss == 0.91);
}

BOOST_AUTO_TEST_CASE(clipped_reports_round_trip_and_hostile_lists_are_refused) {
  auto t1 = identity::generate(), attacker = identity::generate(), other = identity::generate();
  auto m = figures(t1, 3, 1.0, 1, 1, 100);
  m.clipped = {clipped(attacker, 7, 8, true), clipped(other, 1)};
  auto back = decode_metrics(encode(m));
  BOOST_REQUIRE(back);
  BOOST_REQUIRE(back->clipped.size() == 2u);
  BOOST_TEST(back->clipped[0].peer == attacker.id());
  BOOST_TEST(back->clipped[0].clipped_rounds == 7u);
  BOOST_TEST(back->clipped[0].rounds == 8u);
  BOOST_TEST(back->clipped[0].dropped);
  BOOST_TEST(!back->clipped[1].dropped);
  // The writer keeps its own records readable: at most 16 entries, counts
  // cut to what a reader accepts.
  m.clipped.assign(40, clipped(attacker, 5000, 5000));
  back = decode_metrics(encode(m));
  BOOST_REQUIRE(back);
  BOOST_TEST(back->clipped.size() == max_clipped_reports);
  BOOST_TEST(back->clipped[0].rounds == max_clip_rounds);
  // A reader refuses what no honest writer sends.
  std::string id(attacker.id().raw());
  BOOST_TEST(static_cast<bool>(decode_metrics(raw_record(t1, 16, id, 3, 8))));
  BOOST_TEST(!decode_metrics(raw_record(t1, 17, id, 3, 8)));       // too many entries
  BOOST_TEST(!decode_metrics(raw_record(t1, 1, "short", 3, 8)));   // not a peer id
  BOOST_TEST(!decode_metrics(raw_record(t1, 1, id, 9, 8)));        // more clipped than rounds
  BOOST_TEST(!decode_metrics(raw_record(t1, 1, id, 3, 1u << 30))); // an absurd window
  // A list far past every bound does not get through the size limit either.
  BOOST_TEST(!decode_metrics(raw_record(t1, 100000, id, 3, 8)));
}

BOOST_AUTO_TEST_CASE(summarize_clipped_counts_distinct_reporters_per_peer) {
  auto t1 = identity::generate(), t2 = identity::generate(), t3 = identity::generate();
  auto attacker = identity::generate(), suspect = identity::generate(), honest = identity::generate();
  auto r1 = figures(t1, 3, 1.0, 1, 1, 100);
  auto r2 = figures(t2, 3, 1.0, 1, 1, 100);
  auto r3 = figures(t3, 3, 1.0, 1, 1, 100);
  // t2 lists the attacker twice and itself once: still one reporter, and no
  // trainer vouches against itself. A peer never clipped and kept counts for
  // nothing.
  r1.clipped = {clipped(attacker, 7, 8, true), clipped(honest, 0)};
  r2.clipped = {clipped(attacker, 5), clipped(attacker, 6), clipped(t2, 8)};
  r3.clipped = {clipped(suspect, 8, 8, true)};
  auto summary = summarize_clipped({r1, r2, r3});
  BOOST_REQUIRE(summary.size() == 2u);
  // Two reporters outrank one, however sure the one is.
  BOOST_TEST(summary[0].peer == attacker.id());
  BOOST_TEST(summary[0].reporters == 2u);
  BOOST_TEST(summary[0].most_clipped == 7u);
  BOOST_TEST(summary[0].rounds == 8u);
  BOOST_TEST(summary[0].dropped_by == 1u);
  std::vector<node_id> both = {t1.id(), t2.id()};
  std::sort(both.begin(), both.end());
  BOOST_TEST((summary[0].reported_by == both));
  BOOST_TEST(summary[1].peer == suspect.id());
  BOOST_TEST(summary[1].reporters == 1u);
  BOOST_TEST(summary[1].dropped_by == 1u);
  // Every trainer's full list of different peers: the summary stays bounded.
  std::vector<peer_metrics> many;
  for (int t = 0; t < 20; ++t) {
    auto reporter = identity::generate();
    auto r = figures(reporter, 3, 1.0, 1, 1, 100);
    for (size_t i = 0; i < max_clipped_reports; ++i)
      r.clipped.push_back(clipped(identity::generate(), 3));
    r.clipped.push_back(clipped(attacker, 3));
    many.push_back(r);
  }
  auto bounded = summarize_clipped(many);
  BOOST_TEST(bounded.size() == max_clipped_shown);
  BOOST_TEST(bounded[0].peer == attacker.id());
  BOOST_TEST(bounded[0].reporters == 20u);
}

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

BOOST_AUTO_TEST_CASE(the_monitor_shows_a_peer_two_trainers_clipped_and_refuses_a_garbage_list) {
  sim_network net;
  std::vector<dht::dht_actor> nodes;
  for (uint16_t i = 1; i <= 4; ++i) {
    nodes.push_back(net.spawn(net.config(i, 80 + i)));
    if (i > 1)
      net.bootstrap(nodes.back(), {"10.0.0.1:1"});
  }
  auto t1 = identity::generate(), t2 = identity::generate(), t3 = identity::generate();
  auto liar = identity::generate(), attacker = identity::generate();
  monitor_config mc;
  mc.dht = nodes[0];
  mc.run_id = "run1";
  mc.clock = [&] { return net.now; };
  mc.poll_interval = std::chrono::seconds(1);
  std::vector<std::string> lines;
  mc.log = [&](const std::string& line) { lines.push_back(line); };
  mc.board = std::make_shared<dashboard_board>();
  auto monitor = spawn_monitor(net.system(), mc);
  auto tick = [&] {
    net.now += 1;
    net.sched().clock().advance_time(std::chrono::seconds(1));
    net.settle();
  };
  auto r1 = figures(t1, 1, 4.0, 4, 10, net.now);
  r1.clipped = {clipped(attacker, 7, 8, true)};
  auto r3 = figures(t3, 1, 4.0, 4, 10, net.now);
  r3.clipped = {clipped(t1, 2)};
  publish(net, nodes[1], t1, r1);
  publish(net, nodes[3], t3, r3);
  // A liar's record listing 17 peers is refused whole: neither its figures
  // nor its claims count.
  publish_bytes(net, nodes[2], liar, raw_record(liar, 17, std::string(t2.id().raw()), 8, 8));
  tick();
  tick();
  auto view = mc.board->view();
  BOOST_TEST(view.refused_records >= 1u);
  BOOST_TEST(view.peers.size() == 2u);
  BOOST_REQUIRE(view.clipped.size() == 2u);
  for (const auto& c : view.clipped) {
    BOOST_TEST(c.peer != t2.id());
    BOOST_TEST(c.reporters == 1u); // one trainer's word each, so far
  }
  // A second trainer reports the attacker.
  auto r2 = figures(t2, 1, 4.0, 4, 10, net.now);
  r2.clipped = {clipped(attacker, 6)};
  publish(net, nodes[2], t2, r2);
  tick();
  tick();
  view = mc.board->view();
  BOOST_REQUIRE(view.clipped.size() == 2u);
  const auto& top = view.clipped[0];
  BOOST_TEST(top.peer == attacker.id());
  BOOST_TEST(top.reporters == 2u);
  BOOST_TEST(top.most_clipped == 7u);
  BOOST_TEST(top.dropped_by == 1u);
  BOOST_TEST(view.clipped[1].peer == t1.id());
  BOOST_TEST(view.clipped[1].reporters == 1u);
  // Logged when it first showed up and when the second trainer joined in.
  auto logged = [&](const std::string& text) {
    return std::count_if(lines.begin(), lines.end(),
                         [&](const std::string& l) { return l.find(text) != std::string::npos; });
  };
  auto hex = attacker.id().to_hex();
  BOOST_TEST(logged("peer " + hex + " reported clipped by 1 trainer only") == 1);
  BOOST_TEST(logged("peer " + hex + " reported clipped by 2 trainers (at most 7 of 8 rounds, dropped by 1)") == 1);
  // On the page, in JSON and in the Prometheus text.
  BOOST_TEST(render_page(view).find(hex.substr(0, 16) + "</code></td><td>2 trainers") != std::string::npos);
  BOOST_TEST(render_json(view).find("{\"peer\":\"" + hex + "\",\"reporters\":2") != std::string::npos);
  BOOST_TEST(render_prometheus(view).find("ttt_peer_clipped_reports{run=\"run1\",peer=\"" + hex + "\"} 2\n")
             != std::string::npos);
  // Reporting only: t3's claim about t1 stays one trainer's word, and no
  // report removes a peer from the dashboard.
  BOOST_TEST(view.peers.size() == 3u);
  caf::anon_send_exit(monitor, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(the_monitor_records_logs_and_shows_the_eval_score_even_one_reported_late) {
  char tmpl[] = "/tmp/ttt-monitor-XXXXXX";
  BOOST_REQUIRE(::mkdtemp(tmpl) != nullptr);
  std::string dir = tmpl;
  auto db = storage::database::open(dir);
  BOOST_REQUIRE(db);
  sim_network net;
  std::vector<dht::dht_actor> nodes;
  for (uint16_t i = 1; i <= 4; ++i) {
    nodes.push_back(net.spawn(net.config(i, 120 + i)));
    if (i > 1)
      net.bootstrap(nodes.back(), {"10.0.0.1:1"});
  }
  auto t1 = identity::generate(), t2 = identity::generate();
  monitor_config mc;
  mc.dht = nodes[0];
  mc.run_id = "run1";
  mc.db = db->get();
  mc.clock = [&] { return net.now; };
  mc.poll_interval = std::chrono::seconds(1);
  std::vector<std::string> lines;
  mc.log = [&](const std::string& line) { lines.push_back(line); };
  mc.board = std::make_shared<dashboard_board>();
  auto monitor = spawn_monitor(net.system(), mc);
  auto tick = [&] {
    net.now += 1;
    net.sched().clock().advance_time(std::chrono::seconds(1));
    net.settle();
  };
  // Epoch 1 is recorded before t2, which evaluated it, reports.
  publish(net, nodes[1], t1, figures(t1, 1, 10.0, 4, 10, net.now));
  tick();
  tick();
  auto late = figures(t2, 1, 10.0, 4, 30, net.now);
  late.eval_score = 0.7;
  publish(net, nodes[2], t2, late);
  tick();
  tick();
  // Epoch 2: both evaluated it.
  auto r1 = figures(t1, 2, 8.0, 4, 10, net.now), r2 = figures(t2, 2, 8.0, 4, 30, net.now);
  r1.eval_score = 0.5;
  r2.eval_score = 0.8;
  publish(net, nodes[1], t1, r1);
  publish(net, nodes[2], t2, r2);
  tick();
  tick();
  tick();
  BOOST_REQUIRE(lines.size() == 3u);
  BOOST_TEST(lines[0] == "epoch 1: loss 2.5000, 1 alive peers, 10.0 samples/s, 64 samples");
  BOOST_TEST(lines[1] == "epoch 1: eval score 0.7000 from 1 trainer");
  BOOST_TEST(lines[2] == "epoch 2: loss 2.0000, 2 alive peers, 40.0 samples/s, 128 samples, eval score 0.6500");
  auto view = mc.board->view();
  BOOST_REQUIRE(view.history.size() == 2u);
  BOOST_TEST(view.history[0].eval_score == 0.7);
  BOOST_TEST(view.history[0].alive_peers == 1u); // only the score follows later reports
  BOOST_TEST(view.history[1].eval_score == 0.65, tt::tolerance(1e-12));
  BOOST_TEST(view.history[1].eval_reporters == 2u);
  BOOST_TEST(render_prometheus(view).find("ttt_eval_score{run=\"run1\"} 0.65\n") != std::string::npos);
  BOOST_TEST(render_json(view).find("\"eval_score\":0.7,\"eval_reporters\":1}") != std::string::npos);
  BOOST_TEST(render_page(view).find("Eval score <b>0.6500</b> at epoch 2") != std::string::npos);
  caf::anon_send_exit(monitor, caf::exit_reason::user_shutdown);
  net.settle();

  // The history kept the late score; a monitor restarted on it shows the
  // scores and logs nothing again for the epoch it already has.
  auto history = read_history(**db);
  BOOST_REQUIRE(history.size() == 2u);
  BOOST_TEST(history[0].eval_score == 0.7);
  BOOST_TEST(history[0].eval_reporters == 1u);
  BOOST_TEST(history[1].eval_reporters == 2u);
  lines.clear();
  mc.board = std::make_shared<dashboard_board>();
  auto restarted = spawn_monitor(net.system(), mc);
  tick();
  tick();
  BOOST_TEST(lines.empty());
  view = mc.board->view();
  BOOST_REQUIRE(view.history.size() == 2u);
  BOOST_TEST(view.history[0].eval_score == 0.7);
  caf::anon_send_exit(restarted, caf::exit_reason::user_shutdown);
  net.settle();
  db->reset();
  std::system(("rm -rf '" + dir + "'").c_str());
}

BOOST_AUTO_TEST_CASE(the_monitor_keeps_every_volunteers_total_across_its_own_restart) {
  char tmpl[] = "/tmp/ttt-monitor-XXXXXX";
  BOOST_REQUIRE(::mkdtemp(tmpl) != nullptr);
  std::string dir = tmpl;
  auto db = storage::database::open(dir);
  BOOST_REQUIRE(db);
  sim_network net;
  std::vector<dht::dht_actor> nodes;
  for (uint16_t i = 1; i <= 4; ++i) {
    nodes.push_back(net.spawn(net.config(i, 160 + i)));
    if (i > 1)
      net.bootstrap(nodes.back(), {"10.0.0.1:1"});
  }
  auto alice = identity::generate(), bob = identity::generate(), liar = identity::generate();
  monitor_config mc;
  mc.dht = nodes[0];
  mc.run_id = "run1";
  mc.db = db->get();
  mc.clock = [&] { return net.now; };
  mc.poll_interval = std::chrono::seconds(1);
  mc.alive_window = 60;
  mc.max_samples_per_second = 100;
  mc.name_of = [](const node_id&, const std::string& certificate) {
    return certificate == "bob's certificate" ? std::string("Bob") : std::string();
  };
  mc.board = std::make_shared<dashboard_board>();
  auto monitor = spawn_monitor(net.system(), mc);
  auto tick = [&] {
    net.now += 1;
    net.sched().clock().advance_time(std::chrono::seconds(1));
    net.settle();
  };
  auto volunteer = [&](const identity& who, uint64_t total, const std::string& chosen) {
    auto m = figures(who, 1, 4.0, 4, 10, net.now);
    m.total_samples = total;
    m.volunteer_name = chosen;
    m.device_kind = "cpu";
    if (&who == &bob)
      m.certificate = "bob's certificate";
    return m;
  };
  publish(net, nodes[1], alice, volunteer(alice, 900, "alice"));
  publish(net, nodes[2], bob, volunteer(bob, 300, "Mallory"));
  // Claims a billion samples: credited at most 100 a second for one alive window.
  publish(net, nodes[3], liar, volunteer(liar, 1'000'000'000, "liar"));
  tick();
  tick();
  tick();
  auto entry_of = [](const std::vector<contribution>& board, const identity& who) {
    auto it = std::find_if(board.begin(), board.end(), [&](const contribution& c) { return c.peer == who.id(); });
    BOOST_REQUIRE(it != board.end());
    return *it;
  };
  auto view = mc.board->view();
  BOOST_REQUIRE(view.leaderboard.size() == 3u);
  BOOST_TEST(view.leaderboard[0].peer == liar.id());
  BOOST_TEST(view.leaderboard[0].samples == 6000u);
  BOOST_TEST(entry_of(view.leaderboard, alice).samples == 900u);
  BOOST_TEST(entry_of(view.leaderboard, alice).name == "alice");
  BOOST_TEST(!entry_of(view.leaderboard, alice).name_verified);
  BOOST_TEST(entry_of(view.leaderboard, bob).name == "Bob");
  BOOST_TEST(entry_of(view.leaderboard, bob).name_verified);
  BOOST_TEST(entry_of(view.leaderboard, alice).seconds_online > 0.0);
  BOOST_TEST(view.volunteers.volunteers == 3u);
  BOOST_TEST(view.volunteers.samples == 7200u);
  // Alice restarts her trainer (same data dir, same id): its count begins
  // again, and her total goes on from where it was.
  publish(net, nodes[1], alice, volunteer(alice, 50, "alice"));
  tick();
  tick();
  view = mc.board->view();
  BOOST_TEST(entry_of(view.leaderboard, alice).samples == 950u);
  auto online_before = entry_of(view.leaderboard, alice).seconds_online;
  caf::anon_send_exit(monitor, caf::exit_reason::user_shutdown);
  net.settle();
  db->reset();

  // A monitor restarted on the same database goes on from its totals (a
  // fresh count would credit Alice her trainer's 50), and the reports it saw
  // already count nothing again, the liar's billion included.
  db = storage::database::open(dir);
  BOOST_REQUIRE(db);
  mc.db = db->get();
  mc.board = std::make_shared<dashboard_board>();
  auto restarted = spawn_monitor(net.system(), mc);
  net.settle();
  view = mc.board->view();
  BOOST_REQUIRE(view.leaderboard.size() == 3u);
  BOOST_TEST(entry_of(view.leaderboard, alice).samples == 950u);
  BOOST_TEST(entry_of(view.leaderboard, alice).seconds_online == online_before);
  tick();
  tick();
  view = mc.board->view();
  BOOST_TEST(entry_of(view.leaderboard, alice).samples == 950u);
  BOOST_TEST(entry_of(view.leaderboard, bob).samples == 300u);
  BOOST_TEST(entry_of(view.leaderboard, liar).samples == 6000u);
  BOOST_TEST(entry_of(view.leaderboard, alice).seconds_online > online_before);
  BOOST_TEST(view.volunteers.samples == 7250u);
  publish(net, nodes[1], alice, volunteer(alice, 80, "alice"));
  tick();
  tick();
  view = mc.board->view();
  BOOST_TEST(entry_of(view.leaderboard, alice).samples == 980u);
  caf::anon_send_exit(restarted, caf::exit_reason::user_shutdown);
  net.settle();
  auto kept = read_contributions(**db);
  BOOST_REQUIRE(kept);
  BOOST_REQUIRE(kept->volunteers.size() == 3u);
  BOOST_TEST(kept->volunteers.at(alice.id()).samples == 980u);
  BOOST_TEST(kept->volunteers.at(alice.id()).last_total == 80u);
  BOOST_TEST(kept->volunteers.at(bob.id()).name == "Bob");
  db->reset();
  std::system(("rm -rf '" + dir + "'").c_str());
}
