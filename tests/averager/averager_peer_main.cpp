// Stand-alone `ttt averager` for the real-process tests, until the `ttt`
// dispatcher wires apps/averager_command.cpp: `averager_peer peer --index ...`.
#include <string>
#include <vector>

namespace ttt::apps {
int averager_command(const std::vector<std::string>& args);
} // namespace ttt::apps

int main(int argc, char** argv) {
  return ttt::apps::averager_command(std::vector<std::string>(argv + 1, argv + argc));
}
