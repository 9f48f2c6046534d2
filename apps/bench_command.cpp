// `ttt bench NAME`: dispatches to the benchmarks in bench/ (and model/).

#include "apps/commands.hpp"
#include "bench/allreduce_bench.hpp"
#include "bench/dht_bench.hpp"
#include "bench/wire_bench.hpp"
#if TTT_WITH_MODEL
#include "bench/swarm_bench.hpp"
#include "model/bench_train.hpp"
#endif

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
  if (name == "wire")
    return bench::run_wire_benchmark(rest);
  if (name == "train") {
#if TTT_WITH_MODEL
    return model::run_train_benchmark(rest);
#else
    std::fprintf(stderr, "ttt bench train: this build has no model (configured with -Dmodel=disabled)\n");
    return 2;
#endif
  }
  if (name == "swarm") {
#if TTT_WITH_MODEL
    return bench::run_swarm_benchmark(rest);
#else
    std::fprintf(stderr, "ttt bench swarm: this build has no model (configured with -Dmodel=disabled)\n");
    return 2;
#endif
  }
  bool help = name == "--help" || name == "-h";
  std::fprintf(help ? stdout : stderr,
               "usage: ttt bench <name> [options]   (ttt bench <name> --help)\n\n"
               "  dht        DHT store/get success and latency over many peers\n"
               "  allreduce  butterfly all-reduce of N floats over 4 processes, beside Gloo's ring\n"
               "  wire       handshakes per second and memory of idle authenticated connections\n"
               "  train      time, samples/s and peak memory of a training step of a model config\n"
               "  swarm      samples/s and compute utilization of 1, 2, 4 local trainers, hivemind and DiLoCo\n");
  return help ? 0 : 2;
}

} // namespace ttt::apps
