// The collaborative optimizer end to end in one process: trainers with their
// own DHT nodes, matchmakers and averagers on a simulated network (CAF test
// coordinator), training an exact linear model. Peers that average every
// epoch must end with the same parameters, close to one peer training alone
// with the same target batch. The same in DiLoCo mode (H local steps, then an
// 8-bit all-reduce of the pseudo-gradients and one outer Nesterov step).
#define BOOST_TEST_MODULE collaborative
#include <boost/test/unit_test.hpp>

#include "actors/trainer/collaborative.hpp"
#include "actors/checkpointer/state_sharing.hpp"
#include "actors/dht/validator.hpp"
#include "actors/metrics/monitor.hpp"
#include "actors/trainer/diloco.hpp"
#include "actors/trainer/progress.hpp"
#include "tests/dht/printing.hpp"
#include "tests/dht/sim_network.hpp"
#include "tests/trainer/sim_trainer.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

using namespace ttt;
using namespace ttt::trainer;
using ttt::test::sim_network;

namespace {

constexpr size_t dim = 8;

/// Sample i of a fixed dataset: features from a hash of i, target from a
/// fixed true weight vector plus a little deterministic noise.
void sample(uint64_t i, std::array<double, dim>& x, double& y) {
  uint64_t h = i * 0x9E3779B97F4A7C15ull + 12345;
  y = 0;
  for (size_t d = 0; d < dim; ++d) {
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 32;
    x[d] = static_cast<double>(h % 2001) / 1000.0 - 1.0;
    y += (static_cast<double>(d) - 3.5) * 0.5 * x[d];
  }
  y += static_cast<double>(h % 101) / 1000.0 - 0.05;
}

/// Least squares on a stream of samples `first, first + stride, ...`.
class linear_model : public local_model {
public:
  linear_model(uint64_t first, uint64_t stride, size_t micro = 4, double lr = 0.3)
    : next_(first), stride_(stride), micro_(micro), lr_(lr) {}

  micro_batch accumulate() override {
    if (detached_)
      ++since_detach_;
    double loss = 0;
    for (size_t j = 0; j < micro_; ++j) {
      std::array<double, dim> x;
      double y;
      sample(next_, x, y);
      next_ += stride_;
      double err = -y;
      for (size_t d = 0; d < dim; ++d)
        err += w_[d] * x[d];
      loss += 0.5 * err * err;
      for (size_t d = 0; d < dim; ++d)
        grad_sum_[d] += err * x[d];
      ++count_;
    }
    return micro_batch{loss / static_cast<double>(micro_), micro_, ""};
  }
  std::vector<float> gradients() const override {
    std::vector<float> g(dim);
    for (size_t d = 0; d < dim; ++d)
      g[d] = static_cast<float>(gradient_scale_ * grad_sum_[d] / static_cast<double>(std::max<uint64_t>(count_, 1)));
    return g;
  }
  /// A liar's model: its gradients, scaled (×1000, inverted, ...), go to every round.
  void lie_with(double scale) { gradient_scale_ = scale; }
  void step(const std::vector<float>& g) override {
    for (size_t d = 0; d < dim; ++d) {
      w_[d] -= lr_ * g[d];
      grad_sum_[d] = 0;
    }
    count_ = 0;
  }
  std::vector<float> parameters() const override {
    return std::vector<float>(w_.begin(), w_.end());
  }
  /// The weights to the bit, and this peer's data position.
  std::vector<state_file> export_state() const override {
    std::string weights(reinterpret_cast<const char*>(w_.data()), sizeof(w_));
    return {{"weights.bin", weights}, {"peer.position.txt", std::to_string(next_)}};
  }
  /// Takes the weights; the data position only when it is this peer's own
  /// stream (another peer's position would make two peers read the same samples).
  std::string import_state(const std::vector<state_file>& files) override {
    const std::string* weights = nullptr;
    const std::string* position = nullptr;
    for (const auto& f : files) {
      if (f.name == "weights.bin")
        weights = &f.bytes;
      if (f.name == "peer.position.txt")
        position = &f.bytes;
    }
    if (weights == nullptr || weights->size() != sizeof(w_))
      return "weights.bin missing or of another size";
    std::memcpy(w_.data(), weights->data(), sizeof(w_));
    if (position != nullptr) {
      uint64_t next = std::stoull(*position);
      if (next % stride_ == next_ % stride_)
        next_ = std::max(next_, next);
    }
    grad_sum_ = {};
    count_ = 0;
    return {};
  }

  /// The overlap: gradients handed over and cleared; the step lands later.
  void allow_detach() { detachable_ = true; }
  bool can_detach_gradients() const override { return detachable_; }
  std::vector<float> detach_gradients() override {
    auto g = gradients();
    grad_sum_ = {};
    count_ = 0;
    detached_ = true;
    return g;
  }
  void delayed_step(const std::vector<float>& g) override {
    for (size_t d = 0; d < dim; ++d)
      w_[d] -= lr_ * g[d];
    overlapped_ += since_detach_;
    since_detach_ = 0;
    detached_ = false;
  }
  /// Micro-batches computed while a round had this peer's gradients.
  uint64_t overlapped() const { return overlapped_; }

  /// The exact model's inner optimizer is plain SGD at the same rate.
  void inner_step() override { step(gradients()); }
  void set_parameters(const std::vector<float>& values) override {
    for (size_t d = 0; d < dim; ++d)
      w_[d] = values.at(d);
  }

private:
  std::array<double, dim> w_{};
  double gradient_scale_ = 1;
  std::array<double, dim> grad_sum_{};
  uint64_t count_ = 0;
  bool detachable_ = false, detached_ = false;
  uint64_t since_detach_ = 0, overlapped_ = 0;
  uint64_t next_;
  uint64_t stride_;
  size_t micro_;
  double lr_;
};

/// Mean loss of weights `w` on held-out samples.
double eval_loss(const std::vector<float>& w) {
  double loss = 0;
  for (uint64_t i = 1'000'000; i < 1'000'500; ++i) {
    std::array<double, dim> x;
    double y;
    sample(i, x, y);
    double err = -y;
    for (size_t d = 0; d < dim; ++d)
      err += w[d] * x[d];
    loss += 0.5 * err * err;
  }
  return loss / 500;
}

/// One peer alone: steps whenever it has `batch` samples.
std::vector<float> train_alone(uint64_t batch, uint64_t epochs) {
  linear_model m(0, 1);
  for (uint64_t e = 0; e < epochs; ++e) {
    uint64_t n = 0;
    while (n < batch)
      n += m.accumulate().samples;
    m.step(m.gradients());
  }
  return m.parameters();
}

/// Six DHT nodes at 10.0.0.1:1..6, joined through the first: the network
/// the trainers' own nodes bootstrap from.
std::vector<dht::dht_actor> spawn_backbone(sim_network& net) {
  std::vector<dht::dht_actor> backbone;
  for (uint16_t i = 1; i <= 6; ++i) {
    backbone.push_back(net.spawn(net.config(i, 70 + i)));
    if (i > 1)
      net.bootstrap(backbone.back(), {"10.0.0.1:1"});
  }
  return backbone;
}

struct peer {
  std::shared_ptr<linear_model> model;
  identity id = identity::generate();
  std::vector<epoch_report> epochs;
};

using test::averager_handles;

/// Peer `index` of `count` on the simulated network, with the exact model's
/// training settings.
collaborative_config sim_peer_config(sim_network& net, size_t index, size_t count, uint64_t batch, uint64_t epochs,
                                     identity& id, std::shared_ptr<local_model> model,
                                     const std::shared_ptr<averager_handles>& handles) {
  auto tc = test::sim_trainer_config(net, static_cast<uint16_t>(100 + index), 300 + index, std::move(model), handles);
  id = tc.self;
  tc.run_id = "run1";
  tc.progress.target_batch_size = batch;
  tc.progress.min_refresh_period = 0.2;
  tc.matchmaking.target_group_size = count;
  tc.matchmaking.min_group_size = 2;
  tc.matchmaking.matchmaking_time = 1.0;
  tc.matchmaking.announce_grace = 2.0;
  tc.epochs = epochs;
  tc.pace = std::chrono::milliseconds(50);
  return tc;
}

/// Trains `count` peers together until each has done `epochs` epochs; in
/// DiLoCo mode when `diloco` is given.
std::vector<std::unique_ptr<peer>> train_together(sim_network& net, size_t count, uint64_t batch,
                                                  uint64_t epochs,
                                                  const diloco_settings* diloco = nullptr,
                                                  uint64_t average_state_every = 0,
                                                  bool second_peer_starts_elsewhere = false, bool overlap = false,
                                                  const std::function<void(const std::vector<std::unique_ptr<peer>>&)>&
                                                    every_second = {},
                                                  const std::function<void(size_t, collaborative_config&, linear_model&)>&
                                                    customize = {}) {
  auto backbone = spawn_backbone(net);
  auto handles = std::make_shared<averager_handles>();
  std::vector<std::unique_ptr<peer>> peers;
  for (size_t i = 0; i < count; ++i) {
    auto p = std::make_unique<peer>();
    p->model = std::make_shared<linear_model>(i, count);
    if (second_peer_starts_elsewhere && i == 1)
      p->model->set_parameters(std::vector<float>(dim, 0.5f));
    auto tc = sim_peer_config(net, i, count, batch, epochs, p->id, p->model, handles);
    tc.average_state_every = average_state_every;
    tc.overlap_averaging = overlap;
    if (overlap)
      p->model->allow_detach();
    auto* raw = p.get();
    tc.on_epoch = [raw](const epoch_report& r) { raw->epochs.push_back(r); };
    if (customize)
      customize(i, tc, *p->model);
    if (diloco != nullptr)
      net.adopt(spawn_diloco_trainer(net.system(), tc, *diloco));
    else
      net.adopt(spawn_collaborative_trainer(net.system(), tc));
    peers.push_back(std::move(p));
  }
  auto all_done = [&] {
    for (auto& p : peers)
      if (p->epochs.size() < epochs)
        return false;
    return true;
  };
  for (int step = 0; step < 20000 && !all_done(); ++step) {
    if (every_second && step % 20 == 0)
      every_second(peers);
    net.now += 0.05;
    net.sched().clock().advance_time(std::chrono::milliseconds(50));
    net.settle();
  }
  return peers;
}

void check_equivalence(size_t count) {
  const uint64_t batch = 64, epochs = 6;
  sim_network net;
  auto peers = train_together(net, count, batch, epochs);
  for (auto& p : peers) {
    BOOST_REQUIRE_MESSAGE(p->epochs.size() >= epochs, "a peer did only " << p->epochs.size()
                                                                          << " epochs");
    for (const auto& e : p->epochs) {
      BOOST_TEST(e.averaged);
      BOOST_TEST(e.group_size == count);
      BOOST_TEST(!e.partial);
    }
  }
  // The same parameters on every peer, to the bit: one reducer per span
  // sends the same average to everybody, and everybody applies it.
  auto reference = peers[0]->model->parameters();
  for (auto& p : peers)
    BOOST_TEST((p->model->parameters() == reference));
  // And close to one peer with the same target batch on the same data.
  auto alone = train_alone(batch, epochs);
  double start = eval_loss(std::vector<float>(dim, 0.0f));
  double swarm_loss = eval_loss(reference);
  double alone_loss = eval_loss(alone);
  BOOST_TEST_MESSAGE("loss: start " << start << ", swarm " << swarm_loss << ", alone " << alone_loss);
  BOOST_TEST(swarm_loss < 0.5 * start);
  BOOST_TEST(std::abs(swarm_loss - alone_loss) < 0.25 * alone_loss);
}

} // namespace

BOOST_AUTO_TEST_CASE(a_lying_peer_neither_stops_the_swarm_nor_makes_it_step_early) {
  // A peer of the run's DHT publishes progress under three identities of its
  // own, every second: an epoch of 2^63; 2^40 samples at 1e9 samples/s in
  // the honest peers' epoch; a report an hour in the future. Before claims
  // were bounded the first made every trainer "behind" forever and the
  // second forced a step at once in every epoch.
  const uint64_t batch = 64, epochs = 5;
  sim_network net;
  auto liar = net.spawn(net.config(60, 960));
  std::vector<identity> masks = {identity::generate(), identity::generate(), identity::generate()};
  auto lie = [&](const std::vector<std::unique_ptr<peer>>& peers) {
    if (net.bootstrap(liar, {"10.0.0.1:1"}) == 0)
      return;
    uint64_t honest_epoch = peers.front()->epochs.size();
    std::vector<peer_progress> claims = {
      {masks[0].id(), uint64_t{1} << 63, 0, 0, net.now, false},
      {masks[1].id(), honest_epoch, uint64_t{1} << 40, 1e9, net.now, false},
      {masks[2].id(), honest_epoch, 1000, 0, net.now + 3600, false}};
    for (size_t i = 0; i < claims.size(); ++i) {
      dht::dht_record rec;
      rec.key = progress_key("run1");
      rec.subkey = dht::owner_marker(masks[i].public_key());
      rec.has_subkey = true;
      rec.value = encode(claims[i]);
      rec.expiration = net.now + 30;
      dht::sign_record(rec, masks[i]);
      net.store(liar, rec);
    }
  };
  auto peers = train_together(net, 3, batch, epochs, nullptr, 0, false, false, lie);
  auto reference = peers[0]->model->parameters();
  for (auto& p : peers) {
    BOOST_REQUIRE_MESSAGE(p->epochs.size() >= epochs, "a peer did only " << p->epochs.size() << " epochs");
    BOOST_TEST((p->model->parameters() == reference));
  }
  // Every epoch had honest samples behind it: the liar is credited with at
  // most half the target, so the honest peers brought at least the rest.
  for (uint64_t e = 0; e < epochs; ++e) {
    uint64_t honest = 0;
    for (auto& p : peers)
      honest += p->epochs[e].samples;
    BOOST_TEST(honest >= batch / 2, "epoch " << e << ": " << honest << " honest samples");
  }
  double start = eval_loss(std::vector<float>(dim, 0.0f));
  BOOST_TEST(eval_loss(reference) < 0.5 * start);
}

BOOST_AUTO_TEST_CASE(centered_clip_keeps_learning_through_a_member_sending_scaled_inverted_gradients) {
  // Four peers; the fourth sends its gradients ×(−1000) in every round. With
  // the plain mean that drags every step the wrong way (the test records
  // the damage); with centered_clip the honest peers' loss falls as without it,
  // and every honest trainer's published metrics name the liar as clipped.
  const uint64_t batch = 64, epochs = 6;
  struct outcome {
    double loss = 0;
    std::vector<metrics::peer_metrics> honest_reports; ///< the honest trainers' last metrics records
    node_id liar;
  };
  auto run_with = [&](averaging::aggregation_rule rule) {
    sim_network net;
    dht::dht_actor first_node;
    auto peers = train_together(net, 4, batch, epochs, nullptr, 0, false, false, {},
                                [rule, &first_node](size_t i, collaborative_config& tc, linear_model& model) {
                                  tc.round.aggregation = rule;
                                  if (i == 0)
                                    first_node = tc.dht;
                                  if (i == 3)
                                    model.lie_with(-1000);
                                });
    for (size_t i = 0; i < 3; ++i)
      BOOST_REQUIRE_MESSAGE(peers[i]->epochs.size() >= epochs, "peer " << i << " did only " << peers[i]->epochs.size());
    auto honest = peers[0]->model->parameters();
    for (size_t i = 1; i < 3; ++i)
      BOOST_TEST((peers[i]->model->parameters() == honest));
    outcome out{eval_loss(honest), {}, peers[3]->id.id()};
    for (const auto& rec : net.get(first_node, metrics::metrics_key("run1"), true)) {
      auto m = metrics::decode_metrics(rec.value);
      BOOST_REQUIRE(m);
      if (m->peer != out.liar)
        out.honest_reports.push_back(*m);
    }
    BOOST_TEST(out.honest_reports.size() == 3u);
    return out;
  };
  double start = eval_loss(std::vector<float>(dim, 0.0f));
  auto mean = run_with(averaging::aggregation_rule::mean);
  auto clipped = run_with(averaging::aggregation_rule::centered_clip);
  BOOST_TEST_MESSAGE("loss: start " << start << ", mean with a liar " << mean.loss << ", centered_clip "
                                    << clipped.loss);
  BOOST_TEST(mean.loss > 10 * start);       // the damage the plain mean lets through
  BOOST_TEST(clipped.loss < 0.5 * start);   // CenteredClip keeps learning
  // The mean clips nobody, so nobody is reported.
  for (const auto& r : mean.honest_reports)
    BOOST_TEST(r.clipped.empty());
  // Each honest trainer reports the liar clipped in most of its rounds there;
  // the monitor's summary has it first, with all three as reporters.
  for (const auto& r : clipped.honest_reports) {
    auto liar = std::find_if(r.clipped.begin(), r.clipped.end(),
                             [&](const metrics::clipped_peer& c) { return c.peer == clipped.liar; });
    BOOST_REQUIRE_MESSAGE(liar != r.clipped.end(), "trainer " << r.peer.to_hex() << " does not report the liar");
    BOOST_TEST_MESSAGE("clipped in " << liar->clipped_rounds << " of " << liar->rounds << " rounds"
                                     << (liar->dropped ? ", dropped" : ""));
    BOOST_TEST(2 * liar->clipped_rounds > liar->rounds);
  }
  auto summary = metrics::summarize_clipped(clipped.honest_reports);
  BOOST_REQUIRE(!summary.empty());
  BOOST_TEST(summary.front().peer == clipped.liar);
  BOOST_TEST(summary.front().reporters == 3u);
}

BOOST_AUTO_TEST_CASE(two_peers_end_with_the_same_parameters_as_each_other_and_close_to_one) {
  check_equivalence(2);
}

BOOST_AUTO_TEST_CASE(four_peers_end_with_the_same_parameters_as_each_other_and_close_to_one) {
  check_equivalence(4);
}

namespace {

/// One trainer of the join test, spawned at a time of the test's choosing.
struct joining_peer {
  std::shared_ptr<linear_model> model;
  identity id = identity::generate();
  std::vector<epoch_report> epochs;
  std::vector<std::tuple<uint64_t, std::string, std::string>> loads; ///< (epoch, how, digest)
};

std::unique_ptr<joining_peer>
spawn_sharing_peer(sim_network& net, size_t index, size_t count, uint64_t batch, uint64_t epochs,
                   std::shared_ptr<averager_handles> handles, size_t vouch_quorum = 1) {
  auto p = std::make_unique<joining_peer>();
  p->model = std::make_shared<linear_model>(index, count);
  auto tc = sim_peer_config(net, index, count, batch, epochs, p->id, p->model, handles);
  tc.share_state = true;
  tc.load_state = true;
  tc.log = [&net](const std::string& line) { net.log.push_back(line); };
  tc.vouch_quorum = vouch_quorum;
  tc.resolve_holder = [handles](const averaging::state_advert& a) {
    auto it = handles->find(a.peer);
    return it == handles->end() ? averaging::averager_peer{} : it->second;
  };
  auto* raw = p.get();
  tc.on_epoch = [raw](const epoch_report& r) { raw->epochs.push_back(r); };
  tc.on_state_loaded = [raw](uint64_t epoch, const std::string& how, const std::string& digest) {
    raw->loads.emplace_back(epoch, how, digest);
  };
  net.adopt(spawn_collaborative_trainer(net.system(), tc));
  return p;
}

void run_until(sim_network& net, const std::function<bool()>& done, int max_steps = 20000) {
  for (int step = 0; step < max_steps && !done(); ++step) {
    net.now += 0.05;
    net.sched().clock().advance_time(std::chrono::milliseconds(50));
    net.settle();
  }
}

/// DiLoCo on the exact model without a network: `count` peers on the same
/// interleaved streams, each taking `inner` SGD steps of `inner_batch`
/// samples, then one outer step with the mean pseudo-gradient (unquantized).
std::vector<float> diloco_reference(size_t count, const diloco_settings& s, uint64_t epochs) {
  std::vector<linear_model> models;
  for (size_t i = 0; i < count; ++i)
    models.emplace_back(i, count);
  outer_optimizer outer(s.outer);
  std::vector<float> start(dim, 0.0f);
  for (uint64_t e = 0; e < epochs; ++e) {
    std::vector<float> mean(dim, 0.0f);
    for (auto& m : models) {
      for (uint64_t step = 0; step < s.inner_steps; ++step) {
        uint64_t n = 0;
        while (n < s.inner_batch_size)
          n += m.accumulate().samples;
        m.inner_step();
      }
      auto g = pseudo_gradient(start, m.parameters());
      for (size_t d = 0; d < dim; ++d)
        mean[d] += g[d] / static_cast<float>(count);
    }
    start = outer.step(start, mean);
    for (auto& m : models)
      m.set_parameters(start);
  }
  return start;
}

} // namespace

BOOST_AUTO_TEST_CASE(a_peer_joining_mid_run_loads_the_current_state_and_contributes_next_epoch) {
  const uint64_t batch = 64, epochs = 8;
  const size_t count = 3;
  sim_network net;
  auto backbone = spawn_backbone(net);
  auto handles = std::make_shared<averager_handles>();
  std::vector<std::unique_ptr<joining_peer>> peers;
  peers.push_back(spawn_sharing_peer(net, 0, count, batch, epochs, handles));
  peers.push_back(spawn_sharing_peer(net, 1, count, batch, epochs, handles));
  run_until(net, [&] { return peers[0]->epochs.size() >= 3 && peers[1]->epochs.size() >= 3; });
  BOOST_REQUIRE(peers[0]->epochs.size() >= 3);
  peers.push_back(spawn_sharing_peer(net, 2, count, batch, epochs, handles));
  auto& newcomer = *peers[2];
  run_until(net, [&] {
    for (auto& p : peers)
      if (p->epochs.empty() || p->epochs.back().epoch + 1 < epochs)
        return false;
    return true;
  });
  // It loaded the state from a peer: the parameters the others held after
  // that many epochs, to the bit.
  BOOST_REQUIRE_MESSAGE(!newcomer.loads.empty(), "the newcomer never loaded state");
  auto [loaded_epoch, how, loaded_digest] = newcomer.loads.front();
  BOOST_TEST(how == "peer");
  BOOST_TEST(loaded_epoch >= 3u);
  bool matches = false;
  for (const auto& e : peers[0]->epochs)
    if (e.epoch + 1 == loaded_epoch)
      matches = e.parameters_digest == loaded_digest;
  BOOST_TEST(matches);
  // Then it contributed from that epoch on: averaged with the whole group,
  // never a step of its own from the initial parameters.
  BOOST_REQUIRE(!newcomer.epochs.empty());
  BOOST_TEST(newcomer.epochs.front().epoch == loaded_epoch);
  size_t averaged_with_all = 0;
  for (const auto& e : newcomer.epochs) {
    BOOST_TEST(e.averaged);
    averaged_with_all += e.group_size == count ? 1 : 0;
  }
  BOOST_TEST(averaged_with_all >= 1u);
  // And all three end with the same parameters.
  auto reference = peers[0]->model->parameters();
  for (auto& p : peers)
    BOOST_TEST((p->model->parameters() == reference));
}

BOOST_AUTO_TEST_CASE(a_newcomer_refuses_poisoned_state_nobody_vouches_for_and_loads_the_honest_one) {
  // A liar advertises the state of epoch 1000 (the best holder by its own
  // claim) and serves poisoned weights, checksummed by itself, vouched for
  // by a second identity of its own. The run asks two vouches besides the
  // holder's (more than the liar's identities; three honest peers, so two
  // vouch for any honest holder): the newcomer must refuse the poison,
  // distrust that holder, and load the honest state from the others. No
  // honest peer installs it either.
  const uint64_t batch = 64, epochs = 8;
  const size_t count = 4;
  sim_network net;
  auto backbone = spawn_backbone(net);
  auto handles = std::make_shared<averager_handles>();
  std::vector<std::unique_ptr<joining_peer>> peers;
  for (size_t i = 0; i < 3; ++i)
    peers.push_back(spawn_sharing_peer(net, i, count, batch, epochs, handles, 2));
  run_until(net, [&] { return peers[0]->epochs.size() >= 3 && peers[2]->epochs.size() >= 3; });
  BOOST_REQUIRE(peers[0]->epochs.size() >= 3);
  // The liar: a DHT node, an averager serving the poison, its advert, and
  // a sybil's vouch for the poison's digest.
  auto liar_cfg = net.config(61, 961);
  auto liar_node = net.spawn(liar_cfg);
  net.bootstrap(liar_node, {"10.0.0.1:1"});
  auto liar_averager = net.adopt(averaging::spawn_averager(net.system(), std::string(liar_cfg.self.id().raw())));
  (*handles)[liar_cfg.self.id()] = caf::actor_cast<averaging::averager_peer>(liar_averager);
  std::array<double, dim> poison;
  poison.fill(1e6);
  checkpoint::training_state poisoned{1000, {{"weights.bin", std::string(reinterpret_cast<const char*>(poison.data()),
                                                                         sizeof(poison))}}};
  BOOST_REQUIRE(net.ask<bool>(liar_averager, avg_serve_atom_v, uint64_t{1000}, checkpoint::encode(poisoned)));
  auto sybil = identity::generate();
  auto digest = checkpoint::state_digest(poisoned);
  for (const auto* who : {&liar_cfg.self, &sybil})
    BOOST_REQUIRE(**net.store(liar_node, checkpoint::vouch_record("run1", *who, 1000, digest, net.now, 600)));
  auto advertise = [&] {
    net.store(liar_node, checkpoint::advert_record("run1", liar_cfg.self, "10.0.0.1", 61, 1000, net.now, 60));
  };
  advertise();
  peers.push_back(spawn_sharing_peer(net, 3, count, batch, epochs, handles, 2));
  auto& newcomer = *peers[3];
  run_until(net, [&] {
    if (static_cast<int>(net.now) % 20 == 0)
      advertise();
    return !newcomer.loads.empty() && newcomer.epochs.size() >= 2;
  });
  std::string said;
  for (const auto& line : net.log)
    if (line.find("state") != std::string::npos)
      said += line + "\n";
  BOOST_REQUIRE_MESSAGE(!newcomer.loads.empty(), "the newcomer never loaded state:\n" << said);
  auto [loaded_epoch, how, loaded_digest] = newcomer.loads.front();
  BOOST_TEST(loaded_epoch < 1000u);
  bool honest = false;
  for (const auto& e : peers[0]->epochs)
    if (e.epoch + 1 == loaded_epoch)
      honest = e.parameters_digest == loaded_digest;
  BOOST_TEST(honest);
  bool refused = false;
  for (const auto& line : net.log)
    refused = refused || line.find("is not vouched for") != std::string::npos;
  BOOST_TEST(refused);
  for (auto& p : peers)
    for (float w : p->model->parameters())
      BOOST_TEST(std::abs(w) < 100.0f);
}

BOOST_AUTO_TEST_CASE(diloco_peers_end_with_the_same_parameters_close_to_the_reference) {
  diloco_settings s;
  s.inner_steps = 4;
  s.inner_batch_size = 8; // two micro-batches of 4
  s.outer.learning_rate = 0.7;
  s.outer.momentum = 0.9;
  const uint64_t epochs = 5;
  sim_network net;
  auto peers = train_together(net, 2, 64, epochs, &s);
  for (auto& p : peers) {
    BOOST_REQUIRE_MESSAGE(p->epochs.size() >= epochs, "a peer did only " << p->epochs.size()
                                                                          << " epochs");
    for (const auto& e : p->epochs) {
      BOOST_TEST(e.averaged);
      BOOST_TEST(e.group_size == 2u);
      BOOST_TEST(e.samples == s.inner_steps * s.inner_batch_size);
    }
  }
  // The same outer step from the same start with the same 8-bit average on
  // both peers: the same parameters, to the bit, after every epoch.
  for (uint64_t e = 0; e < epochs; ++e)
    BOOST_TEST(peers[0]->epochs[e].parameters_digest == peers[1]->epochs[e].parameters_digest);
  auto reference = peers[0]->model->parameters();
  BOOST_TEST((peers[1]->model->parameters() == reference));
  // And it trains like DiLoCo computed without a network or quantization.
  auto expected = diloco_reference(2, s, epochs);
  double start = eval_loss(std::vector<float>(dim, 0.0f));
  double swarm_loss = eval_loss(reference);
  double expected_loss = eval_loss(expected);
  BOOST_TEST_MESSAGE("diloco loss: start " << start << ", swarm " << swarm_loss << ", reference "
                                           << expected_loss);
  BOOST_TEST(swarm_loss < 0.25 * start);
  BOOST_TEST(std::abs(swarm_loss - expected_loss) < 0.1 * expected_loss + 1e-3);
  for (size_t d = 0; d < dim; ++d)
    BOOST_TEST(std::abs(reference[d] - expected[d]) < 0.05);
}

BOOST_AUTO_TEST_CASE(overlapped_diloco_peers_agree_on_every_outer_step_and_train) {
  // The round runs while the next epoch's inner steps do: the outer
  // parameters θ_start are still the same on both peers after every round.
  diloco_settings s;
  s.inner_steps = 4;
  s.inner_batch_size = 8;
  s.overlap = true;
  const uint64_t epochs = 6;
  sim_network net;
  auto peers = train_together(net, 2, 64, epochs, &s);
  for (auto& p : peers) {
    BOOST_REQUIRE_MESSAGE(p->epochs.size() >= epochs, "a peer did only " << p->epochs.size()
                                                                          << " epochs");
    for (const auto& e : p->epochs) {
      BOOST_TEST(e.averaged);
      BOOST_TEST(e.group_size == 2u);
    }
  }
  for (uint64_t e = 0; e < epochs; ++e)
    BOOST_TEST(peers[0]->epochs[e].parameters_digest == peers[1]->epochs[e].parameters_digest);
  // The last round does not overlap: both end on the same θ.
  auto reference = peers[0]->model->parameters();
  BOOST_TEST((peers[1]->model->parameters() == reference));
  double start = eval_loss(std::vector<float>(dim, 0.0f));
  double swarm_loss = eval_loss(reference);
  BOOST_TEST_MESSAGE("overlapped diloco loss: start " << start << ", swarm " << swarm_loss);
  BOOST_TEST(swarm_loss < 0.5 * start);
}

BOOST_AUTO_TEST_CASE(parameters_averaged_every_n_epochs_bring_drifted_peers_together) {
  // Peer 1 starts from other parameters: averaged gradients alone keep the
  // two apart; averaging the parameters every 2 epochs makes them one model.
  sim_network net;
  const uint64_t epochs = 4;
  auto peers = train_together(net, 2, 64, epochs, nullptr, 2, true);
  for (auto& p : peers)
    BOOST_REQUIRE_MESSAGE(p->epochs.size() >= epochs, "a peer did only " << p->epochs.size() << " epochs");
  auto& a = peers[0]->epochs;
  auto& b = peers[1]->epochs;
  BOOST_TEST(a[0].averaged);
  BOOST_TEST(!a[0].parameters_averaged);
  BOOST_TEST(a[0].parameters_digest != b[0].parameters_digest);
  for (uint64_t e : {1u, 3u}) {
    BOOST_TEST(a[e].parameters_averaged);
    BOOST_TEST(b[e].parameters_averaged);
    BOOST_TEST(a[e].parameters_digest == b[e].parameters_digest);
  }
  BOOST_TEST(!a[2].parameters_averaged);
  BOOST_TEST(a[2].parameters_digest == b[2].parameters_digest); // together since epoch 1
  BOOST_TEST((peers[0]->model->parameters() == peers[1]->model->parameters()));
}

BOOST_AUTO_TEST_CASE(peers_of_different_runs_never_mix) {
  // Three peers on one DHT: two train run1, one trains run2. The run1 pair
  // averages every epoch as a group of two; the run2 peer never finds a
  // group (its keys carry its own run id) and steps alone.
  sim_network net;
  auto backbone = spawn_backbone(net);
  auto handles = std::make_shared<averager_handles>();
  const uint64_t epochs = 3;
  std::vector<std::unique_ptr<peer>> peers;
  for (size_t i = 0; i < 3; ++i) {
    auto p = std::make_unique<peer>();
    p->model = std::make_shared<linear_model>(i, 3);
    auto tc = sim_peer_config(net, i, 3, 64, epochs, p->id, p->model, handles);
    tc.run_id = i == 2 ? "run2" : "run1";
    auto* raw = p.get();
    tc.on_epoch = [raw](const epoch_report& r) { raw->epochs.push_back(r); };
    net.adopt(spawn_collaborative_trainer(net.system(), tc));
    peers.push_back(std::move(p));
  }
  run_until(net, [&] {
    for (auto& p : peers)
      if (p->epochs.size() < epochs)
        return false;
    return true;
  });
  for (auto& p : peers)
    BOOST_REQUIRE_MESSAGE(p->epochs.size() >= epochs, "a peer did only " << p->epochs.size() << " epochs");
  for (size_t i = 0; i < 2; ++i)
    for (const auto& e : peers[i]->epochs) {
      BOOST_TEST(e.averaged);
      BOOST_TEST(e.group_size == 2u);
    }
  for (const auto& e : peers[2]->epochs)
    BOOST_TEST(!e.averaged);
  BOOST_TEST((peers[0]->model->parameters() == peers[1]->model->parameters()));
  BOOST_TEST((peers[2]->model->parameters() != peers[0]->model->parameters()));
}

BOOST_AUTO_TEST_CASE(overlapped_averaging_computes_during_rounds_and_peers_agree) {
  // hivemind's delayed step: micro-batches go on while each epoch's gradients
  // are averaged, and the averaged step lands one epoch late, the same on
  // every peer.
  const uint64_t batch = 64, epochs = 6;
  sim_network net;
  // Micro-batches a few milliseconds apart, so that rounds (which on the
  // simulated network take milliseconds too) have some to overlap.
  auto fast = [](size_t, collaborative_config& tc, linear_model&) { tc.pace = std::chrono::milliseconds(5); };
  auto peers = train_together(net, 2, batch, epochs, nullptr, 0, false, true, {}, fast);
  uint64_t overlapped = 0;
  for (auto& p : peers) {
    BOOST_REQUIRE_MESSAGE(p->epochs.size() >= epochs, "a peer did only " << p->epochs.size() << " epochs");
    for (const auto& e : p->epochs)
      BOOST_TEST(e.averaged);
    BOOST_TEST_MESSAGE("micro-batches during rounds: " << p->model->overlapped());
    overlapped += p->model->overlapped();
  }
  // A peer whose partner is already waiting may finish its rounds between
  // two micro-batches; the swarm as a whole computes through them.
  BOOST_TEST(overlapped > 0u);
  auto reference = peers[0]->model->parameters();
  BOOST_TEST((peers[1]->model->parameters() == reference));
  double start = eval_loss(std::vector<float>(dim, 0.0f));
  double swarm_loss = eval_loss(reference), alone_loss = eval_loss(train_alone(batch, epochs));
  BOOST_TEST_MESSAGE("loss: start " << start << ", overlapped swarm " << swarm_loss << ", alone " << alone_loss);
  BOOST_TEST(swarm_loss < 0.5 * start);
}
