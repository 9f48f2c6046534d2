// The DALL-E's training state (model/swarm_model.cpp behind
// trainer::local_model): exported on one peer and imported on another with
// other parameters, it gives the same parameters and, after the same
// gradients, the same step to the bit (the optimizer's moments and the
// schedule's position travel with it); written as a checkpoint directory it
// reads back and `ttt export` takes it; a damaged state is refused and
// changes nothing.
#define BOOST_TEST_MODULE swarm_model_state
#include <boost/test/unit_test.hpp>

#include "actors/checkpointer/checkpoint_store.hpp"
#include "model/api.hpp"
#include "model/swarm_model.hpp"
#include "tests/trainer/tiny_dalle.hpp"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <unistd.h>

using namespace ttt;

namespace {

struct fixture {
  std::string dir;
  model::swarm_model_options options;

  fixture() {
    dir = test::make_tiny_dalle("model-state", 32, 4).dir;
    options.config = dir + "/tiny.ini";
    options.data_dir = dir + "/data";
  }
  ~fixture() { std::filesystem::remove_all(dir); }

  std::shared_ptr<trainer::local_model> make(const std::string& peer, uint64_t seed) {
    auto o = options;
    o.peer_id = peer;
    o.init_seed = seed;
    auto m = model::make_swarm_model(o);
    BOOST_REQUIRE_MESSAGE(m, m.error());
    return *m;
  }
};

void train_epoch(trainer::local_model& m) {
  for (int i = 0; i < 2; ++i)
    BOOST_REQUIRE(m.accumulate().error.empty());
  m.step(m.gradients());
}

const std::string* find(const std::vector<trainer::state_file>& files, const std::string& name) {
  for (const auto& f : files)
    if (f.name == name)
      return &f.bytes;
  return nullptr;
}

} // namespace

BOOST_FIXTURE_TEST_CASE(state_moves_between_peers_and_steps_the_same, fixture) {
  auto a = make("a", 0);
  train_epoch(*a);
  train_epoch(*a);
  auto files = a->export_state();
  for (const char* name : {"model.safetensors", "optimizer.safetensors", "config.ini", "trainer_state.json",
                           "tokenizer.model", "codebook.safetensors"})
    BOOST_TEST(find(files, name) != nullptr, name);
  BOOST_REQUIRE(find(files, "trainer_state.json") != nullptr);
  BOOST_TEST(*find(files, "trainer_state.json") == "{\"step\": 2}\n");

  auto b = make("b", 7);
  BOOST_TEST((b->parameters() != a->parameters()));
  auto why = b->import_state(files);
  BOOST_REQUIRE_MESSAGE(why.empty(), why);
  BOOST_TEST((b->parameters() == a->parameters()));

  // The same mean gradients step both the same way: LAMB's moments and the
  // learning-rate schedule's position came along.
  BOOST_REQUIRE(a->accumulate().error.empty());
  auto g = a->gradients();
  a->step(g);
  b->step(g);
  BOOST_TEST((b->parameters() == a->parameters()));

  // A fresh peer that did not get the optimizer state would step differently.
  auto c = make("c", 0);
  train_epoch(*c);
  train_epoch(*c);
  auto model_only = files;
  auto c_files = c->export_state();
  for (auto& f : model_only)
    if (f.name == "optimizer.safetensors" || f.name == "trainer_state.json")
      f.bytes = *find(c_files, f.name);
  auto d = make("d", 3);
  BOOST_REQUIRE(d->import_state(model_only).empty());
  d->step(g);
  BOOST_TEST((d->parameters() != a->parameters()));
}

BOOST_FIXTURE_TEST_CASE(a_checkpoint_directory_reads_back_and_exports, fixture) {
  auto a = make("a", 0);
  train_epoch(*a);
  auto ckpt = dir + "/checkpoints/epoch-00000001";
  BOOST_REQUIRE(!checkpoint::save_state(ckpt, a->export_state()));
  auto files = checkpoint::load_state(ckpt);
  BOOST_REQUIRE(files);
  auto b = make("b", 5);
  BOOST_REQUIRE(b->import_state(*files).empty());
  BOOST_TEST((b->parameters() == a->parameters()));
  // `ttt export --checkpoint` takes the directory itself or the one above.
  auto count = model::export_model({ckpt, "", ""}, dir + "/out.safetensors");
  BOOST_REQUIRE_MESSAGE(count, count.error());
  BOOST_TEST(*count > 0);
  auto latest = model::resolve_checkpoint(dir);
  BOOST_REQUIRE(latest);
  BOOST_TEST(*latest == ckpt);
}

BOOST_FIXTURE_TEST_CASE(a_damaged_state_is_refused_and_changes_nothing, fixture) {
  auto a = make("a", 0);
  train_epoch(*a);
  auto files = a->export_state();
  auto b = make("b", 9);
  auto before = b->parameters();
  auto truncated = files;
  for (auto& f : truncated)
    if (f.name == "model.safetensors")
      f.bytes.resize(f.bytes.size() / 2);
  BOOST_TEST(!b->import_state(truncated).empty());
  auto missing = files;
  missing.erase(std::remove_if(missing.begin(), missing.end(),
                               [](const trainer::state_file& f) { return f.name == "optimizer.safetensors"; }),
                missing.end());
  BOOST_TEST(!b->import_state(missing).empty());
  BOOST_TEST((b->parameters() == before));
}

BOOST_FIXTURE_TEST_CASE(a_delayed_step_is_the_step_and_keeps_the_next_accumulation, fixture) {
  // Two peers, same init and data order: one steps at once, the other
  // detaches its gradients, accumulates the next micro-batch, then takes the
  // delayed step with the same mean.
  auto now = make("same-peer", 5), late = make("same-peer", 5);
  BOOST_REQUIRE(late->can_detach_gradients());
  for (auto* m : {now.get(), late.get()})
    for (int i = 0; i < 2; ++i)
      BOOST_REQUIRE(m->accumulate().error.empty());
  auto mean = now->gradients();
  now->step(mean);
  auto detached = late->detach_gradients();
  BOOST_TEST((detached == mean));
  BOOST_TEST(late->settle_losses() > 0.0); // the two micro-batches' losses, read once
  BOOST_REQUIRE(late->accumulate().error.empty()); // the next epoch's, on the old parameters
  auto next = late->gradients();
  late->delayed_step(mean);
  BOOST_TEST((late->parameters() == now->parameters()));
  BOOST_TEST((late->gradients() == next)); // what was accumulated since stays
  BOOST_TEST(late->settle_losses() > 0.0);
  BOOST_TEST(late->settle_losses() == 0.0); // settled: nothing pending
}

BOOST_FIXTURE_TEST_CASE(kept_activations_give_the_recomputed_gradients, fixture) {
  // keep_activations (the profile's [trainer] keep_activations): the same
  // micro-batches give the gradients the recomputing backward gives, and the
  // node's log says which it is.
  auto recomputing = make("a", 3);
  options.keep_activations = true;
  auto keeping = make("a", 3);
  BOOST_TEST(keeping->device_description().find("activations kept") != std::string::npos,
             keeping->device_description());
  BOOST_TEST(recomputing->device_description().find("activations kept") == std::string::npos);
  for (auto* m : {recomputing.get(), keeping.get()})
    for (int i = 0; i < 2; ++i)
      BOOST_REQUIRE(m->accumulate().error.empty());
  auto a = recomputing->gradients(), b = keeping->gradients();
  BOOST_REQUIRE(a.size() == b.size());
  double diff = 0, norm = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff += (a[i] - b[i]) * (a[i] - b[i]);
    norm += a[i] * a[i];
  }
  BOOST_TEST(norm > 0);
  BOOST_TEST(std::sqrt(diff / norm) < 1e-5);
}
