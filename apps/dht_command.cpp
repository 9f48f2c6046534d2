#include "apps/commands.hpp"

#include <cstdio>

namespace ttt::apps {

int dht_command(const args_t&) {
  std::fprintf(stderr, "ttt dht: not built yet\n");
  return 2;
}

} // namespace ttt::apps
