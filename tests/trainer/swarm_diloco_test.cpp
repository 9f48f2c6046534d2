// The real DALL-E (dalle-tiny, libtorch) trained in DiLoCo mode by two
// trainers on a simulated network: H AdamW steps each, then the 8-bit
// all-reduce of the pseudo-gradients and the same outer Nesterov step. Both
// end every epoch with exactly the same parameters, and the loss drops.
#define BOOST_TEST_MODULE swarm_diloco
#include <boost/test/unit_test.hpp>

#include "actors/trainer/diloco.hpp"
#include "model/api.hpp"
#include "model/swarm_model.hpp"
#include "tests/trainer/sim_trainer.hpp"
#include "tests/trainer/tiny_dalle.hpp"
#include "tests/dht/printing.hpp"
#include "tests/dht/sim_network.hpp"

#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <unistd.h>

using namespace ttt;
using namespace ttt::trainer;
using ttt::test::sim_network;

BOOST_AUTO_TEST_CASE(two_diloco_trainers_agree_exactly_and_the_loss_drops) {
  auto files = test::make_tiny_dalle("swarm-diloco", 128, 8); // dalle-tiny, in micro-batches of 8
  const std::string& dir = files.dir;

  const uint64_t epochs = 6;
  diloco_settings ds;
  ds.inner_steps = 8;
  ds.inner_batch_size = 8;
  std::vector<std::shared_ptr<local_model>> models;
  std::vector<std::vector<epoch_report>> reports(2);
  std::vector<float> initial;
  {
    sim_network net;
    std::vector<dht::dht_actor> backbone;
    for (uint16_t i = 1; i <= 4; ++i) {
      backbone.push_back(net.spawn(net.config(i, 90 + i)));
      if (i > 1)
        net.bootstrap(backbone.back(), {"10.0.0.1:1"});
    }
    auto handles = std::make_shared<test::averager_handles>();
    for (size_t i = 0; i < 2; ++i) {
      model::swarm_model_options mo;
      mo.config = files.config;
      mo.data_dir = files.data;
      mo.peer_id = "peer" + std::to_string(i);
      mo.inner.learning_rate = 3e-3;
      auto m = model::make_swarm_model(mo);
      BOOST_REQUIRE_MESSAGE(m, m.error());
      models.push_back(*m);
      if (i == 0)
        initial = models[0]->parameters();
      auto tc = test::sim_trainer_config(net, static_cast<uint16_t>(50 + i), 900 + i, *m, handles);
      tc.run_id = "tiny";
      tc.progress.min_refresh_period = 0.2;
      tc.matchmaking.target_group_size = 2;
      tc.matchmaking.min_group_size = 2;
      tc.matchmaking.matchmaking_time = 1.0;
      tc.epochs = epochs;
      tc.pace = std::chrono::milliseconds(100);
      tc.on_epoch = [&reports, i](const epoch_report& r) { reports[i].push_back(r); };
      net.adopt(spawn_diloco_trainer(net.system(), tc, ds));
    }
    for (int step = 0; step < 4000 && (reports[0].size() < epochs || reports[1].size() < epochs); ++step) {
      net.now += 0.1;
      net.sched().clock().advance_time(std::chrono::milliseconds(100));
      net.settle();
    }
  }
  for (size_t i = 0; i < 2; ++i) {
    BOOST_REQUIRE(reports[i].size() == epochs);
    for (const auto& r : reports[i]) {
      BOOST_TEST(r.averaged);
      BOOST_TEST(r.group_size == 2u);
      BOOST_TEST(r.samples == ds.inner_steps * ds.inner_batch_size);
      BOOST_TEST(std::isfinite(r.mean_loss));
    }
  }
  for (uint64_t e = 0; e < epochs; ++e)
    BOOST_TEST(reports[0][e].parameters_digest == reports[1][e].parameters_digest);
  auto a = models[0]->parameters();
  BOOST_TEST((a == models[1]->parameters()));
  BOOST_TEST((a != initial));
  double first = (reports[0].front().mean_loss + reports[1].front().mean_loss) / 2;
  double last = (reports[0].back().mean_loss + reports[1].back().mean_loss) / 2;
  BOOST_TEST_MESSAGE("diloco dalle-tiny: mean loss epoch 0 " << first << ", epoch " << epochs - 1 << " "
                                                              << last);
  for (size_t e = 0; e < epochs; ++e)
    BOOST_TEST_MESSAGE("  epoch " << e << ": " << reports[0][e].mean_loss << " / " << reports[1][e].mean_loss);
  BOOST_TEST(last < 0.75 * first);
  std::system(("rm -rf '" + dir + "'").c_str());
}
