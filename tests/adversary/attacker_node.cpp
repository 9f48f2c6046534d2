// The adversary as a trainer: `ttt node` itself (apps/node_command.cpp),
// with a real identity, profile and data, whose model lies about its
// gradients: every gradient it hands to its group is its honest one times
// --scale (e.g. -1000: scaled and inverted). It steps with what the group
// averages like everyone else, so it stays in the run round after round.
// Built for the tests and bench/attack.sh only, never into `ttt`.
//
//   attacker_node --scale F <the arguments of ttt node>

#include "actors/trainer/local_model.hpp"
#include "apps/commands.hpp"

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace {

using ttt::trainer::local_model;

/// `inner` with its gradients multiplied by `scale` on their way out.
class lying_model : public local_model {
public:
  lying_model(std::shared_ptr<local_model> inner, float scale) : inner_(std::move(inner)), scale_(scale) {}

  std::string device_description() const override {
    return inner_->device_description() + " (lying: gradients x" + std::to_string(scale_) + ")";
  }
  std::optional<double> evaluate() override { return inner_->evaluate(); }
  ttt::trainer::micro_batch accumulate() override { return inner_->accumulate(); }
  double settle_losses() override { return inner_->settle_losses(); }
  std::vector<float> gradients() const override { return scaled(inner_->gradients()); }
  void step(const std::vector<float>& mean_gradients) override { inner_->step(mean_gradients); }
  bool can_detach_gradients() const override { return inner_->can_detach_gradients(); }
  std::vector<float> detach_gradients() override { return scaled(inner_->detach_gradients()); }
  void delayed_step(const std::vector<float>& mean_gradients) override { inner_->delayed_step(mean_gradients); }
  std::vector<float> parameters() const override { return inner_->parameters(); }
  std::vector<ttt::trainer::state_file> export_state() const override { return inner_->export_state(); }
  std::string import_state(const std::vector<ttt::trainer::state_file>& files) override {
    return inner_->import_state(files);
  }
  void inner_step() override { inner_->inner_step(); }
  void set_parameters(const std::vector<float>& values) override { inner_->set_parameters(values); }

private:
  std::vector<float> scaled(std::vector<float> values) const {
    for (auto& v : values)
      v *= scale_;
    return values;
  }

  std::shared_ptr<local_model> inner_;
  float scale_;
};

} // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() < 2 || args[0] != "--scale") {
    std::fprintf(stderr, "usage: attacker_node --scale F <ttt node arguments>\n");
    return 2;
  }
  char* end = nullptr;
  float scale = std::strtof(args[1].c_str(), &end);
  if (end == args[1].c_str() || *end != '\0') {
    std::fprintf(stderr, "attacker_node: --scale wants a number, not '%s'\n", args[1].c_str());
    return 2;
  }
  ttt::apps::node_hooks hooks;
  hooks.wrap_model = [scale](std::shared_ptr<local_model> honest) {
    return std::make_shared<lying_model>(std::move(honest), scale);
  };
  return ttt::apps::node_command(std::vector<std::string>(args.begin() + 2, args.end()), hooks);
}
