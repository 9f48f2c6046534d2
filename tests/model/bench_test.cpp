// Reversible layers really save activation memory: the peak of a training
// step with recomputation is well below the plain stack's.
#include "tests/model/model_fixture.hpp"

#include "model/bench_train.hpp"

using namespace ttt::model;

BOOST_AUTO_TEST_CASE(reversible_recompute_lowers_peak_step_memory) {
  auto config = std::string(TTT_SOURCE_DIR) + "/configs/model/dalle-small.ini";
  auto plain = measure_train_step(config, 4, 0, false);
  auto reversible = measure_train_step(config, 4, 0, true);
  BOOST_REQUIRE_MESSAGE(plain, plain.error());
  BOOST_REQUIRE_MESSAGE(reversible, reversible.error());
  BOOST_TEST(plain->peak_mib > 0);
  BOOST_TEST(reversible->peak_mib < 0.6 * plain->peak_mib,
             "peak MiB with recomputation " << reversible->peak_mib << ", plain " << plain->peak_mib);
  auto bad = measure_train_step("/nonexistent/c.ini", 1, 0, true);
  BOOST_TEST(!bad);
}
