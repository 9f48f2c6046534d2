// Volunteers on the leaderboard end to end, on the simulated network: the
// trainers (hivemind mode and DiLoCo) put their process' total samples,
// their chosen name and their device in their metrics records, and the
// monitor credits each volunteer exactly the samples its model computed.
#define BOOST_TEST_MODULE volunteer
#include <boost/test/unit_test.hpp>

#include "actors/metrics/monitor.hpp"
#include "actors/trainer/diloco.hpp"
#include "tests/dht/printing.hpp"
#include "tests/dht/sim_network.hpp"
#include "tests/trainer/sim_trainer.hpp"

#include <algorithm>

using namespace ttt;
using namespace ttt::metrics;
using ttt::test::sim_network;

namespace {

constexpr size_t parameter_count = 4;

/// A model that only counts: every micro-batch holds 4 samples of loss 1,
/// its gradients are zero, and it computes on a device of its own.
class counting_model : public trainer::local_model {
public:
  std::string device_description() const override { return "counting device"; }
  trainer::micro_batch accumulate() override {
    computed_ += 4;
    return trainer::micro_batch{1.0, 4, ""};
  }
  std::vector<float> gradients() const override { return std::vector<float>(parameter_count, 0.0f); }
  void step(const std::vector<float>&) override {}
  std::vector<float> parameters() const override { return values_; }
  void inner_step() override {}
  void set_parameters(const std::vector<float>& values) override { values_ = values; }
  /// Samples computed so far: what the volunteer contributed.
  uint64_t computed() const { return computed_; }

private:
  std::vector<float> values_ = std::vector<float>(parameter_count, 0.0f);
  uint64_t computed_ = 0;
};

struct volunteer {
  std::shared_ptr<counting_model> model = std::make_shared<counting_model>();
  node_id id;
  uint64_t epochs = 0;
};

/// Trains `volunteers` (named as given; empty: none) for `epochs` epochs each,
/// hivemind mode together or, with `diloco`, DiLoCo alone, under a monitor
/// whose board is returned once every trainer is done and the monitor has
/// polled their last records.
std::shared_ptr<dashboard_board> train_under_a_monitor(const std::vector<std::string>& names,
                                                       std::vector<volunteer>& volunteers, uint64_t epochs,
                                                       const trainer::diloco_settings* diloco) {
  sim_network net;
  std::vector<dht::dht_actor> backbone;
  for (uint16_t i = 1; i <= 4; ++i) {
    backbone.push_back(net.spawn(net.config(i, 200 + i)));
    if (i > 1)
      net.bootstrap(backbone.back(), {"10.0.0.1:1"});
  }
  monitor_config mc;
  mc.dht = backbone[0];
  mc.run_id = "run1";
  mc.clock = [&net] { return net.now; };
  mc.poll_interval = std::chrono::seconds(1);
  mc.board = std::make_shared<dashboard_board>();
  net.adopt(spawn_monitor(net.system(), mc));
  auto handles = std::make_shared<test::averager_handles>();
  volunteers.resize(names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    auto& v = volunteers[i];
    auto tc = test::sim_trainer_config(net, static_cast<uint16_t>(100 + i), 400 + i, v.model, handles);
    v.id = tc.self.id();
    tc.run_id = "run1";
    tc.volunteer_name = names[i];
    tc.progress.target_batch_size = 32;
    tc.progress.min_refresh_period = 0.2;
    tc.matchmaking.target_group_size = diloco ? 1 : names.size();
    tc.matchmaking.min_group_size = diloco ? 1 : 2;
    tc.matchmaking.matchmaking_time = 1.0;
    tc.matchmaking.announce_grace = 2.0;
    tc.epochs = epochs;
    tc.pace = std::chrono::milliseconds(50);
    auto* done = &v.epochs;
    tc.on_epoch = [done](const trainer::epoch_report&) { ++*done; };
    if (diloco)
      net.adopt(trainer::spawn_diloco_trainer(net.system(), tc, *diloco));
    else
      net.adopt(trainer::spawn_collaborative_trainer(net.system(), tc));
  }
  auto all_done = [&] {
    return std::all_of(volunteers.begin(), volunteers.end(), [&](const volunteer& v) { return v.epochs >= epochs; });
  };
  // Then three more seconds: the monitor polls the last records.
  int after = 60;
  for (int step = 0; step < 20000 && after > 0; ++step) {
    if (all_done())
      --after;
    net.now += 0.05;
    net.sched().clock().advance_time(std::chrono::milliseconds(50));
    net.settle();
  }
  BOOST_REQUIRE(all_done());
  return mc.board;
}

const contribution* entry_of(const dashboard_view& view, const node_id& id) {
  for (const auto& c : view.leaderboard)
    if (c.peer == id)
      return &c;
  return nullptr;
}

} // namespace

BOOST_AUTO_TEST_CASE(hivemind_trainers_are_credited_the_samples_they_computed_with_their_names) {
  std::vector<volunteer> volunteers;
  auto board = train_under_a_monitor({"alice", ""}, volunteers, 3, nullptr);
  auto view = board->view();
  BOOST_REQUIRE(view.leaderboard.size() == 2u);
  const auto* alice = entry_of(view, volunteers[0].id);
  const auto* anonymous = entry_of(view, volunteers[1].id);
  BOOST_REQUIRE(alice);
  BOOST_REQUIRE(anonymous);
  BOOST_TEST(volunteers[0].model->computed() > 0u);
  BOOST_TEST(alice->samples == volunteers[0].model->computed());
  BOOST_TEST(anonymous->samples == volunteers[1].model->computed());
  BOOST_TEST(alice->name == "alice");
  BOOST_TEST(chosen_name(*alice));
  BOOST_TEST(anonymous->name == volunteers[1].id.to_hex().substr(0, id_name_digits));
  BOOST_TEST(alice->device_kind == "counting device");
  BOOST_TEST(view.volunteers.samples == volunteers[0].model->computed() + volunteers[1].model->computed());
  BOOST_TEST(render_page(view).find(">alice <span class=\"unverified\">(unverified)</span>") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_diloco_trainer_is_credited_the_samples_it_computed) {
  trainer::diloco_settings s;
  s.inner_steps = 2;
  s.inner_batch_size = 8;
  std::vector<volunteer> volunteers;
  auto board = train_under_a_monitor({"zoë"}, volunteers, 3, &s);
  auto view = board->view();
  BOOST_REQUIRE(view.leaderboard.size() == 1u);
  const auto& zoe = view.leaderboard[0];
  BOOST_TEST(zoe.peer == volunteers[0].id);
  BOOST_TEST(volunteers[0].model->computed() >= 3u * 16u);
  BOOST_TEST(zoe.samples == volunteers[0].model->computed());
  BOOST_TEST(zoe.name == "zoë");
  BOOST_TEST(zoe.device_kind == "counting device");
}
