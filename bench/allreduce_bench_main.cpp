// Stand-alone `ttt bench allreduce` until the `ttt` dispatcher wires it. It
// answers the same command lines the benchmark uses to start its peers:
//   allreduce_bench [--peers 4 --floats 16M --codec none ...]
//   allreduce_bench bench allreduce [...]     (as `ttt bench allreduce`)
//   allreduce_bench averager peer [...]       (as `ttt averager peer`)
#include <string>
#include <vector>

namespace ttt::apps {
int averager_command(const std::vector<std::string>& args);
} // namespace ttt::apps

namespace ttt::bench {
int run_allreduce_benchmark(const std::vector<std::string>& args);
} // namespace ttt::bench

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "averager")
    return ttt::apps::averager_command({args.begin() + 1, args.end()});
  if (args.size() >= 2 && args[0] == "bench" && args[1] == "allreduce")
    return ttt::bench::run_allreduce_benchmark({args.begin() + 2, args.end()});
  return ttt::bench::run_allreduce_benchmark(args);
}
