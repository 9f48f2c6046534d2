#define BOOST_TEST_MODULE join_plan
#include <boost/test/unit_test.hpp>

#include "apps/join_plan.hpp"

using namespace ttt;

namespace {

/// dalle-tiny's shape (configs/model/dalle-tiny.ini).
model::dalle_config tiny() {
  model::dalle_config m;
  m.dim = 128;
  m.depth = 4;
  m.heads = 4;
  m.dim_head = 32;
  m.text_seq_len = 16;
  m.image_fmap_size = 8;
  return m;
}

constexpr int64_t gib = int64_t{1} << 30;

} // namespace

BOOST_AUTO_TEST_CASE(kept_activations_cost_more_than_recomputed_ones) {
  auto m = tiny();
  BOOST_TEST(apps::activation_bytes_per_sample(m, true) > apps::activation_bytes_per_sample(m, false));
  m.depth = 8;
  // Kept activations grow with depth; recomputed ones hardly.
  BOOST_TEST(apps::activation_bytes_per_sample(m, true) > 1.9 * apps::activation_bytes_per_sample(tiny(), true));
}

BOOST_AUTO_TEST_CASE(a_roomy_machine_keeps_activations_at_the_configs_micro_batch) {
  auto p = apps::plan_training(tiny(), 1000000, 16, 8 * gib, "cpu");
  BOOST_TEST(p.keep_activations);
  BOOST_TEST(p.micro_batch == 16);
  BOOST_TEST(p.fits);
  BOOST_TEST(p.line.find("micro-batch 16 with activations kept") != std::string::npos, p.line);
  BOOST_TEST(p.line.find("hardware: cpu, 8.0 GiB") != std::string::npos, p.line);
}

BOOST_AUTO_TEST_CASE(a_small_machine_recomputes_and_halves_the_micro_batch_until_it_fits) {
  auto m = tiny();
  m.dim = 1024;
  m.depth = 32;
  m.text_seq_len = 256;
  m.image_fmap_size = 32; // dalle-ttt's sequence
  int64_t params = 500000000;
  auto p = apps::plan_training(m, params, 64, 24 * gib, "cpu");
  BOOST_TEST(!p.keep_activations);
  BOOST_TEST(p.micro_batch < 64);
  BOOST_TEST(p.fits);
  BOOST_TEST(p.state_bytes + p.activation_bytes <= 0.7 * 24 * gib);
  // Twice the micro-batch would not have fitted.
  BOOST_TEST(p.state_bytes + 2 * p.activation_bytes > 0.7 * 24 * gib);
  // Too little memory for even one sample: it says so.
  auto tiny_machine = apps::plan_training(m, params, 64, 8 * gib, "cpu");
  BOOST_TEST(tiny_machine.micro_batch == 1);
  BOOST_TEST(!tiny_machine.fits);
  BOOST_TEST(tiny_machine.line.find("may not fit") != std::string::npos, tiny_machine.line);
}

BOOST_AUTO_TEST_CASE(unknown_memory_keeps_the_configs_settings) {
  auto p = apps::plan_training(tiny(), 1000000, 16, 0, "cuda:0 (a GPU)");
  BOOST_TEST(p.micro_batch == 16);
  BOOST_TEST(!p.keep_activations);
  BOOST_TEST(p.line.find("memory unknown") != std::string::npos, p.line);
}
