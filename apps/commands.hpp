#pragma once
// The `ttt` subcommands. Each takes the arguments after its own name and
// returns the process exit status. Defined in one file per area so that the
// dispatcher in main.cpp stays the only place that lists them.

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace ttt::trainer {
class local_model;
}

namespace ttt::apps {

using args_t = std::vector<std::string>;

int node_command(const args_t& args);     ///< node_command.cpp

/// Seams of `ttt node` for programs built on it (the tests' adversary peer:
/// tests/adversary/attacker_node.cpp), never set by the shipped `ttt`.
struct node_hooks {
  /// Replaces the trainer's model, e.g. by one that lies about its gradients.
  std::function<std::shared_ptr<trainer::local_model>(std::shared_ptr<trainer::local_model>)> wrap_model;
};
int node_command(const args_t& args, const node_hooks& hooks);
int dht_command(const args_t& args);      ///< dht_command.cpp
int model_command(const args_t& args);    ///< model_commands.cpp: `ttt model info|eval`
int data_command(const args_t& args);     ///< model_commands.cpp: `ttt data ...`
int join_command(const args_t& args);      ///< join_command.cpp: `ttt join RUN` (the model's builds)
int data_fetch_command(const args_t& args); ///< data_fetch_command.cpp: `ttt data fetch` (every build)
int train_command(const args_t& args);    ///< model_commands.cpp
int generate_command(const args_t& args); ///< model_commands.cpp
int eval_command(const args_t& args);     ///< model_commands.cpp: `ttt eval shapes`
int export_command(const args_t& args);   ///< model_commands.cpp
int vqgan_command(const args_t& args);    ///< vqgan_command.cpp: `ttt vqgan info|init|encode|decode`
int bench_command(const args_t& args);    ///< bench_command.cpp
int averager_command(const args_t& args); ///< averager_command.cpp: `ttt averager peer` (internal)
int run_command(const args_t& args);      ///< run_command.cpp: `ttt run init|admit|revoke`
int identity_command(const args_t& args); ///< run_command.cpp: `ttt identity`

} // namespace ttt::apps
