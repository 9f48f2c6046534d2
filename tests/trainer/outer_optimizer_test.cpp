// DiLoCo's outer step as pure math: Nesterov momentum SGD on the
// pseudo-gradient, checked exactly on values that binary floats hold exactly.
#define BOOST_TEST_MODULE outer_optimizer
#include <boost/test/unit_test.hpp>

#include "actors/trainer/outer_optimizer.hpp"

#include <stdexcept>

using namespace ttt::trainer;

namespace {

using vec = std::vector<float>;

bool same(const vec& a, const vec& b) {
  return a == b;
}

} // namespace

BOOST_AUTO_TEST_CASE(pseudo_gradient_is_start_minus_local) {
  BOOST_TEST(same(pseudo_gradient({1, -2, 0.5f}, {0.5f, -1, 0.5f}), {0.5f, -1, 0}));
  BOOST_TEST(pseudo_gradient({}, {}).empty());
  BOOST_CHECK_THROW(pseudo_gradient({1, 2}, {1}), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(nesterov_steps_match_the_hand_computed_values) {
  // v ← μv + g;  θ = start − lr·(g + μv), with lr = μ = 0.5.
  outer_optimizer outer({0.5, 0.5, true});
  vec start{1, -2, 0.25f};
  // v = g = (0.5, 1, -0.25); update = (0.75, 1.5, -0.375).
  auto first = outer.step(start, {0.5f, 1, -0.25f});
  BOOST_TEST(same(first, {0.625f, -2.75f, 0.4375f}));
  BOOST_TEST(same(outer.momentum(), {0.5f, 1, -0.25f}));
  // v = (0.5, 0, -0.125); update = (0.5, -0.5, -0.0625).
  auto second = outer.step(first, {0.25f, -0.5f, 0});
  BOOST_TEST(same(outer.momentum(), {0.5f, 0, -0.125f}));
  BOOST_TEST(same(second, {0.375f, -2.5f, 0.46875f}));
  BOOST_TEST(outer.steps() == 2u);
}

BOOST_AUTO_TEST_CASE(heavy_ball_momentum_steps_by_the_buffer) {
  outer_optimizer outer({0.5, 0.5, false});
  auto first = outer.step({1, -2}, {0.5f, 1});
  BOOST_TEST(same(first, {0.75f, -2.5f})); // update = v = g
  auto second = outer.step(first, {0.5f, 1});
  BOOST_TEST(same(second, {0.375f, -3.25f})); // v = 1.5 g
}

BOOST_AUTO_TEST_CASE(lr_one_without_momentum_is_parameter_averaging) {
  // start − (start − mean(local)) = mean(local): DiLoCo's outer step
  // generalises averaging the peers' parameters.
  outer_optimizer outer({1.0, 0.0, true});
  vec start{1, 2, 3};
  vec a{0.5f, 2.5f, 3}, b{1.5f, 1.5f, 2};
  auto ga = pseudo_gradient(start, a), gb = pseudo_gradient(start, b);
  vec mean(3);
  for (size_t i = 0; i < 3; ++i)
    mean[i] = (ga[i] + gb[i]) / 2;
  BOOST_TEST(same(outer.step(start, mean), {1, 2, 2.5f}));
}

BOOST_AUTO_TEST_CASE(diloco_defaults_follow_the_formula) {
  outer_optimizer outer; // lr 0.7, momentum 0.9, Nesterov
  BOOST_TEST(outer.settings().learning_rate == 0.7);
  BOOST_TEST(outer.settings().momentum == 0.9);
  vec theta{0.25f, -1};
  vec v{0, 0};
  for (float g0 : {0.125f, -0.5f, 0.75f}) {
    vec g{g0, 2 * g0};
    vec expected(2);
    for (size_t i = 0; i < 2; ++i) {
      v[i] = static_cast<float>(0.9 * v[i] + g[i]);
      expected[i] = static_cast<float>(theta[i] - 0.7 * (g[i] + 0.9 * v[i]));
    }
    theta = outer.step(theta, g);
    BOOST_TEST(same(theta, expected));
  }
  BOOST_CHECK_THROW(outer.step({1}, {1}), std::invalid_argument); // sizes changed
}
