// The pure butterfly all-reduce core, driven by a simulated network in one
// thread: messages go through the real wire codec and are delivered in a
// seeded random order; time only moves when nothing else can happen.
#define BOOST_TEST_MODULE averager_allreduce
#include <boost/test/unit_test.hpp>

#include "actors/averager/allreduce.hpp"
#include "actors/averager/wire.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
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

  /// `adjust` may replace the generated inputs and weights before the
  /// rounds start (attackers, identical vectors).
  using adjust_fn = std::function<void(std::vector<std::vector<float>>& inputs,
                                       std::vector<double>& weights)>;

  simulation(std::vector<peer_mode> modes, uint64_t length, round_config cfg,
             std::vector<double> bandwidths = {}, const adjust_fn& adjust = {})
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
    }
    if (adjust)
      adjust(inputs, weights);
    for (size_t i = 0; i < n; ++i) {
      auto r = allreduce_round::make(group, i, inputs[i], weights[i], length, config, now);
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

// -- CenteredClip, weight caps ------------------------------------------------

namespace {

round_config clipping(uint64_t part_elements = 1000) {
  auto c = small_parts(part_elements);
  c.aggregation = aggregation_rule::centered_clip;
  return c;
}

/// ||a - b|| over the whole vector, and ||b||.
double distance(const std::vector<float>& a, const std::vector<double>& b) {
  double sum = 0;
  for (size_t k = 0; k < b.size(); ++k)
    sum += (static_cast<double>(a[k]) - b[k]) * (static_cast<double>(a[k]) - b[k]);
  return std::sqrt(sum);
}

double norm(const std::vector<double>& b) {
  double sum = 0;
  for (double x : b)
    sum += x * x;
  return std::sqrt(sum);
}

const span_report* span_of(const round_result& res, size_t reducer) {
  for (const auto& s : res.spans)
    if (s.reducer == reducer)
      return &s;
  return nullptr;
}

bool lists(const std::vector<size_t>& members, size_t m) {
  return std::find(members.begin(), members.end(), m) != members.end();
}

enum class attack { scaled, inverted };

/// Four honest members send a common gradient plus 2 % noise; member 2 sends
/// its own honest vector x1000 or inverted, with the largest weight.
simulation::adjust_fn honest_plus_attacker(attack how, size_t attacker) {
  return [how, attacker](std::vector<std::vector<float>>& inputs, std::vector<double>& weights) {
    std::mt19937 rng(99);
    std::uniform_real_distribution<float> unit(-1.f, 1.f);
    const size_t length = inputs[0].size();
    std::vector<float> common(length);
    for (auto& g : common) // away from 0, so that relative errors mean something per value
      g = (unit(rng) < 0 ? -1.f : 1.f) * (0.5f + 0.5f * std::fabs(unit(rng)));
    for (size_t i = 0; i < inputs.size(); ++i)
      for (size_t k = 0; k < length; ++k)
        inputs[i][k] = common[k] + 0.02f * unit(rng);
    for (auto& x : inputs[attacker])
      x = how == attack::scaled ? 1000.f * x : -x;
    weights[attacker] = 4;
  };
}

} // namespace

BOOST_AUTO_TEST_CASE(parse_aggregation_names) {
  BOOST_TEST((parse_aggregation("mean").value() == aggregation_rule::mean));
  BOOST_TEST((parse_aggregation("centered_clip").value() == aggregation_rule::centered_clip));
  BOOST_TEST(!parse_aggregation("median"));
  BOOST_TEST(to_string(aggregation_rule::centered_clip) == "centered_clip");
}

BOOST_AUTO_TEST_CASE(centered_clip_resists_a_scaled_or_inverted_member_while_mean_is_dragged) {
  const size_t n = 5, attacker = 2;
  for (attack how : {attack::scaled, attack::inverted}) {
    for (uint64_t length : {uint64_t{1}, uint64_t{7}, uint64_t{1000}, uint64_t{20000}}) {
      BOOST_TEST_CONTEXT((how == attack::scaled ? "x1000" : "inverted") << " length=" << length) {
        std::vector<double> bandwidths(n, 1.0);
        std::map<aggregation_rule, std::vector<round_result>> results;
        std::vector<double> honest_mean(length, 0.0);
        for (auto rule : {aggregation_rule::mean, aggregation_rule::centered_clip}) {
          auto cfg = clipping(1000);
          cfg.aggregation = rule;
          simulation sim(std::vector<peer_mode>(n, peer_mode::node), length, cfg, bandwidths,
                         honest_plus_attacker(how, attacker));
          sim.run();
          std::set<size_t> honest = {0, 1, 3, 4};
          for (uint64_t k = 0; k < length; ++k) {
            double sum = 0, total = 0;
            for (size_t c : honest) {
              sum += sim.weights[c] * static_cast<double>(sim.inputs[c][k]);
              total += sim.weights[c];
            }
            honest_mean[k] = sum / total;
          }
          for (auto& r : sim.rounds)
            results[rule].push_back(r->take_result());
        }
        const double scale = norm(honest_mean);
        for (size_t i = 0; i < n; ++i) {
          if (i == attacker)
            continue;
          const auto& mean = results[aggregation_rule::mean][i];
          const auto& clip = results[aggregation_rule::centered_clip][i];
          // The damage the plain mean takes: the attacker holds 4 of the 12
          // weight, so x1000 moves the result by ~333 times its own size and
          // the inversion by ~2/3 of it.
          double mean_error = distance(mean.values, honest_mean) / scale;
          BOOST_TEST(mean_error > (how == attack::scaled ? 100.0 : 0.5));
          // CenteredClip stays within the honest spread (2 % noise) of the
          // honest mean, and every member ends with the same vector.
          BOOST_TEST(distance(clip.values, honest_mean) / scale < 0.15);
          BOOST_TEST(!clip.partial());
          BOOST_TEST(clip.values == results[aggregation_rule::centered_clip][0].values);
          // This member's span lists the attacker as clipped (and, with
          // enough values for distances to mean something, no one else).
          const auto* mine = span_of(clip, i);
          if (mine == nullptr)
            continue; // a span of 0 values (length 1 or 7 over 5 reducers)
          BOOST_TEST(lists(mine->clipped, attacker));
          if (length >= 1000)
            BOOST_TEST(mine->clipped.size() == 1u);
          BOOST_TEST(span_of(mean, i)->clipped.empty());
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(centered_clip_of_identical_vectors_is_exactly_that_vector) {
  for (size_t n = 1; n <= 6; ++n) {
    for (uint64_t length : {uint64_t{0}, uint64_t{1}, uint64_t{7}, uint64_t{1000}}) {
      std::vector<peer_mode> modes(n, peer_mode::node);
      if (n >= 3)
        modes[n - 1] = peer_mode::client;
      if (n >= 4)
        modes[0] = peer_mode::aux;
      std::vector<float> shared;
      simulation sim(modes, length, clipping(300), {}, [&](auto& inputs, auto&) {
        for (auto& v : inputs)
          if (!v.empty()) {
            if (shared.empty())
              shared = v;
            v = shared;
          }
      });
      sim.run();
      BOOST_TEST_CONTEXT("n=" << n << " length=" << length) {
        for (size_t i = 0; i < n; ++i) {
          auto res = sim.rounds[i]->take_result();
          BOOST_TEST(!res.partial());
          if (modes[i] == peer_mode::aux)
            continue;
          BOOST_TEST((res.values == sim.inputs[i]));
          for (const auto& s : res.spans)
            BOOST_TEST(s.clipped.empty());
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(centered_clip_sweep_stays_within_the_contributions_and_agrees) {
  size_t cases = 0;
  for (size_t n = 1; n <= 8; ++n) {
    for (uint64_t length : {uint64_t{0}, uint64_t{1}, uint64_t{7}, uint64_t{1000}}) {
      for (int variant = 0; variant < 4; ++variant) {
        bool with_client = variant & 1, with_aux = variant & 2;
        if ((with_client && n < 2) || (with_aux && n < 2) || (with_client && with_aux && n < 3))
          continue;
        std::vector<peer_mode> modes(n, peer_mode::node);
        if (with_client)
          modes[n - 1] = peer_mode::client;
        if (with_aux)
          modes[0] = peer_mode::aux;
        simulation sim(modes, length, clipping(300));
        sim.run();
        auto everyone = sim.contributors();
        BOOST_TEST_CONTEXT("n=" << n << " length=" << length << " client=" << with_client
                                << " aux=" << with_aux) {
          std::vector<round_result> results;
          for (size_t i = 0; i < n; ++i)
            results.push_back(sim.rounds[i]->take_result());
          // Whether each reducer clipped anyone (only its own report knows).
          auto spans = partition_spans(sim.group.members, length);
          std::vector<bool> span_clipped(n, false);
          for (size_t r = 0; r < n; ++r)
            if (const auto* own = span_of(results[r], r))
              span_clipped[r] = !own->clipped.empty();
          for (size_t i = 0; i < n; ++i) {
            const auto& res = results[i];
            BOOST_TEST(!res.partial());
            BOOST_TEST(res.refused_count == 0u);
            if (modes[i] == peer_mode::aux)
              continue;
            BOOST_REQUIRE_EQUAL(res.values.size(), length);
            BOOST_TEST((res.values == results[with_aux ? 1 : 0].values));
            size_t outside = 0, off_mean = 0;
            for (size_t r = 0; r < n; ++r) {
              // Two contributors are never clipped (both lie at the same
              // distance from their median); nor are a few hundred random
              // values per span. Unclipped, a span is the weighted mean.
              if (everyone.size() <= 2 || length == 1000)
                BOOST_TEST(!span_clipped[r]);
              for (uint64_t k = spans[r].begin; k < spans[r].end; ++k) {
                float lo = std::numeric_limits<float>::infinity(), hi = -lo;
                for (size_t c : everyone) {
                  lo = std::min(lo, sim.inputs[c][k]);
                  hi = std::max(hi, sim.inputs[c][k]);
                }
                outside += res.values[k] < lo || res.values[k] > hi;
                if (!span_clipped[r])
                  off_mean += std::fabs(res.values[k] - sim.mean_over(k, everyone)) > 1e-3f;
              }
            }
            BOOST_TEST(outside == 0u);
            BOOST_TEST(off_mean == 0u);
          }
        }
        ++cases;
      }
    }
  }
  BOOST_TEST(cases == 112u);
}

BOOST_AUTO_TEST_CASE(centered_clip_respects_weights) {
  // Two members: never clipped, so the weighted mean, not the plain one.
  simulation pair(std::vector<peer_mode>(2, peer_mode::node), 1000, clipping(), {1, 1},
                  [](auto&, auto& weights) { weights = {1, 3}; });
  pair.run();
  auto everyone = pair.contributors();
  for (size_t i = 0; i < 2; ++i) {
    auto res = pair.rounds[i]->take_result();
    size_t off = 0, plain = 0;
    for (uint64_t k = 0; k < 1000; ++k) {
      off += std::fabs(res.values[k] - pair.mean_over(k, everyone)) > 1e-4f;
      float unweighted = (pair.inputs[0][k] + pair.inputs[1][k]) / 2;
      plain += std::fabs(res.values[k] - unweighted) < 1e-4f && pair.inputs[0][k] != pair.inputs[1][k];
    }
    BOOST_TEST(off == 0u);
    BOOST_TEST(plain == 0u);
  }
  // Five honest members with weights 1..5 close together: nobody clipped,
  // the weighted mean.
  simulation five(std::vector<peer_mode>(5, peer_mode::node), 2000, clipping(), {1, 1, 1, 1, 1},
                  [](auto& inputs, auto& weights) {
                    honest_plus_attacker(attack::scaled, 0)(inputs, weights);
                    inputs[0] = inputs[1];
                    weights = {1, 2, 3, 4, 5};
                  });
  five.run();
  for (size_t i = 0; i < 5; ++i) {
    auto res = five.rounds[i]->take_result();
    BOOST_TEST(span_of(res, i)->clipped.empty());
    size_t off = 0;
    for (uint64_t k = 0; k < 2000; ++k)
      off += std::fabs(res.values[k] - five.mean_over(k, five.contributors())) > 1e-5f;
    BOOST_TEST(off == 0u);
  }
}

BOOST_AUTO_TEST_CASE(weight_claims_are_capped_at_max_weight) {
  // Member 2 claims a weight of 1e300; the round caps it at 8 (as a
  // trainer passes its target batch): the result is the exact mean with
  // weight 8, and each reducer's report names member 2.
  auto cfg = small_parts(1000);
  cfg.max_weight = 8;
  simulation sim(std::vector<peer_mode>(3, peer_mode::node), 3000, cfg, {1, 1, 1},
                 [](auto&, auto& weights) { weights = {1, 2, 1e300}; });
  sim.run();
  sim.weights[2] = 8; // what the mean must have used
  auto everyone = sim.contributors();
  for (size_t i = 0; i < 3; ++i) {
    auto res = sim.rounds[i]->take_result();
    size_t mismatches = 0;
    for (uint64_t k = 0; k < 3000; ++k)
      mismatches += res.values[k] != sim.mean_over(k, everyone);
    BOOST_TEST(mismatches == 0u);
    if (i != 2)
      BOOST_TEST((span_of(res, i)->weight_capped == std::vector<size_t>{2}));
  }
  // With the default cap, even 1e308 (x 64 overflows a double) leaves a
  // finite result: the heavy member's values, up to 3 in 1e12.
  simulation heavy(std::vector<peer_mode>(3, peer_mode::node), 3000, small_parts(1000), {1, 1, 1},
                   [](auto&, auto& weights) { weights = {1, 2, 1e308}; });
  heavy.run();
  for (size_t i = 0; i < 3; ++i) {
    auto res = heavy.rounds[i]->take_result();
    size_t off = 0;
    for (uint64_t k = 0; k < 3000; ++k)
      off += !std::isfinite(res.values[k]) || std::fabs(res.values[k] - heavy.inputs[2][k]) > 1e-6f;
    BOOST_TEST(off == 0u);
  }
  cfg.max_weight = std::numeric_limits<double>::infinity();
  group_info g{"g", {{"a", 1, peer_mode::node}, {"b", 1, peer_mode::node}}};
  BOOST_TEST(!allreduce_round::make(g, 0, std::vector<float>(5), 1.0, 5, cfg, t0));
}

BOOST_AUTO_TEST_CASE(centered_clip_drops_a_sender_running_past_its_window) {
  group_info g{"g1", {{"a", 1, peer_mode::node}, {"b", 0, peer_mode::node}}};
  auto cfg = clipping(10);
  cfg.send_window_parts = 2;
  auto round = allreduce_round::make(g, 0, std::vector<float>(100, 1.0f), 1.0, 100, cfg, t0);
  BOOST_REQUIRE(round);
  size_t sent = 0;
  auto send = [&](const std::vector<size_t>&, part_message&&) { ++sent; };
  round->start(send);
  auto part = [&](uint32_t index) {
    part_message m;
    m.group_id = "g1";
    m.sender_id = "b";
    m.part_index = index;
    m.weight = 1.0;
    encode(codec::none, std::vector<float>(10, 3.0f), m.values);
    return m;
  };
  // Each part waits only for b here, so each completes on arrival.
  BOOST_TEST(!refused(round->on_message(part(0), t0, send)));
  BOOST_TEST(!refused(round->on_message(part(2), t0, send))); // 1 done + window 2: parts up to 2
  BOOST_TEST(refused(round->on_message(part(4), t0, send)));  // 2 done + window 2: beyond it
  BOOST_TEST(refused(round->on_message(part(1), t0, send)));  // b was dropped
  auto res = round->take_result();
  BOOST_TEST(res.refused.at(0).find("beyond the send window") != std::string::npos);
  BOOST_TEST(res.values[0] == 2.0f);  // parts 0 and 2: a's 1 and b's 3
  BOOST_TEST(res.values[20] == 2.0f);
  BOOST_TEST(res.values[10] == 1.0f); // part 1: a alone once b was dropped
  BOOST_TEST(res.values[99] == 1.0f);
}
