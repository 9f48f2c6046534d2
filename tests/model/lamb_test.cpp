// LAMB as the 2021 run used it, and its schedule (and the schedule of
// DiLoCo's inner AdamW, the same shape).
#include "tests/model/model_fixture.hpp"

#include "model/adamw.hpp"
#include "model/lamb.hpp"

using namespace ttt::model;

BOOST_AUTO_TEST_CASE(schedule_warms_up_linearly_then_decays_to_zero) {
  train_config t; // the 2021 values
  lamb opt({}, t);
  BOOST_TEST(opt.learning_rate(0) == 0.0);
  BOOST_TEST(opt.learning_rate(3125 / 5) == 0.0025 * 625 / 3125, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(opt.learning_rate(3125) == 0.0025, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(opt.learning_rate(20000) == 0.0025 * (31250 - 20000) / (31250 - 3125), boost::test_tools::tolerance(1e-12));
  BOOST_TEST(opt.learning_rate(31250) == 0.0);
  BOOST_TEST(opt.learning_rate(40000) == 0.0);
}

BOOST_AUTO_TEST_CASE(adamw_warms_up_then_decays_to_zero_at_its_total_or_stays_constant) {
  adamw_settings s;
  s.learning_rate = 1.0;
  s.warmup_steps = 2;
  s.total_steps = 6;
  adamw decaying({}, s);
  BOOST_TEST(decaying.learning_rate(1) == 0.5);
  BOOST_TEST(decaying.learning_rate(2) == 1.0);
  BOOST_TEST(decaying.learning_rate(4) == 0.5);
  BOOST_TEST(decaying.learning_rate(6) == 0.0);
  BOOST_TEST(decaying.learning_rate(9) == 0.0);
  s.total_steps = 0;
  adamw constant({}, s);
  BOOST_TEST(constant.learning_rate(4) == 1.0);
  BOOST_TEST(constant.learning_rate(1000) == 1.0);
}

BOOST_AUTO_TEST_CASE(one_step_matches_the_formula_and_spares_biases_from_decay) {
  train_config t;
  auto w = torch::tensor({3.0f, 4.0f}).requires_grad_(true); // norm 5
  auto b = torch::tensor({1.0f, 0.0f}).requires_grad_(true);
  w.mutable_grad() = torch::tensor({0.3f, 0.4f});            // global norm 0.5: no clipping
  b.mutable_grad() = torch::tensor({0.0f, 0.0f});
  lamb opt({{"layer.weight", w}, {"layer.bias", b}}, t);
  double norm = opt.step(0.01);
  BOOST_TEST(norm == 0.5, boost::test_tools::tolerance(1e-6));
  // m = 0.1 g, v = 0.04 g², no bias correction: m/(√v+eps) = 0.5·sign(g) (up to eps)
  auto g = torch::tensor({0.3, 0.4}, torch::kDouble);
  auto m = 0.1 * g, v = 0.04 * g * g;
  auto update = m / (v.sqrt() + 1e-6) + 0.045 * torch::tensor({3.0, 4.0}, torch::kDouble);
  double trust = 5.0 / update.norm().item<double>();
  auto expected = torch::tensor({3.0, 4.0}, torch::kDouble) - 0.01 * trust * update;
  BOOST_TEST(torch::allclose(w.to(torch::kDouble), expected, 1e-5, 1e-6));
  // a zero-gradient bias without decay does not move
  BOOST_TEST(torch::equal(b, torch::tensor({1.0f, 0.0f})));
  BOOST_TEST(opt.slots()[1].weight_decay == 0.0);
  BOOST_TEST(opt.slots()[0].weight_decay == 0.045);
}

BOOST_AUTO_TEST_CASE(gradients_are_clipped_to_the_global_norm) {
  train_config t;
  auto a = torch::zeros({1}).requires_grad_(true);
  auto b = torch::zeros({1}).requires_grad_(true);
  a.mutable_grad() = torch::tensor({30.0f});
  b.mutable_grad() = torch::tensor({40.0f}); // norm 50 > 4
  lamb opt({{"a.weight", a}, {"b.weight", b}}, t);
  BOOST_TEST(opt.step(0.0) == 50.0, boost::test_tools::tolerance(1e-6));
  // the moments saw the clipped gradient: 0.1 · 30 · 4/50
  BOOST_TEST(opt.slots()[0].exp_avg.item<float>() == 0.1f * 30 * 4 / 50, boost::test_tools::tolerance(1e-4f));
}
