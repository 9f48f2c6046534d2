#pragma once
// The `ttt` subcommands. Each takes the arguments after its own name and
// returns the process exit status. Defined in one file per area so that the
// dispatcher in main.cpp stays the only place that lists them.

#include <string>
#include <vector>

namespace ttt::apps {

using args_t = std::vector<std::string>;

int node_command(const args_t& args);     ///< node_command.cpp
int dht_command(const args_t& args);      ///< dht_command.cpp
int model_command(const args_t& args);    ///< model_commands.cpp: `ttt model info|eval`
int data_command(const args_t& args);     ///< model_commands.cpp: `ttt data ...`
int train_command(const args_t& args);    ///< model_commands.cpp
int generate_command(const args_t& args); ///< model_commands.cpp
int eval_command(const args_t& args);     ///< model_commands.cpp: `ttt eval shapes`
int export_command(const args_t& args);   ///< model_commands.cpp
int bench_command(const args_t& args);    ///< bench_command.cpp
int averager_command(const args_t& args); ///< averager_command.cpp: `ttt averager peer` (internal)
int run_command(const args_t& args);      ///< run_command.cpp: `ttt run init|admit|revoke`
int identity_command(const args_t& args); ///< run_command.cpp: `ttt identity`

} // namespace ttt::apps
