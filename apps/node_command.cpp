#include "apps/commands.hpp"

#include <cstdio>

namespace ttt::apps {

int node_command(const args_t&) {
  std::fprintf(stderr, "ttt node: not built yet\n");
  return 2;
}

} // namespace ttt::apps
