// `ttt bench NAME`: dispatches to the benchmarks in bench/ (and model/).

#include "apps/commands.hpp"
#include "bench/allreduce_bench.hpp"
#include "bench/dht_bench.hpp"

#include <cstdio>
#include <string>

namespace ttt::apps {

int bench_command(const args_t& args) {
  std::string name = args.empty() ? "" : args[0];
  args_t rest = args.empty() ? args_t{} : args_t(args.begin() + 1, args.end());
  if (name == "dht")
    return bench::run_dht_benchmark(rest);
  if (name == "allreduce")
    return bench::run_allreduce_benchmark(rest);
  bool help = name == "--help" || name == "-h";
  std::fprintf(help ? stdout : stderr,
               "usage: ttt bench <name> [options]   (ttt bench <name> --help)\n\n"
               "  dht        DHT store/get success and latency over many peers\n"
               "  allreduce  butterfly all-reduce of N floats over 4 processes, beside Gloo's ring\n");
  return help ? 0 : 2;
}

} // namespace ttt::apps
