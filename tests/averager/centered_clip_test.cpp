// CenteredClip on one part (the pure function a reducer calls) and the
// tally that turns repeated clipping into dropping a peer.
#define BOOST_TEST_MODULE averager_centered_clip
#include <boost/test/unit_test.hpp>

#include "actors/averager/centered_clip.hpp"
#include "actors/averager/clip_tally.hpp"

#include <cmath>
#include <random>

using namespace ttt::averaging;

namespace {

struct part_inputs {
  std::vector<std::vector<float>> values;
  std::vector<double> weights;

  std::vector<const float*> pointers() const {
    std::vector<const float*> out;
    for (const auto& v : values)
      out.push_back(v.data());
    return out;
  }

  std::vector<float> clip(clip_outcome* outcome = nullptr, clip_settings s = {}) const {
    std::vector<float> out(values.empty() ? 0 : values[0].size());
    std::vector<double> work;
    auto o = centered_clip(pointers(), weights, out.size(), s, out.data(), work);
    if (outcome)
      *outcome = o;
    return out;
  }

  double weighted_mean(size_t k, size_t skip = SIZE_MAX) const {
    double sum = 0, total = 0;
    for (size_t i = 0; i < values.size(); ++i)
      if (i != skip) {
        sum += weights[i] * values[i][k];
        total += weights[i];
      }
    return sum / total;
  }
};

/// `honest` contributions around a common vector (1 % noise), weights 1..
part_inputs honest(size_t count, size_t length, unsigned seed = 1) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> unit(-1.f, 1.f);
  std::vector<float> common(length);
  for (auto& g : common)
    g = unit(rng);
  part_inputs p;
  for (size_t i = 0; i < count; ++i) {
    std::vector<float> v(length);
    for (size_t k = 0; k < length; ++k)
      v[k] = common[k] + 0.01f * unit(rng);
    p.values.push_back(v);
    p.weights.push_back(static_cast<double>(i + 1));
  }
  return p;
}

} // namespace

BOOST_AUTO_TEST_CASE(identical_and_single_contributions_come_back_exactly) {
  auto p = honest(1, 1000);
  BOOST_TEST((p.clip() == p.values[0]));
  p.values.resize(5, p.values[0]);
  p.weights = {1, 2, 3, 4, 1e6};
  clip_outcome o;
  BOOST_TEST((p.clip(&o) == p.values[0]));
  BOOST_TEST(o.tau == 0.0);
  for (bool c : o.clipped)
    BOOST_TEST(!c);
}

BOOST_AUTO_TEST_CASE(honest_contributions_give_the_weighted_mean) {
  auto p = honest(6, 5000);
  clip_outcome o;
  auto out = p.clip(&o);
  for (bool c : o.clipped)
    BOOST_TEST(!c);
  size_t off = 0;
  for (size_t k = 0; k < 5000; ++k)
    off += std::fabs(out[k] - p.weighted_mean(k)) > 1e-6;
  BOOST_TEST(off == 0u);
  BOOST_TEST(o.iterations <= 3u); // one step to the mean, one to see it stays
}

BOOST_AUTO_TEST_CASE(a_scaled_contribution_is_clipped_to_the_honest_spread) {
  for (float factor : {1000.f, -1.f, -1000.f}) {
    auto p = honest(5, 5000);
    for (auto& x : p.values[4])
      x *= factor;
    // Weight 5 of 15: a third of the weight. (Weights are bounded before
    // they get here, max_weight: a liar holding nearly all the weight could
    // drag the center by up to tau per iteration.)
    clip_outcome o;
    auto out = p.clip(&o);
    BOOST_TEST_CONTEXT("factor " << factor) {
      BOOST_TEST(o.clipped[4]);
      for (size_t i = 0; i < 4; ++i)
        BOOST_TEST(!o.clipped[i]);
      // The pull of the liar is at most tau: the result stays within a few
      // noise radii (1 % of values of ~0.6) of the honest weighted mean.
      double err = 0, scale = 0;
      for (size_t k = 0; k < 5000; ++k) {
        double h = p.weighted_mean(k, 4);
        err += (out[k] - h) * (out[k] - h);
        scale += h * h;
      }
      BOOST_TEST(std::sqrt(err / scale) < 0.05);
    }
  }
}

BOOST_AUTO_TEST_CASE(tau_is_relative_to_the_median_distance) {
  // Scaling every contribution scales the radius: the same contributions
  // are clipped, whatever the gradients' magnitude.
  auto p = honest(5, 2000);
  for (auto& x : p.values[0])
    x *= 50;
  clip_outcome small, large;
  p.clip(&small);
  for (auto& v : p.values)
    for (auto& x : v)
      x *= 1e4f;
  p.clip(&large);
  BOOST_TEST(small.clipped == large.clipped);
  BOOST_TEST(small.clipped[0]);
  BOOST_TEST(large.tau / small.tau == 1e4, boost::test_tools::tolerance(1e-3));
}

BOOST_AUTO_TEST_CASE(tally_drops_a_peer_clipped_in_most_recent_rounds_once) {
  clip_tally tally({8, 6, 4096});
  std::vector<std::string> group = {"honest-1", "honest-2", "liar"};
  size_t drops = 0;
  for (int round = 0; round < 8; ++round) {
    // The liar is clipped in 7 of 8 rounds; an honest peer once.
    std::vector<std::string> clipped;
    if (round != 3)
      clipped.push_back("liar");
    if (round == 5)
      clipped.push_back("honest-1");
    auto dropped = tally.record(group, clipped);
    drops += dropped.size();
    if (round < 6)
      BOOST_TEST(dropped.empty());
    if (round == 6)
      BOOST_TEST((dropped == std::vector<std::string>{"liar"})); // its 6th clipped round
  }
  BOOST_TEST(drops == 1u); // reported once
  BOOST_TEST(tally.dropped("liar"));
  BOOST_TEST(!tally.dropped("honest-1"));
  BOOST_TEST(tally.counts("liar")->clipped == 7u);
  BOOST_TEST(tally.counts("liar")->rounds == 8u);
  BOOST_TEST(tally.drop_message("liar")
             == "peer liar clipped in 7 of the last 8 rounds: dropped from this peer's groups");
  // Binary ids print as hex.
  BOOST_TEST(printable_peer(std::string("\x01\xab", 2)) == "01ab");
}

BOOST_AUTO_TEST_CASE(tally_forgets_old_rounds_and_bounds_its_peers) {
  clip_tally tally({4, 3, 2});
  // Clipped twice long ago, then four clean rounds: the window holds none.
  tally.record({"a"}, {"a"});
  tally.record({"a"}, {"a"});
  for (int i = 0; i < 4; ++i)
    tally.record({"a"}, {});
  BOOST_TEST(tally.counts("a")->clipped == 0u);
  BOOST_TEST(tally.record({"a"}, {"a"}).empty()); // 1 of 4
  // At most 2 peers remembered: the longest unseen goes (never a dropped one).
  tally.record({"b"}, {});
  tally.record({"c"}, {});
  BOOST_TEST(!tally.counts("a"));
  BOOST_TEST(tally.counts("c").has_value());
  // drop_after 0: never drop.
  clip_tally lenient({4, 0, 16});
  for (int i = 0; i < 8; ++i)
    BOOST_TEST(lenient.record({"x"}, {"x"}).empty());
}
