// The pure butterfly all-reduce core, driven by a simulated network in one
// thread: messages go through the real wire codec and are delivered in a
// seeded random order; time only moves when nothing else can happen.
#define BOOST_TEST_MODULE averager_allreduce
#include <boost/test/unit_test.hpp>

#include "actors/averager/allreduce.hpp"
#include "actors/averager/wire.hpp"

#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>

using namespace ttt::averaging;
using namespace std::chrono_literals;

namespace {

const time_point t0{};

struct envelope {
  size_t from;
  size_t to;
  std::string bytes;
};

/// N members in one process. `kill_after_sends[m]` makes member m vanish
/// (as if SIGKILLed) after it has sent that many messages.
struct simulation {
  group_info group;
  round_config config;
  std::vector<std::optional<allreduce_round>> rounds;
  std::vector<std::vector<float>> inputs;
  std::vector<double> weights;
  std::vector<bool> dead;
  std::vector<size_t> sends;
  std::map<size_t, size_t> kill_after_sends;
  std::vector<envelope> in_flight;
  std::mt19937 rng{12345};
  time_point now = t0;
  /// (reducer, part) -> contributors whose part was delivered
  std::map<std::pair<size_t, uint32_t>, std::set<size_t>> delivered_parts;
  /// Hook to tamper with a message before delivery; returns false to drop it.
  std::function<bool(envelope&)> tamper;

  simulation(std::vector<peer_mode> modes, uint64_t length, round_config cfg,
             std::vector<double> bandwidths = {})
      : config(std::move(cfg)) {
    const size_t n = modes.size();
    group.group_id = "group-" + std::to_string(n) + "-" + std::to_string(length);
    for (size_t i = 0; i < n; ++i)
      group.members.push_back({"peer" + std::to_string(i),
                               bandwidths.empty() ? 1.0 + static_cast<double>(i % 3) : bandwidths[i],
                               modes[i]});
    std::uniform_int_distribution<int> value(-256, 256);
    dead.assign(n, false);
    sends.assign(n, 0);
    for (size_t i = 0; i < n; ++i) {
      // Quarter-integers and integer weights: every product and sum is exact
      // in double, so the expected mean is exact whatever the arrival order.
      std::vector<float> v;
      if (modes[i] != peer_mode::aux) {
        v.resize(length);
        for (auto& x : v)
          x = static_cast<float>(value(rng)) / 4.0f;
      }
      inputs.push_back(v);
      weights.push_back(static_cast<double>(1 + i % 4));
      auto r = allreduce_round::make(group, i, v, weights[i], length, config, now);
      if (!r)
        BOOST_FAIL(to_string(r.error()));
      rounds.emplace_back(std::move(*r));
    }
  }

  allreduce_round::send_fn sender_for(size_t from) {
    return [this, from](const std::vector<size_t>& to, part_message&& msg) {
      auto bytes = encode_values(msg);
      for (size_t receiver : to) {
        if (dead[from])
          return;
        in_flight.push_back({from, receiver, bytes});
        ++sends[from];
        auto limit = kill_after_sends.find(from);
        if (limit != kill_after_sends.end() && sends[from] >= limit->second)
          dead[from] = true;
      }
    };
  }

  void deliver(envelope e) {
    if (dead[e.to])
      return;
    if (tamper && !tamper(e))
      return;
    auto decoded = decode_message(e.bytes);
    BOOST_REQUIRE(decoded);
    if (decoded->kind == wire_kind::part)
      delivered_parts[{e.to, decoded->values.part_index}].insert(e.from);
    (void) rounds[e.to]->on_message(decoded->values, now, sender_for(e.to));
  }

  bool all_live_done() const {
    for (size_t i = 0; i < rounds.size(); ++i)
      if (!dead[i] && !rounds[i]->done())
        return false;
    return true;
  }

  /// Runs until every live member is done; fails past `limit` of simulated time.
  void run(duration limit = 600s) {
    for (size_t i = 0; i < rounds.size(); ++i)
      if (!dead[i])
        rounds[i]->start(sender_for(i));
    while (!all_live_done()) {
      bool progressed = false;
      // Either a member sends a few parts or one message is delivered,
      // chosen at random so that arrival orders vary.
      std::vector<size_t> senders;
      for (size_t i = 0; i < rounds.size(); ++i)
        if (!dead[i] && rounds[i]->parts_pending())
          senders.push_back(i);
      size_t choices = senders.size() + (in_flight.empty() ? 0 : 1);
      if (choices > 0) {
        size_t pick = std::uniform_int_distribution<size_t>(0, choices - 1)(rng);
        if (pick < senders.size()) {
          rounds[senders[pick]]->send_parts(3, sender_for(senders[pick]));
        } else {
          size_t k = std::uniform_int_distribution<size_t>(0, in_flight.size() - 1)(rng);
          envelope e = std::move(in_flight[k]);
          in_flight.erase(in_flight.begin() + static_cast<long>(k));
          deliver(std::move(e));
        }
        progressed = true;
      }
      if (!progressed) {
        BOOST_REQUIRE_MESSAGE(now - t0 < limit, "round did not finish in simulated time");
        now += 1s;
        for (size_t i = 0; i < rounds.size(); ++i)
          if (!dead[i])
            rounds[i]->on_tick(now, sender_for(i));
      }
    }
  }

  /// Exact weighted mean of element k over `contributors`.
  float mean_over(uint64_t k, const std::set<size_t>& contributors) const {
    double sum = 0, total = 0;
    for (size_t c : contributors) {
      sum += weights[c] * static_cast<double>(inputs[c][k]);
      total += weights[c];
    }
    return static_cast<float>(sum / total);
  }

  std::set<size_t> contributors() const {
    std::set<size_t> out;
    for (size_t i = 0; i < group.members.size(); ++i)
      if (group.members[i].mode != peer_mode::aux)
        out.insert(i);
    return out;
  }
};

bool refused(const caf::error& err) {
  return static_cast<bool>(err);
}

round_config small_parts(uint64_t part_elements = 1000) {
  round_config c;
  c.part_elements = part_elements;
  c.sender_timeout = 10s;
  c.reducer_timeout = 30s;
  return c;
}

} // namespace

BOOST_AUTO_TEST_CASE(partition_follows_bandwidth_and_skips_clients) {
  std::vector<member_info> m = {{"a", 1, peer_mode::node},
                                {"b", 3, peer_mode::node},
                                {"c", 5, peer_mode::client},
                                {"d", 0, peer_mode::node},
                                {"e", 4, peer_mode::aux}};
  auto spans = partition_spans(m, 801);
  BOOST_TEST(spans[0].begin == 0u);
  BOOST_TEST(spans[0].size() == 100u);
  BOOST_TEST(spans[1].size() == 300u);
  BOOST_TEST(spans[2].size() == 0u); // client
  BOOST_TEST(spans[3].size() == 0u); // zero bandwidth
  BOOST_TEST(spans[4].size() == 401u); // 400.5 rounded up: the largest remainder
  BOOST_TEST(spans[4].end == 801u);
}

BOOST_AUTO_TEST_CASE(sweep_exact_weighted_mean_on_every_peer) {
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
        // Small parts on big vectors exercise streaming; default parts once.
        auto cfg = small_parts(length == 100003 && n == 4 ? default_part_elements : 4099);
        simulation sim(modes, length, cfg);
        sim.run();
        auto everyone = sim.contributors();
        BOOST_TEST_CONTEXT("n=" << n << " length=" << length << " client=" << with_client
                                << " aux=" << with_aux) {
          for (size_t i = 0; i < n; ++i) {
            auto res = sim.rounds[i]->take_result();
            BOOST_TEST(!res.partial());
            BOOST_TEST(res.refused_count == 0u);
            if (modes[i] == peer_mode::aux) {
              BOOST_TEST(res.values.empty());
              continue;
            }
            BOOST_REQUIRE_EQUAL(res.values.size(), length);
            size_t mismatches = 0;
            for (uint64_t k = 0; k < length; ++k)
              mismatches += res.values[k] != sim.mean_over(k, everyone);
            BOOST_TEST(mismatches == 0u);
          }
        }
        ++cases;
      }
    }
  }
  BOOST_TEST(cases == 140u);
}

BOOST_AUTO_TEST_CASE(lossy_codecs_per_tensor_agree_bitwise_within_bound) {
  auto cfg = small_parts(50000);
  cfg.tensor_sizes = {10, 70000, 30000, 3};
  cfg.codecs = codec_choice::adaptive(codec::fp16, codec::blockwise_8bit, 65537);
  simulation sim({peer_mode::node, peer_mode::node, peer_mode::client, peer_mode::node}, 100013,
                 cfg);
  sim.run();
  auto everyone = sim.contributors();
  std::vector<std::vector<float>> results;
  for (auto& r : sim.rounds)
    results.push_back(r->take_result().values);
  for (size_t i = 1; i < results.size(); ++i)
    BOOST_TEST(std::memcmp(results[0].data(), results[i].data(), 100013 * sizeof(float)) == 0);
  // Inputs lie in [-64, 64]: 8-bit blocks err by <= 64/254 per hop (there and
  // back), fp16 by 2^-11 relative.
  for (uint64_t k = 0; k < 100013; ++k) {
    float expected = sim.mean_over(k, everyone);
    bool in_8bit_tensor = k >= 10 && k < 70010;
    float bound = in_8bit_tensor ? 2 * 64.f / 254 + 1e-4f : 64.f * 0x1p-10f;
    BOOST_REQUIRE_LE(std::fabs(results[0][k] - expected), bound);
  }
}

BOOST_AUTO_TEST_CASE(dead_sender_mid_transfer_others_finish_with_exact_partial_means) {
  const uint64_t length = 100003;
  simulation sim(std::vector<peer_mode>(4, peer_mode::node), length, small_parts(1000),
                 {1, 1, 1, 1});
  sim.kill_after_sends[3] = 40; // SIGKILL after 40 of its ~75 parts
  sim.run();
  BOOST_TEST(sim.dead[3]);
  auto everyone = sim.contributors();
  auto survivors = std::set<size_t>{0, 1, 2};
  std::vector<round_result> results;
  for (size_t i = 0; i < 3; ++i)
    results.push_back(sim.rounds[i]->take_result());
  auto spans = partition_spans(sim.group.members, length);
  for (size_t i = 0; i < 3; ++i) {
    const auto& res = results[i];
    BOOST_TEST(res.partial());
    for (size_t r = 0; r < 4; ++r) {
      auto report = std::find_if(res.spans.begin(), res.spans.end(),
                                 [&](const span_report& s) { return s.reducer == r; });
      BOOST_REQUIRE(report != res.spans.end());
      if (r == 3) {
        // The dead reducer's span: parts it finished are the full mean, the
        // others keep this peer's own values, and the report says so.
        BOOST_TEST(report->reducer_failed);
        BOOST_TEST(report->parts_missing > 0u);
        for (uint64_t k = spans[3].begin; k < spans[3].end; ++k)
          BOOST_REQUIRE(res.values[k] == sim.mean_over(k, everyone)
                        || res.values[k] == sim.inputs[i][k]);
        continue;
      }
      BOOST_TEST(!report->reducer_failed);
      BOOST_TEST((report->left_out == std::vector<size_t>{3}));
      for (uint64_t k = spans[r].begin; k < spans[r].end; ++k) {
        auto part = static_cast<uint32_t>((k - spans[r].begin) / 1000);
        const auto& arrived = sim.delivered_parts[{r, part}];
        auto expected_from = arrived.count(3) ? everyone : survivors;
        BOOST_REQUIRE_EQUAL(res.values[k], sim.mean_over(k, expected_from));
      }
    }
  }
  // Survivors agree bit for bit wherever a live reducer answered.
  for (uint64_t k = 0; k < spans[3].begin; ++k)
    BOOST_REQUIRE(results[0].values[k] == results[1].values[k]
                  && results[1].values[k] == results[2].values[k]);
}

BOOST_AUTO_TEST_CASE(reducer_dead_from_the_start) {
  const uint64_t length = 7000;
  simulation sim(std::vector<peer_mode>(4, peer_mode::node), length, small_parts(500),
                 {1, 1, 1, 1});
  sim.dead[2] = true; // never starts: a stalled peer looks the same
  sim.run();
  auto survivors = std::set<size_t>{0, 1, 3};
  auto spans = partition_spans(sim.group.members, length);
  for (size_t i : survivors) {
    auto res = sim.rounds[i]->take_result();
    for (const auto& s : res.spans) {
      if (s.reducer == 2) {
        BOOST_TEST(s.reducer_failed);
        BOOST_TEST(s.parts_missing == 4u); // 1750 values in parts of 500
      } else {
        BOOST_TEST((s.left_out == std::vector<size_t>{2}));
      }
    }
    for (uint64_t k = 0; k < length; ++k) {
      float expected = (k >= spans[2].begin && k < spans[2].end) ? sim.inputs[i][k]
                                                                 : sim.mean_over(k, survivors);
      BOOST_REQUIRE_EQUAL(res.values[k], expected);
    }
  }
}

BOOST_AUTO_TEST_CASE(nan_part_is_refused_and_its_sender_dropped) {
  const uint64_t length = 3000;
  simulation sim(std::vector<peer_mode>(3, peer_mode::node), length, small_parts(500),
                 {1, 1, 1});
  bool poisoned = false;
  sim.tamper = [&](envelope& e) {
    if (e.from != 2 || e.to != 0 || poisoned)
      return true;
    auto m = decode_message(e.bytes);
    if (m->kind != wire_kind::part)
      return true;
    std::vector<float> nan_values(500, std::numeric_limits<float>::quiet_NaN());
    part_message poisoned_part;
    poisoned_part.group_id = std::string(m->values.group_id);
    poisoned_part.sender_id = std::string(m->values.sender_id);
    poisoned_part.part_index = m->values.part_index;
    poisoned_part.weight = m->values.weight;
    encode(codec::none, nan_values, poisoned_part.values);
    e.bytes = encode_values(poisoned_part);
    poisoned = true;
    return true;
  };
  sim.run();
  BOOST_TEST(poisoned);
  auto spans = partition_spans(sim.group.members, length);
  auto all = sim.contributors();
  for (size_t i = 0; i < 3; ++i) {
    auto res = sim.rounds[i]->take_result();
    for (float v : res.values)
      BOOST_REQUIRE(std::isfinite(v));
    if (i == 0) {
      BOOST_TEST(res.refused_count >= 1u);
      BOOST_TEST(res.refused.front().find("non-finite") != std::string::npos);
    }
    // Member 2 is dropped as a sender by reducer 0 only: span 0 averages
    // members 0 and 1 (member 2 receives that too), the other spans everyone.
    BOOST_TEST(res.partial());
    for (uint64_t k = 0; k < length; ++k) {
      bool span0 = k < spans[0].end;
      BOOST_REQUIRE_EQUAL(res.values[k], sim.mean_over(k, span0 ? std::set<size_t>{0, 1} : all));
    }
  }
}

BOOST_AUTO_TEST_CASE(bad_messages_are_refused_and_change_nothing) {
  group_info g{"g1", {{"a", 1, peer_mode::node}, {"b", 1, peer_mode::node}, {"x", 1, peer_mode::aux}}};
  auto cfg = small_parts(10);
  std::vector<float> mine(40, 1.0f);
  auto round = allreduce_round::make(g, 0, mine, 1.0, 40, cfg, t0);
  BOOST_REQUIRE(round);
  std::vector<part_message> sent;
  auto send = [&](const std::vector<size_t>& to, part_message&& m) {
    for (size_t i = 0; i < to.size(); ++i)
      sent.push_back(m);
  };
  round->start(send);
  auto part_from = [&](std::string sender, uint32_t index, std::vector<float> values,
                       std::string group = "g1") {
    part_message m;
    m.group_id = std::move(group);
    m.sender_id = std::move(sender);
    m.kind = message_kind::part;
    m.part_index = index;
    m.weight = 1.0;
    encode(codec::none, values, m.values);
    return m;
  };
  std::vector<float> ten(10, 3.0f);
  // Spans: a reduces [0, 14), b [14, 27), x [27, 40); parts of 10 values.
  BOOST_TEST(refused(round->on_message(part_from("b", 0, ten, "other"), t0, send)));       // wrong group
  BOOST_TEST(refused(round->on_message(part_from("mallory", 0, ten), t0, send)));          // not a member
  BOOST_TEST(refused(round->on_message(part_from("a", 0, ten), t0, send)));                // claims to be us
  BOOST_TEST(refused(round->on_message(part_from("x", 0, ten), t0, send)));                // aux sends values
  BOOST_TEST(refused(round->on_message(part_from("b", 2, ten), t0, send)));                // index outside span
  BOOST_TEST(sent.empty());
  BOOST_TEST(!refused(round->on_message(part_from("b", 0, ten), t0, send)));               // fine
  BOOST_REQUIRE_EQUAL(sent.size(), 1u); // part 0's mean, to b
  BOOST_TEST(refused(round->on_message(part_from("b", 0, ten), t0, send)));                // duplicate
  BOOST_TEST(refused(round->on_message(part_from("b", 1, std::vector<float>(5, 1.f)), t0, send))); // part 1 holds 4 values
  // b broke the protocol: it is dropped as a sender, so part 1 finishes from
  // a's own values (and b, still a member, receives that mean).
  BOOST_REQUIRE_EQUAL(sent.size(), 2u);
  BOOST_TEST(refused(round->on_message(part_from("b", 1, std::vector<float>(4, 1.f)), t0, send))); // dropped sender
  auto res = round->take_result();
  BOOST_TEST(res.refused_count == 8u);
  BOOST_TEST(res.values[0] == 2.0f);  // mean of a's 1 and b's 3 in part 0
  BOOST_TEST(res.values[10] == 1.0f); // part 1: a alone
}

BOOST_AUTO_TEST_CASE(inconsistent_groups_are_refused) {
  group_info g{"g", {{"a", 1, peer_mode::client}, {"b", 1, peer_mode::client}}};
  BOOST_TEST(!allreduce_round::make(g, 0, std::vector<float>(5), 1.0, 5, {}, t0)); // nobody reduces
  g.members[1].mode = peer_mode::node;
  BOOST_TEST(static_cast<bool>(allreduce_round::make(g, 0, std::vector<float>(5), 1.0, 5, {}, t0)));
  BOOST_TEST(!allreduce_round::make(g, 0, std::vector<float>(4), 1.0, 5, {}, t0)); // wrong length
  BOOST_TEST(!allreduce_round::make(g, 0, std::vector<float>(5), 0.0, 5, {}, t0)); // weight 0
  BOOST_TEST(!allreduce_round::make(g, 2, std::vector<float>(5), 1.0, 5, {}, t0)); // not a member
  g.members[1].peer_id = "a";
  BOOST_TEST(!allreduce_round::make(g, 0, std::vector<float>(5), 1.0, 5, {}, t0)); // duplicate id
}

BOOST_AUTO_TEST_CASE(wire_round_trips_and_refuses_malformed_bytes) {
  part_message m;
  m.group_id = "g";
  m.sender_id = "peer1";
  m.kind = message_kind::result;
  m.part_index = 7;
  m.left_out = {2, 5};
  encode(codec::fp16, std::vector<float>{1.5f, -2.f}, m.values);
  auto bytes = encode_values(m);
  auto decoded = decode_message(bytes);
  BOOST_REQUIRE(decoded);
  BOOST_TEST((decoded->kind == wire_kind::result));
  BOOST_TEST(decoded->values.group_id == "g");
  BOOST_TEST(decoded->values.sender_id == "peer1");
  BOOST_TEST(decoded->values.part_index == 7u);
  BOOST_TEST((decoded->values.left_out == std::vector<uint32_t>{2, 5}));
  BOOST_TEST(decoded->values.values == m.values);
  // The same bytes at an odd address decode through an aligned copy.
  std::string shifted = " " + bytes;
  auto unaligned = decode_message(std::string_view(shifted).substr(1));
  BOOST_REQUIRE(unaligned);
  BOOST_TEST(unaligned->values.values == m.values);
  // Refused: truncated, not whole words, garbage, oversized.
  BOOST_TEST(!decode_message(std::string_view(bytes).substr(0, bytes.size() - 8)));
  BOOST_TEST(!decode_message(std::string_view(bytes).substr(0, bytes.size() - 3)));
  BOOST_TEST(!decode_message(std::string(64, '\xff')));
  BOOST_TEST(!decode_message(std::string(max_message_bytes + 8, '\0')));
  BOOST_TEST(!decode_message(""));
}
