// The averager actor shell under CAF's deterministic test coordinator: rounds
// between several averagers in one process, a member killed or stalled
// mid-round, bad bytes, and state downloads with checksums.
#define BOOST_TEST_MODULE averager_actor
#include <boost/test/unit_test.hpp>

#include "actors/averager/interface.hpp"
#include "actors/averager/wire.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <sodium.h>

#include <cmath>
#include <functional>
#include <optional>
#include <random>
#include <set>

using namespace ttt;
using namespace ttt::averaging;
using namespace std::chrono_literals;

namespace {

/// Several averagers in one actor system on the test coordinator: no
/// threads, time moves only when every actor is idle.
struct fixture {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::scheduler::test_coordinator* sched = nullptr;
  std::vector<caf::actor> spawned;

  fixture() {
    cfg.set("scheduler.policy", caf::atom("testing"));
    cfg.set("logger.file-verbosity", caf::atom("quiet"));
    cfg.set("logger.console-verbosity", caf::atom("quiet"));
    sys = std::make_unique<caf::actor_system>(cfg);
    sched = &dynamic_cast<caf::scheduler::test_coordinator&>(sys->scheduler());
  }

  ~fixture() {
    for (auto& a : spawned)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    sched->run();
    sys->await_actors_before_shutdown(false);
  }

  averager_actor averager(std::string peer_id) {
    auto a = spawn_averager(*sys, std::move(peer_id));
    spawned.push_back(caf::actor_cast<caf::actor>(a));
    return a;
  }

  /// Runs until `done` holds, firing the next timeout whenever all actors
  /// idle; false if nothing is left to run first.
  bool run_until(const std::function<bool()>& done, size_t max_timeouts = 100000) {
    for (size_t i = 0;; ++i) {
      sched->run();
      if (done())
        return true;
      if (i >= max_timeouts || !sched->trigger_timeout())
        return false;
    }
  }

  /// Asks `avg` to run `req`; the outcome lands in `out` or `err`.
  void start_round(averager_actor avg, round_request req, std::optional<round_result>& out,
                   std::optional<caf::error>& err) {
    sys->spawn([avg, req = std::move(req), &out, &err](caf::event_based_actor* client) mutable {
      client->request(avg, caf::infinite, avg_run_atom_v, std::move(req))
        .then([&out](round_result& r) { out = std::move(r); },
              [&err](caf::error& e) { err = std::move(e); });
    });
  }
};

struct round_setup {
  group_info group;
  std::vector<std::vector<float>> inputs;
  std::vector<double> weights;

  round_setup(const std::string& id, const std::vector<peer_mode>& modes, uint64_t length) {
    group.group_id = id;
    std::mt19937 rng(7);
    std::uniform_int_distribution<int> value(-256, 256);
    for (size_t i = 0; i < modes.size(); ++i) {
      group.members.push_back({"peer" + std::to_string(i), 1.0 + static_cast<double>(i % 2), modes[i]});
      std::vector<float> v;
      if (modes[i] != peer_mode::aux) {
        v.resize(length);
        for (auto& x : v)
          x = static_cast<float>(value(rng)) / 4.0f;
      }
      inputs.push_back(std::move(v));
      weights.push_back(static_cast<double>(1 + i));
    }
  }

  round_request request(size_t i, const std::vector<averager_peer>& handles, uint64_t length) const {
    round_request req;
    req.group = group;
    req.self_index = i;
    req.handles = handles;
    req.values = inputs[i];
    req.weight = weights[i];
    req.total_elements = length;
    req.config.part_elements = 4099;
    req.config.sender_timeout = 5s;
    req.config.reducer_timeout = 12s;
    return req;
  }

  float mean(uint64_t k, const std::set<size_t>& members) const {
    double sum = 0, total = 0;
    for (auto m : members) {
      sum += weights[m] * static_cast<double>(inputs[m][k]);
      total += weights[m];
    }
    return static_cast<float>(sum / total);
  }
};

averager_peer::behavior_type black_hole(averager_peer::pointer) {
  return {[](avg_rpc_atom, const std::string&) {}};
}

std::string checksum_of(const std::string& data) {
  std::string out(32, '\0');
  crypto_generichash(reinterpret_cast<unsigned char*>(&out[0]), 32,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size(), nullptr, 0);
  return out;
}

/// A holder that answers every request with one crafted chunk.
averager_peer::behavior_type crafted_holder(averager_peer::pointer self, state_chunk chunk) {
  return {[self, chunk](avg_rpc_atom, const std::string& bytes) {
    auto m = decode_message(bytes);
    if (!m || m->kind != wire_kind::state_request)
      return;
    auto reply = chunk;
    reply.chunk_index = m->request.chunk_index;
    self->send(caf::actor_cast<averager_peer>(self->current_sender()), avg_rpc_atom_v,
               encode_state_chunk(std::string(m->values.group_id), "crafted", reply));
  }};
}

} // namespace

BOOST_FIXTURE_TEST_CASE(round_with_client_and_aux_gives_exact_mean, fixture) {
  const uint64_t length = 100003;
  std::vector<peer_mode> modes = {peer_mode::node, peer_mode::node, peer_mode::client,
                                  peer_mode::aux, peer_mode::node};
  round_setup setup("round-1", modes, length);
  std::vector<averager_actor> avg;
  std::vector<averager_peer> handles;
  for (size_t i = 0; i < modes.size(); ++i) {
    avg.push_back(averager("peer" + std::to_string(i)));
    // The client publishes nothing: the others learn its handle from its parts.
    handles.push_back(modes[i] == peer_mode::client ? averager_peer{}
                                                    : caf::actor_cast<averager_peer>(avg.back()));
  }
  // Only the aux member (3) knows everyone's handle, as if it had connected
  // to all of them: the others must learn it from its hello before they can
  // send it their parts.
  std::vector<averager_peer> all_handles;
  for (auto& a : avg)
    all_handles.push_back(caf::actor_cast<averager_peer>(a));
  handles[3] = averager_peer{};
  std::vector<std::optional<round_result>> results(modes.size());
  std::vector<std::optional<caf::error>> errors(modes.size());
  for (size_t i = 0; i < modes.size(); ++i)
    start_round(avg[i], setup.request(i, i == 3 ? all_handles : handles, length), results[i],
                errors[i]);
  BOOST_REQUIRE(run_until([&] {
    return std::all_of(results.begin(), results.end(), [](auto& r) { return r.has_value(); });
  }));
  std::set<size_t> contributors = {0, 1, 2, 4};
  for (size_t i = 0; i < modes.size(); ++i) {
    BOOST_TEST_CONTEXT("member " << i) {
      BOOST_TEST(!results[i]->partial());
      BOOST_TEST(results[i]->refused_count == 0u);
      if (modes[i] == peer_mode::aux) {
        BOOST_TEST(results[i]->values.empty());
        continue;
      }
      size_t mismatches = 0;
      for (uint64_t k = 0; k < length; ++k)
        mismatches += results[i]->values[k] != setup.mean(k, contributors);
      BOOST_TEST(mismatches == 0u);
    }
  }
}

BOOST_FIXTURE_TEST_CASE(actor_sweep_exact_mean_with_one_connection_per_pair, fixture) {
  // The pure core's sweep again, through the actor shell: group sizes 1..8,
  // lengths 0..100003, with and without a client and an aux member. Each
  // member holds handles only for the members before it (one connection per
  // pair, as between real processes; a client holds all): the others are
  // learned from hellos and parts.
  const uint64_t lengths[] = {0, 1, 7, 1000, 100003};
  size_t cases = 0;
  for (size_t n = 1; n <= 8; ++n) {
    for (uint64_t length : lengths) {
      for (int variant = 0; variant < 4; ++variant) {
        bool with_client = variant & 1, with_aux = variant & 2;
        if ((with_client && n < 2) || (with_aux && n < 2) || (with_client && with_aux && n < 3))
          continue;
        std::vector<peer_mode> modes(n, peer_mode::node);
        if (with_client)
          modes[n - 1] = peer_mode::client;
        if (with_aux)
          modes[0] = peer_mode::aux;
        std::string id = "sweep-" + std::to_string(cases);
        round_setup setup(id, modes, length);
        std::vector<averager_actor> avg;
        for (size_t i = 0; i < n; ++i)
          avg.push_back(averager("peer" + std::to_string(i)));
        std::vector<std::optional<round_result>> results(n);
        std::vector<std::optional<caf::error>> errors(n);
        for (size_t i = 0; i < n; ++i) {
          std::vector<averager_peer> handles(n);
          for (size_t j = 0; j < n; ++j)
            if (j == i || (modes[j] != peer_mode::client && (j < i || modes[i] == peer_mode::client)))
              handles[j] = caf::actor_cast<averager_peer>(avg[j]);
          start_round(avg[i], setup.request(i, handles, length), results[i], errors[i]);
        }
        BOOST_TEST_CONTEXT("n=" << n << " length=" << length << " client=" << with_client
                                << " aux=" << with_aux) {
          BOOST_REQUIRE(run_until([&] {
            return std::all_of(results.begin(), results.end(), [](auto& r) { return r.has_value(); });
          }));
          std::set<size_t> contributors;
          for (size_t i = 0; i < n; ++i)
            if (modes[i] != peer_mode::aux)
              contributors.insert(i);
          for (size_t i = 0; i < n; ++i) {
            BOOST_TEST(!results[i]->partial());
            BOOST_TEST(results[i]->refused_count == 0u);
            if (modes[i] == peer_mode::aux)
              continue;
            BOOST_REQUIRE_EQUAL(results[i]->values.size(), length);
            size_t mismatches = 0;
            for (uint64_t k = 0; k < length; ++k)
              mismatches += results[i]->values[k] != setup.mean(k, contributors);
            BOOST_TEST(mismatches == 0u);
          }
        }
        for (auto& a : avg)
          caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
        sched->run();
        ++cases;
      }
    }
  }
  BOOST_TEST(cases == 140u);
}

BOOST_FIXTURE_TEST_CASE(member_killed_mid_round_others_finish_partial, fixture) {
  const uint64_t length = 100003;
  std::vector<peer_mode> modes(4, peer_mode::node);
  round_setup setup("round-kill", modes, length);
  std::vector<averager_actor> avg;
  std::vector<averager_peer> handles;
  for (size_t i = 0; i < 4; ++i) {
    avg.push_back(averager("peer" + std::to_string(i)));
    handles.push_back(caf::actor_cast<averager_peer>(avg.back()));
  }
  std::vector<std::optional<round_result>> results(4);
  std::vector<std::optional<caf::error>> errors(4);
  for (size_t i = 0; i < 4; ++i)
    start_round(avg[i], setup.request(i, handles, length), results[i], errors[i]);
  sched->run(14); // mid-transfer: each member has sent its first parts, no span is finished
  BOOST_REQUIRE(!results[0] && !results[1] && !results[2]);
  caf::anon_send_exit(avg[3], caf::exit_reason::kill);
  BOOST_REQUIRE(run_until([&] { return results[0] && results[1] && results[2]; }));
  auto spans = partition_spans(setup.group.members, length);
  std::set<size_t> everyone = {0, 1, 2, 3}, survivors = {0, 1, 2};
  for (size_t i = 0; i < 3; ++i) {
    const auto& res = *results[i];
    BOOST_TEST(res.partial());
    for (const auto& s : res.spans) {
      if (s.reducer == 3) {
        BOOST_TEST(s.reducer_failed);
        continue;
      }
      BOOST_TEST(!s.reducer_failed);
      // Each part holds the exact mean over the members whose part arrived.
      for (uint64_t k = s.range.begin; k < s.range.end; ++k)
        BOOST_REQUIRE(res.values[k] == setup.mean(k, everyone)
                      || res.values[k] == setup.mean(k, survivors));
    }
    for (uint64_t k = spans[3].begin; k < spans[3].end; ++k)
      BOOST_REQUIRE(res.values[k] == setup.mean(k, everyone) || res.values[k] == setup.inputs[i][k]);
  }
}

BOOST_FIXTURE_TEST_CASE(stalled_member_is_dropped_by_timeouts, fixture) {
  const uint64_t length = 20000;
  std::vector<peer_mode> modes(3, peer_mode::node);
  round_setup setup("round-stall", modes, length);
  std::vector<averager_actor> avg;
  std::vector<averager_peer> handles;
  for (size_t i = 0; i < 2; ++i) {
    avg.push_back(averager("peer" + std::to_string(i)));
    handles.push_back(caf::actor_cast<averager_peer>(avg.back()));
  }
  // Member 2 stops reading: it takes messages and never answers, never dies.
  auto stalled = sys->spawn(black_hole);
  spawned.push_back(caf::actor_cast<caf::actor>(stalled));
  handles.push_back(stalled);
  std::vector<std::optional<round_result>> results(2);
  std::vector<std::optional<caf::error>> errors(2);
  for (size_t i = 0; i < 2; ++i)
    start_round(avg[i], setup.request(i, handles, length), results[i], errors[i]);
  BOOST_REQUIRE(run_until([&] { return results[0] && results[1]; }));
  auto spans = partition_spans(setup.group.members, length);
  for (size_t i = 0; i < 2; ++i) {
    const auto& res = *results[i];
    for (const auto& s : res.spans) {
      BOOST_TEST(s.partial());
      if (s.reducer == 2)
        BOOST_TEST(s.reducer_failed);
      else
        BOOST_TEST((s.left_out == std::vector<size_t>{2}));
    }
    for (uint64_t k = 0; k < length; ++k) {
      bool dead_span = k >= spans[2].begin;
      BOOST_REQUIRE_EQUAL(res.values[k], dead_span ? setup.inputs[i][k] : setup.mean(k, {0, 1}));
    }
  }
}

BOOST_FIXTURE_TEST_CASE(bad_bytes_never_enter_the_result, fixture) {
  const uint64_t length = 1000;
  std::vector<peer_mode> modes(2, peer_mode::node);
  round_setup setup("round-bad", modes, length);
  std::vector<averager_actor> avg;
  std::vector<averager_peer> handles;
  for (size_t i = 0; i < 2; ++i) {
    avg.push_back(averager("peer" + std::to_string(i)));
    handles.push_back(caf::actor_cast<averager_peer>(avg.back()));
  }
  // Before the round starts: garbage, a part for another group, and a part
  // from an outsider for this group (kept until the round starts, then refused).
  std::vector<float> poison(length, 1e6f);
  part_message outsider;
  outsider.group_id = "round-bad";
  outsider.sender_id = "mallory";
  outsider.weight = 1000;
  encode(codec::none, caf::span<const float>(poison.data(), 500), outsider.values);
  part_message other_group = outsider;
  other_group.group_id = "round-other";
  other_group.sender_id = "peer1";
  caf::anon_send(avg[0], avg_rpc_atom_v, std::string("not a capnp message"));
  caf::anon_send(avg[0], avg_rpc_atom_v, encode_values(other_group));
  caf::anon_send(avg[0], avg_rpc_atom_v, encode_values(outsider));
  sched->run();
  std::vector<std::optional<round_result>> results(2);
  std::vector<std::optional<caf::error>> errors(2);
  for (size_t i = 0; i < 2; ++i)
    start_round(avg[i], setup.request(i, handles, length), results[i], errors[i]);
  BOOST_REQUIRE(run_until([&] { return results[0] && results[1]; }));
  for (size_t i = 0; i < 2; ++i) {
    BOOST_TEST(!results[i]->partial());
    for (uint64_t k = 0; k < length; ++k)
      BOOST_REQUIRE_EQUAL(results[i]->values[k], setup.mean(k, {0, 1}));
  }
  BOOST_TEST(results[0]->refused_count == 1u);
  BOOST_TEST(results[0]->refused.front().find("not a member") != std::string::npos);
  // A request without one handle per member is refused.
  std::optional<round_result> none;
  std::optional<caf::error> err;
  auto bad = setup.request(0, handles, length);
  bad.handles.pop_back();
  start_round(avg[0], bad, none, err);
  sched->run();
  BOOST_TEST(err.has_value());
}

BOOST_FIXTURE_TEST_CASE(state_download_falls_back_past_corrupt_truncated_and_refusing_holders,
                        fixture) {
  std::string good(1'300'000, '\0');
  for (size_t i = 0; i < good.size(); ++i)
    good[i] = static_cast<char>((i * 7919) % 251);
  auto holder = averager("holder");
  auto empty_holder = averager("empty"); // advertises, holds nothing: refuses
  auto newcomer = averager("newcomer");
  bool served = false;
  sys->spawn([&](caf::event_based_actor* c) {
    c->request(holder, caf::infinite, avg_serve_atom_v, uint64_t{5}, good).then([&](bool ok) {
      served = ok;
    });
  });
  sched->run();
  BOOST_REQUIRE(served);

  state_chunk corrupt; // complete and well-sized, but its bytes do not match the checksum
  corrupt.epoch = 9;
  corrupt.data = std::string(1000, 'x');
  corrupt.total_bytes = 1000;
  corrupt.checksum = checksum_of(std::string(1000, 'y'));
  state_chunk truncated; // announces 2000 bytes, sends 100
  truncated.epoch = 7;
  truncated.total_bytes = 2000;
  truncated.data = std::string(100, 'z');
  truncated.checksum = checksum_of(std::string(2000, 'z'));
  auto corrupt_holder = sys->spawn(crafted_holder, corrupt);
  auto truncated_holder = sys->spawn(crafted_holder, truncated);
  spawned.push_back(caf::actor_cast<caf::actor>(corrupt_holder));
  spawned.push_back(caf::actor_cast<caf::actor>(truncated_holder));

  fetch_request req;
  req.holders = {{caf::actor_cast<averager_peer>(holder), 5},
                 {corrupt_holder, 9},
                 {truncated_holder, 7},
                 {caf::actor_cast<averager_peer>(empty_holder), 8}};
  std::optional<fetched_state> got;
  sys->spawn([&](caf::event_based_actor* c) {
    c->request(newcomer, caf::infinite, avg_fetch_atom_v, req).then([&](fetched_state& s) {
      got = std::move(s);
    });
  });
  BOOST_REQUIRE(run_until([&] { return got.has_value(); }));
  BOOST_TEST(got->blob == good);
  BOOST_TEST(got->epoch == 5u);
  BOOST_TEST(got->holder == 0u);
  BOOST_REQUIRE_EQUAL(got->failures.size(), 3u); // tried by epoch: 9, 8, 7, then 5
  BOOST_TEST(got->failures[0].find("checksum mismatch") != std::string::npos);
  BOOST_TEST(got->failures[1].find("no state held") != std::string::npos);
  BOOST_TEST(got->failures[2].find("truncated") != std::string::npos);
}

BOOST_FIXTURE_TEST_CASE(state_download_from_a_stalled_holder_times_out, fixture) {
  auto newcomer = averager("newcomer");
  auto stalled = sys->spawn(black_hole);
  spawned.push_back(caf::actor_cast<caf::actor>(stalled));
  fetch_request req;
  req.holders = {{stalled, 3}};
  req.timeout = 2s;
  std::optional<caf::error> err;
  sys->spawn([&](caf::event_based_actor* c) {
    c->request(newcomer, caf::infinite, avg_fetch_atom_v, req)
      .then([](fetched_state&) {}, [&](caf::error& e) { err = e; });
  });
  BOOST_REQUIRE(run_until([&] { return err.has_value(); }));
  BOOST_TEST(to_string(*err).find("timed out") != std::string::npos);
}

BOOST_FIXTURE_TEST_CASE(peer_clipped_in_most_rounds_is_logged_once_and_then_excluded, fixture) {
  // Four averagers; member 3 sends its gradient x1000 every round. Each
  // honest averager drops it after 3 clipped rounds of its last 4, logs
  // that once, and from then on averages without it.
  const size_t n = 4, liar = 3;
  const uint64_t length = 4000;
  std::vector<std::vector<std::string>> logs(n);
  std::vector<averager_actor> avg;
  std::vector<averager_peer> handles;
  for (size_t i = 0; i < n; ++i) {
    averager_options options;
    options.clipping = {4, 3, 64};
    options.log = [&logs, i](const std::string& line) { logs[i].push_back(line); };
    avg.push_back(spawn_averager(*sys, "peer" + std::to_string(i), options));
    spawned.push_back(caf::actor_cast<caf::actor>(avg.back()));
    handles.push_back(caf::actor_cast<averager_peer>(avg.back()));
  }
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> unit(-1.f, 1.f);
  for (int round = 0; round < 5; ++round) {
    BOOST_TEST_CONTEXT("round " << round) {
      std::vector<float> common(length);
      for (auto& g : common)
        g = unit(rng);
      std::vector<std::optional<round_result>> results(n);
      std::vector<std::optional<caf::error>> errors(n);
      group_info group;
      group.group_id = "clip-" + std::to_string(round);
      for (size_t i = 0; i < n; ++i)
        group.members.push_back({"peer" + std::to_string(i), 1.0, peer_mode::node});
      std::vector<std::vector<float>> inputs(n);
      for (size_t i = 0; i < n; ++i) {
        inputs[i] = common;
        for (auto& x : inputs[i])
          x += 0.01f * unit(rng);
        if (i == liar)
          for (auto& x : inputs[i])
            x *= 1000;
        round_request req;
        req.group = group;
        req.self_index = i;
        req.handles = handles;
        req.values = inputs[i];
        req.weight = 1;
        req.total_elements = length;
        req.config.aggregation = aggregation_rule::centered_clip;
        req.config.part_elements = 500;
        req.config.sender_timeout = 2s;
        req.config.reducer_timeout = 5s;
        start_round(avg[i], std::move(req), results[i], errors[i]);
      }
      BOOST_REQUIRE(run_until([&] {
        for (size_t i = 0; i < n; ++i)
          if (i != liar && !results[i] && !errors[i])
            return false;
        return true;
      }));
      for (size_t i = 0; i < n; ++i) {
        if (i == liar)
          continue;
        BOOST_REQUIRE(results[i]);
        const auto& res = *results[i];
        // Dropped after its third clipped round (round 2), logged then only.
        BOOST_TEST(logs[i].size() == (round >= 2 ? 1u : 0u));
        if (round == 2) {
          BOOST_TEST((res.newly_dropped == std::vector<std::string>{"peer3"}));
          BOOST_TEST(logs[i].at(0) == "peer peer3 clipped in 3 of the last 3 rounds: dropped from this peer's groups");
        } else {
          BOOST_TEST(res.newly_dropped.empty());
        }
        auto count = std::find_if(res.clip_counts.begin(), res.clip_counts.end(),
                                  [&](const auto& c) { return c.member == liar; });
        BOOST_REQUIRE(count != res.clip_counts.end());
        BOOST_TEST(count->dropped == (round >= 2));
        if (round <= 2) {
          BOOST_TEST(res.excluded.empty());
          BOOST_TEST(count->clipped == static_cast<uint32_t>(round + 1));
        } else {
          // Excluded from the start: its parts refused, its span keeps this
          // peer's own values, the honest spans the honest result.
          BOOST_TEST((res.excluded == std::vector<size_t>{liar}));
          BOOST_TEST(count->clipped == 3u); // no further rounds judged
        }
        // Either way the honest members end near the honest mean outside the
        // liar's span (1 % noise), never near the liar's values.
        auto spans = partition_spans(group.members, length);
        size_t far = 0;
        for (uint64_t k = 0; k < spans[liar].begin; ++k) {
          double h = (inputs[0][k] + inputs[1][k] + inputs[2][k]) / 3.0;
          far += std::fabs(res.values[k] - h) > 0.05;
        }
        BOOST_TEST(far == 0u);
      }
    }
  }
}
