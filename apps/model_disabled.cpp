// Linked instead of model_commands.cpp when ttt is built with -Dmodel=disabled.
#include "apps/commands.hpp"

#include <cstdio>

namespace ttt::apps {

namespace {
int unavailable(const char* name) {
  std::fprintf(stderr, "ttt %s: this build has no model (configured with -Dmodel=disabled)\n", name);
  return 2;
}
} // namespace

int model_command(const args_t&) { return unavailable("model"); }
int data_command(const args_t&) { return unavailable("data"); }
int train_command(const args_t&) { return unavailable("train"); }
int generate_command(const args_t&) { return unavailable("generate"); }
int eval_command(const args_t&) { return unavailable("eval"); }
int export_command(const args_t&) { return unavailable("export"); }
int vqgan_command(const args_t&) { return unavailable("vqgan"); }
int join_command(const args_t&) { return unavailable("join"); }

} // namespace ttt::apps
