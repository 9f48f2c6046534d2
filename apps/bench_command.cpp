// `ttt bench NAME`: dispatches to the benchmarks in bench/ (and model/).

#include "apps/commands.hpp"
#include "bench/allreduce_bench.hpp"
#include "bench/dht_bench.hpp"
#include "bench/wire_bench.hpp"
#if TTT_WITH_MODEL
#include "bench/swarm_bench.hpp"
#include "apps/flags.hpp"
#include "model/bench_train.hpp"
#include "model/vqgan_api.hpp"
#endif

#include <cstdio>
#include <fstream>
#include <string>

namespace ttt::apps {

#if TTT_WITH_MODEL
namespace {

// One result line: images per second through the VQGAN's encode and decode
// (random weights: the arithmetic is the same as a trained model's).
int run_vqgan_benchmark(const args_t& args) {
  flag_parser flags("ttt bench vqgan [--config FILE] [--batch N] [--repeat N] [--device D]",
                    {{"config", "FILE", "VQGAN config (default configs/vqgan/gumbel-f8.ini)"},
                     {"batch", "N", "images per forward pass (default 2)"},
                     {"repeat", "N", "timed batches each way, after one warm-up batch (default 2)"},
                     {"device", "D", "cpu (default), auto, cuda or cuda:N (decode in bf16 on a GPU)"},
                     {"threads", "N", "CPU threads for libtorch (default: its own choice)"}});
  if (int rc = flags.parse_or_exit(args, "ttt bench vqgan"); rc >= 0)
    return rc;
  auto batch = flags.integer("batch", 2), repeat = flags.integer("repeat", 2), threads = flags.integer("threads", 0);
  if (!batch || !repeat || !threads) {
    std::fprintf(stderr, "ttt bench vqgan: %s\n", flags.error().c_str());
    return 2;
  }
  auto config = flags.value_or("config", "configs/vqgan/gumbel-f8.ini");
  auto t = model::measure_vqgan_throughput(config, *batch, *repeat, flags.value_or("device", "cpu"), *threads);
  if (!t) {
    std::fprintf(stderr, "ttt bench vqgan: %s\n", t.error().c_str());
    return 1;
  }
  // The 1-minute load average at the end: on a shared machine, what else ran.
  double load = 0;
  std::ifstream("/proc/loadavg") >> load;
  std::printf("vqgan config=%s parameters=%lld device=%s threads=%lld batch=%lld repeat=%lld "
              "encode_images_per_s=%.3f decode_images_per_s=%.3f load=%.2f\n",
              config.c_str(), static_cast<long long>(t->parameters), t->device.c_str(),
              static_cast<long long>(t->threads), static_cast<long long>(*batch), static_cast<long long>(*repeat),
              t->encode_images_per_second, t->decode_images_per_second, load);
  return 0;
}

} // namespace
#endif

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
  if (name == "vqgan") {
#if TTT_WITH_MODEL
    return run_vqgan_benchmark(rest);
#else
    std::fprintf(stderr, "ttt bench vqgan: this build has no model (configured with -Dmodel=disabled)\n");
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
               "  swarm      samples/s and compute utilization of 1, 2, 4 local trainers, hivemind and DiLoCo\n"
               "  vqgan      images/s through the VQGAN's encode and decode (gumbel-f8, random weights)\n");
  return help ? 0 : 2;
}

} // namespace ttt::apps
