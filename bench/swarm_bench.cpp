// `ttt bench swarm`: a local swarm of N trainer processes (`ttt bench swarm
// --worker`, each one peer: actor system, its wire on its own
// loopback port, averager, matchmaker, the trainer on dalle-tiny) training
// together over ttt's wire (encrypted TCP), in hivemind mode and in
// DiLoCo mode. Prints per configuration one result line:
//
//   bench swarm mode=M trainers=N epochs=E samples_per_s=… utilization=u1,u2,…
//     min_utilization=… mean_utilization=… baseline_samples_per_s=… speedup=…
//
// Utilization: a trainer's time inside forward/backward and its optimizer
// steps (local_model calls, timed around the model) ÷ its wall time, over the
// measured epochs (after --warmup epochs, which absorb start-up, and before
// the last epoch, whose round nothing overlaps). Samples/s:
// the sum over trainers of samples trained in the measured epochs ÷ the
// trainer's wall time for them. The baseline is the 1-trainer run of the same
// mode in the same invocation.

#include "bench/swarm_bench.hpp"

#include "bench/allreduce_process.hpp" // child_process, field_of

#include "actors/common/describe.hpp"
#include "actors/dht/dht_node.hpp"
#include "actors/wire/wire.hpp"
#include "actors/trainer/diloco.hpp"
#include "apps/flags.hpp"
#include "apps/runtime.hpp"
#include "model/api.hpp"
#include "model/swarm_model.hpp"

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <numeric>
#include <sstream>

#include <unistd.h>

namespace ttt::bench {

namespace {

using steady = std::chrono::steady_clock;

double seconds_since(steady::time_point t) {
  return std::chrono::duration<double>(steady::now() - t).count();
}

std::string self_exe() {
  char path[4096];
  ssize_t n = ::readlink("/proc/self/exe", path, sizeof(path) - 1);
  if (n <= 0)
    return "";
  path[n] = '\0';
  return path;
}

/// A local_model that times every compute call of the model it wraps:
/// forward/backward (accumulate), the optimizer steps, and loading the outer
/// step's parameters. Copies for communication (gradients, parameters) are
/// not compute.
class timed_model : public trainer::local_model {
public:
  explicit timed_model(std::shared_ptr<trainer::local_model> inner) : inner_(std::move(inner)) {}

  trainer::micro_batch accumulate() override {
    auto t = steady::now();
    auto out = inner_->accumulate();
    compute_ += seconds_since(t);
    samples_ += out.samples;
    return out;
  }
  std::vector<float> gradients() const override { return inner_->gradients(); }
  void step(const std::vector<float>& g) override { timed([&] { inner_->step(g); }); }
  std::vector<float> parameters() const override { return inner_->parameters(); }
  void inner_step() override { timed([&] { inner_->inner_step(); }); }
  void set_parameters(const std::vector<float>& v) override { timed([&] { inner_->set_parameters(v); }); }

  double compute_seconds() const { return compute_; }
  uint64_t samples() const { return samples_; }

private:
  template <class F>
  void timed(F f) {
    auto t = steady::now();
    f();
    compute_ += seconds_since(t);
  }
  std::shared_ptr<trainer::local_model> inner_;
  double compute_ = 0; ///< only touched on the trainer's thread
  uint64_t samples_ = 0;
};

struct worker_options {
  std::string mode;
  size_t trainers = 1;
  std::string initial_peer;
  std::string config, data;
  uint64_t epochs = 3;
  uint64_t target_batch = 1024;
  trainer::diloco_settings diloco;
  double matchmaking_time = 30;
  bool verbose = false;
};

void say(const std::string& line) {
  std::fprintf(stdout, "%s\n", line.c_str());
  std::fflush(stdout);
}

/// One trainer peer. Prints "port P", then "ready" once its model is built;
/// starts training on "start", prints one "epoch ..." line per epoch and
/// "done" after the last; leaves on "exit".
int worker_main(const worker_options& o, size_t index) {
  apps::peer_system_config cfg;
  caf::actor_system sys(cfg);
  auto me = identity::generate();
  auto log = [&o, index](const std::string& text) {
    if (o.verbose)
      std::fprintf(stderr, "[trainer %zu] %s\n", index, text.c_str());
  };

  auto averager = averaging::spawn_averager(sys, std::string(me.id().raw()));
  auto listening = wire::listen("127.0.0.1", 0);
  if (!listening) {
    std::fprintf(stderr, "worker %zu: %s\n", index, describe(listening.error()).c_str());
    return 1;
  }
  uint16_t port = listening->second;
  wire::wire_config wc;
  wc.self = me;
  wc.run_id = "bench-swarm";
  wc.listen_fd = listening->first;
  wc.log = log;
  auto wire_actor = wire::spawn_wire(sys, wc);
  dht::dht_config dc;
  dc.self = me;
  dc.host = "127.0.0.1";
  dc.port = port;
  dc.transport = wire_actor;
  dc.log = log;
  auto node = dht::spawn_dht_node(sys, dc);
  caf::anon_send(wire_actor, wire_routes_atom_v, caf::actor_cast<caf::actor>(node),
                 caf::actor_cast<caf::actor>(averager));
  say("port " + std::to_string(port));
  std::vector<std::string> initial;
  if (!o.initial_peer.empty())
    initial.push_back(o.initial_peer);
  caf::anon_send(node, bootstrap_atom_v, initial);

  model::swarm_model_options mo;
  mo.config = o.config;
  mo.data_dir = o.data;
  mo.peer_id = "bench-trainer-" + std::to_string(index);
  auto built = model::make_swarm_model(mo);
  if (!built) {
    std::fprintf(stderr, "worker %zu: %s\n", index, built.error().c_str());
    return 1;
  }
  auto timed = std::make_shared<timed_model>(*built);

  averaging::matchmaker_config mc;
  mc.dht = node;
  mc.self = me;
  mc.clock = dht::wall_clock_seconds;
  auto matchmaker = averaging::spawn_matchmaker(sys, mc);
  trainer::collaborative_config tc;
  tc.run_id = "bench-swarm";
  tc.model = timed;
  tc.dht = node;
  tc.matchmaker = matchmaker;
  tc.averager = averager;
  tc.self = me;
  tc.declaration.host = "127.0.0.1";
  tc.declaration.port = port;
  tc.resolve = [&sys, wire_actor](const averaging::declaration& d) {
    averaging::averager_peer result;
    caf::scoped_actor asker{sys};
    asker->request(wire_actor, std::chrono::seconds(10), wire_peer_atom_v, std::string(d.peer.raw()),
                   d.host.empty() ? std::string() : d.address())
      .receive([&](caf::actor& a) { result = caf::actor_cast<averaging::averager_peer>(a); },
               [](caf::error&) {});
    return result;
  };
  tc.progress.target_batch_size = o.target_batch;
  tc.progress.min_refresh_period = 0.25;
  tc.matchmaking.target_group_size = o.trainers;
  tc.matchmaking.min_group_size = std::min<size_t>(2, o.trainers);
  tc.matchmaking.matchmaking_time = o.matchmaking_time;
  tc.epochs = o.epochs;
  tc.clock = dht::wall_clock_seconds;
  tc.log = log;
  tc.detached = true;
  auto started = steady::now();
  // Called on the trainer's thread, like every timed_model call.
  tc.on_epoch = [timed, &started, epochs = o.epochs](const trainer::epoch_report& r) {
    char line[256];
    std::snprintf(line, sizeof(line), "epoch %llu wall=%.6f compute=%.6f samples=%llu averaged=%d group=%zu loss=%.4f",
                  static_cast<unsigned long long>(r.epoch), seconds_since(started), timed->compute_seconds(),
                  static_cast<unsigned long long>(timed->samples()), r.averaged ? 1 : 0, r.group_size,
                  r.mean_loss);
    say(line);
    if (r.epoch + 1 >= epochs)
      say("done");
  };
  say("ready");
  std::string command;
  trainer::collaborative_actor trainer_actor;
  while (std::getline(std::cin, command)) {
    if (command == "start" && !trainer_actor) {
      started = steady::now();
      trainer_actor = o.mode == "hivemind" ? trainer::spawn_collaborative_trainer(sys, tc)
                                           : trainer::spawn_diloco_trainer(sys, tc, o.diloco);
    } else if (command == "exit") {
      break;
    }
  }
  if (trainer_actor)
    caf::anon_send_exit(trainer_actor, caf::exit_reason::user_shutdown);
  for (auto a : {wire_actor, caf::actor_cast<caf::actor>(matchmaker),
                 caf::actor_cast<caf::actor>(averager), caf::actor_cast<caf::actor>(node)})
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  return 0;
}

struct epoch_line {
  double wall = 0, compute = 0;
  uint64_t samples = 0;
  bool averaged = false;
  size_t group = 0;
};

struct swarm_outcome {
  std::string error;
  double samples_per_second = 0;
  std::vector<double> utilization;
  size_t epochs_alone = 0; ///< measured epochs in which some trainer stepped alone
};

/// Runs one swarm of `trainers` workers and measures the epochs after `warmup`.
swarm_outcome run_swarm(const std::string& exe, const std::vector<std::string>& common, size_t trainers,
                        uint64_t epochs, uint64_t warmup) {
  swarm_outcome out;
  auto deadline = steady::now() + std::chrono::minutes(30);
  std::vector<std::unique_ptr<child_process>> workers;
  std::string first_address;
  auto expect = [&](child_process& p, const std::string& prefix) -> std::optional<std::string> {
    auto line = p.read_line(deadline);
    if (!line || line->rfind(prefix, 0) != 0) {
      out.error = "expected '" + prefix + "', got '" + line.value_or("EOF") + "'";
      return std::nullopt;
    }
    return line;
  };
  for (size_t i = 0; i < trainers; ++i) {
    auto args = common;
    args.insert(args.end(), {"--worker", std::to_string(i), "--trainers", std::to_string(trainers)});
    if (i > 0)
      args.insert(args.end(), {"--initial-peer", first_address});
    workers.push_back(std::make_unique<child_process>(exe, args));
    if (!workers.back()->started()) {
      out.error = "cannot start " + exe;
      return out;
    }
    auto port = expect(*workers.back(), "port ");
    if (!port)
      return out;
    if (i == 0)
      first_address = "127.0.0.1:" + port->substr(5);
  }
  for (auto& w : workers)
    if (!expect(*w, "ready"))
      return out;
  // Give the DHT a moment to connect everyone before the first round.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  for (auto& w : workers)
    w->write_line("start");
  std::vector<std::vector<epoch_line>> lines(trainers);
  for (size_t i = 0; i < trainers; ++i) {
    for (;;) {
      auto line = workers[i]->read_line(deadline);
      if (!line) {
        out.error = "trainer " + std::to_string(i) + " stopped before its last epoch";
        return out;
      }
      if (*line == "done")
        break;
      if (line->rfind("epoch ", 0) != 0)
        continue;
      epoch_line e;
      e.wall = std::stod(field_of(*line, "wall"));
      e.compute = std::stod(field_of(*line, "compute"));
      e.samples = std::stoull(field_of(*line, "samples"));
      e.averaged = field_of(*line, "averaged") == "1";
      e.group = std::stoul(field_of(*line, "group"));
      lines[i].push_back(e);
    }
  }
  for (auto& w : workers)
    w->write_line("exit");
  for (auto& w : workers)
    w->wait_exit(deadline);
  for (size_t i = 0; i < trainers; ++i) {
    const auto& l = lines[i];
    if (l.size() != epochs || warmup == 0 || warmup + 1 >= epochs) {
      out.error = "trainer " + std::to_string(i) + " reported " + std::to_string(l.size()) + " epochs";
      return out;
    }
    // From the end of the warm-up to the end of the second-to-last epoch:
    // the last round never overlaps (nothing follows it), so its wait is
    // left out in every mode alike.
    const auto& a = l[warmup - 1];
    const auto& b = l[l.size() - 2];
    double wall = b.wall - a.wall;
    out.utilization.push_back((b.compute - a.compute) / wall);
    out.samples_per_second += static_cast<double>(b.samples - a.samples) / wall;
    for (size_t e = warmup; e + 1 < l.size(); ++e)
      if (trainers > 1 && !l[e].averaged)
        ++out.epochs_alone;
  }
  return out;
}

std::vector<size_t> parse_list(const std::string& text) {
  std::vector<size_t> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    auto v = apps::parse_integer(item);
    if (!v || *v < 1 || *v > 64)
      return {};
    out.push_back(static_cast<size_t>(*v));
  }
  return out;
}

} // namespace

int run_swarm_benchmark(const std::vector<std::string>& args) {
  apps::flag_parser flags(
    "ttt bench swarm [--trainers 1,2,4] [--mode hivemind|diloco|both] [options]",
    {{"trainers", "N,N,...", "swarm sizes to run (default 1,2,4; 1 always runs as the baseline)"},
     {"mode", "MODE,...", "hivemind, diloco, diloco-overlap (rounds overlap the next inner steps); "
                          "both = hivemind,diloco (default)"},
     {"config", "FILE", "model config (default configs/model/dalle-tiny.ini)"},
     {"data", "DIR", "training shards (default: a fresh synthetic shapes set)"},
     {"epochs", "N", "epochs per trainer: warm-up, measured, and a last one left out (default 4)"},
     {"warmup", "N", "epochs left out of the figures at the start (default 1)"},
     {"threads", "N", "compute threads per trainer (OMP/OpenBLAS; default 1)"},
     {"target-batch", "N", "hivemind: the swarm's samples per epoch (default 1024)"},
     {"inner-steps", "N", "DiLoCo: AdamW steps per outer step (default 50)"},
     {"inner-batch", "N", "DiLoCo: samples per inner step (default 32)"},
     {"verbose", "", "trainers log to stderr"},
     {"worker", "INDEX", "(internal) run one trainer for a driver"},
     {"initial-peer", "HOST:PORT", "(internal) the worker's first DHT peer"}});
  if (int rc = flags.parse_or_exit(args, "ttt bench swarm"); rc >= 0)
    return rc;
  auto epochs = flags.integer("epochs", 4);
  auto threads = flags.integer("threads", 1);
  auto warmup = flags.integer("warmup", 1);
  auto target_batch = flags.integer("target-batch", 1024);
  auto inner_steps = flags.integer("inner-steps", 50);
  auto inner_batch = flags.integer("inner-batch", 32);
  auto worker = flags.integer("worker", -1);
  auto trainer_list = parse_list(flags.value_or("trainers", "1,2,4"));
  auto mode = flags.value_or("mode", "both");
  std::vector<std::string> modes;
  {
    std::stringstream in(mode == "both" ? "hivemind,diloco" : mode);
    std::string item;
    while (std::getline(in, item, ','))
      modes.push_back(item);
  }
  bool modes_ok = !modes.empty();
  for (const auto& m : modes)
    modes_ok = modes_ok && (m == "hivemind" || m == "diloco" || m == "diloco-overlap");
  if (!epochs || !warmup || !threads || !target_batch || !inner_steps || !inner_batch || !worker ||
      trainer_list.empty() || *warmup < 1 || *epochs <= *warmup + 1 || *threads < 1 || *target_batch < 1 ||
      *inner_steps < 1 || *inner_batch < 1 || !modes_ok || (*worker >= 0 && modes.size() != 1)) {
    std::fprintf(stderr, "ttt bench swarm: bad arguments (see --help)\n");
    return 2;
  }
  std::string config = flags.value_or("config", "configs/model/dalle-tiny.ini");

  if (*worker >= 0) {
    worker_options o;
    o.mode = modes.front();
    o.trainers = trainer_list.front();
    o.initial_peer = flags.value_or("initial-peer", "");
    o.config = config;
    o.data = flags.value_or("data", "");
    o.epochs = static_cast<uint64_t>(*epochs);
    o.target_batch = static_cast<uint64_t>(*target_batch);
    o.diloco.inner_steps = static_cast<uint64_t>(*inner_steps);
    o.diloco.inner_batch_size = static_cast<uint64_t>(*inner_batch);
    o.diloco.overlap = o.mode == "diloco-overlap";
    o.verbose = flags.has("verbose");
    return worker_main(o, static_cast<size_t>(*worker));
  }

  std::string data = flags.value_or("data", "");
  std::string temp;
  if (data.empty()) {
    char tmpl[] = "/tmp/ttt-bench-swarm-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
      std::fprintf(stderr, "ttt bench swarm: cannot make a temporary directory\n");
      return 1;
    }
    temp = tmpl;
    data = temp + "/data";
    model::shapes_options so;
    so.out_dir = data;
    so.count = 1024;
    so.valid_count = 16;
    auto made = model::make_shapes_dataset(so, [](const std::string&) {});
    if (!made) {
      std::fprintf(stderr, "ttt bench swarm: %s\n", made.error().c_str());
      return 1;
    }
  }
  auto exe = self_exe();
  // Each trainer gets the same compute threads whatever the swarm's size
  // (read by libtorch and OpenBLAS when a worker starts).
  for (const char* var : {"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"})
    ::setenv(var, std::to_string(*threads).c_str(), 1);
  std::sort(trainer_list.begin(), trainer_list.end());
  trainer_list.erase(std::unique(trainer_list.begin(), trainer_list.end()), trainer_list.end());
  if (trainer_list.front() != 1)
    trainer_list.insert(trainer_list.begin(), 1);
  int status = 0;
  for (const auto& m : modes) {
    std::vector<std::string> common = {"bench", "swarm", "--mode", m, "--config", config, "--data", data,
                                       "--epochs", std::to_string(*epochs), "--warmup", std::to_string(*warmup),
                                       "--target-batch", std::to_string(*target_batch),
                                       "--inner-steps", std::to_string(*inner_steps),
                                       "--inner-batch", std::to_string(*inner_batch)};
    if (flags.has("verbose"))
      common.push_back("--verbose");
    double baseline = 0;
    for (auto n : trainer_list) {
      auto r = run_swarm(exe, common, n, static_cast<uint64_t>(*epochs), static_cast<uint64_t>(*warmup));
      if (!r.error.empty()) {
        std::fprintf(stderr, "ttt bench swarm: mode %s, %zu trainers: %s\n", m.c_str(), n, r.error.c_str());
        status = 1;
        continue;
      }
      if (n == 1)
        baseline = r.samples_per_second;
      std::string utils;
      for (auto u : r.utilization) {
        char b[16];
        std::snprintf(b, sizeof(b), "%s%.3f", utils.empty() ? "" : ",", u);
        utils += b;
      }
      double min_u = *std::min_element(r.utilization.begin(), r.utilization.end());
      double mean_u = std::accumulate(r.utilization.begin(), r.utilization.end(), 0.0) /
                      static_cast<double>(r.utilization.size());
      char line[1024];
      std::snprintf(line, sizeof(line),
                    "bench swarm mode=%s trainers=%zu threads=%lld epochs=%lld warmup=%lld %s samples_per_s=%.2f "
                    "utilization=%s min_utilization=%.3f mean_utilization=%.3f epochs_alone=%zu "
                    "baseline_samples_per_s=%.2f speedup=%.2f",
                    m.c_str(), n, static_cast<long long>(*threads), static_cast<long long>(*epochs), static_cast<long long>(*warmup),
                    m != "hivemind" ? ("inner_steps=" + std::to_string(*inner_steps) + " inner_batch=" +
                                     std::to_string(*inner_batch) + " codec=blockwise8")
                                      .c_str()
                                  : ("target_batch=" + std::to_string(*target_batch)).c_str(),
                    r.samples_per_second, utils.c_str(), min_u, mean_u, r.epochs_alone, baseline,
                    baseline > 0 ? r.samples_per_second / baseline : 0.0);
      say(line);
    }
  }
  if (!temp.empty())
    std::system(("rm -rf '" + temp + "'").c_str());
  return status;
}

} // namespace ttt::bench
