#include "apps/commands.hpp"

#include <cstdio>

namespace ttt::apps {

int bench_command(const args_t&) {
  std::fprintf(stderr, "ttt bench: not built yet\n");
  return 2;
}

} // namespace ttt::apps
