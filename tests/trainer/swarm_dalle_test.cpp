// The real DALL-E (dalle-tiny, libtorch) trained by two collaborative
// trainers on a simulated network: every epoch averaged by both, and both end
// with exactly the same parameters, different from where they started.
#define BOOST_TEST_MODULE swarm_dalle
#include <boost/test/unit_test.hpp>

#include "actors/trainer/collaborative.hpp"
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

namespace {

/// Two trainers, every epoch averaged; with `overlap`, micro-batches go on
/// while each round runs (the delayed step).
void two_trainers_agree(bool overlap) {
  auto files = test::make_tiny_dalle(overlap ? "swarm-dalle-overlap" : "swarm-dalle", 64, 4); // dalle-tiny, in micro-batches of 4
  const std::string& dir = files.dir;

  const uint64_t epochs = 3;
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
      auto m = model::make_swarm_model(mo);
      BOOST_REQUIRE_MESSAGE(m, m.error());
      models.push_back(*m);
      if (i == 0)
        initial = models[0]->parameters();
      BOOST_TEST((models[i]->parameters() == initial)); // one init for the whole run
      auto tc = test::sim_trainer_config(net, static_cast<uint16_t>(50 + i), 900 + i, *m, handles);
      tc.run_id = "tiny";
      tc.progress.target_batch_size = 16;
      tc.progress.min_refresh_period = 0.2;
      tc.matchmaking.target_group_size = 2;
      tc.matchmaking.min_group_size = 2;
      tc.matchmaking.matchmaking_time = 1.0;
      tc.epochs = epochs;
      tc.pace = std::chrono::milliseconds(100);
      tc.overlap_averaging = overlap;
      tc.on_epoch = [&reports, i](const epoch_report& r) { reports[i].push_back(r); };
      net.adopt(spawn_collaborative_trainer(net.system(), tc));
    }
    for (int step = 0; step < 2000 && (reports[0].size() < epochs || reports[1].size() < epochs); ++step) {
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
      BOOST_TEST(std::isfinite(r.mean_loss));
      BOOST_TEST(r.mean_loss > 0.0); // the model's losses, settled once an epoch
    }
  }
  auto a = models[0]->parameters();
  BOOST_TEST((a == models[1]->parameters()));
  BOOST_TEST((a != initial));
  std::system(("rm -rf '" + dir + "'").c_str());
}
} // namespace

BOOST_AUTO_TEST_CASE(two_trainers_average_every_epoch_and_agree_exactly) {
  two_trainers_agree(false);
}

BOOST_AUTO_TEST_CASE(overlapped_trainers_step_late_and_still_agree_exactly) {
  two_trainers_agree(true);
}
