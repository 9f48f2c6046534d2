// `ttt bench dht`, in the spirit of hivemind's benchmark_dht.py: N peers,
// store M keys through random peers, then get them through other random
// peers; print success rates and mean/p99 latency for each.
//
// How the peers are spread: a 2-core machine cannot run 1024 processes, so
// the N peers live in P processes (this one and P-1 children, `--processes`),
// N/P each. Every peer is a full dht_node with its own wire (its identity,
// its loopback port). Peers in different processes talk over ttt's wire
// (a Noise handshake per pair of peers, then encrypted frames); peers in the
// same process reach each other through a local shortcut in their
// transport, still exchanging encoded Cap'n Proto requests. The stores and
// gets are issued from the peers of this process, so most of their hops
// cross processes.

#include "bench/dht_bench.hpp"

#include "bench/allreduce_process.hpp" // child_process

#include "actors/common/describe.hpp"
#include "actors/dht/dht_node.hpp"
#include "actors/wire/wire.hpp"
#include "apps/flags.hpp"
#include "apps/runtime.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <future>
#include <numeric>
#include <random>
#include <thread>

#include <signal.h>
#include <unistd.h>

namespace ttt::bench {

namespace {

using clock_type = std::chrono::steady_clock;

/// A peer of this process: its node and public key.
struct local_peer {
  caf::actor node;
  std::string public_key;
};
using local_table = std::map<std::string, local_peer>;

/// A node's transport: this process's peers directly (as the wire would
/// hand the request over, with the caller's key), others through the
/// node's own wire.
caf::behavior local_first_transport(caf::event_based_actor* self, std::shared_ptr<local_table> local,
                                    std::string caller_key, caf::actor wire) {
  return {
    [self, local, caller_key, wire](dht_call_atom atom, std::string& address, std::string& expected,
                                    std::string& bytes) -> caf::result<std::string, std::string> {
      auto it = local->find(address);
      if (it == local->end()) {
        self->delegate(wire, atom, std::move(address), std::move(expected), std::move(bytes));
        return caf::delegated<std::string, std::string>{};
      }
      auto target = it->second;
      if (!expected.empty() && peer_id_of(target.public_key).raw() != expected)
        return caf::make_error(caf::sec::invalid_argument, std::string("a different peer answered"));
      auto rp = self->make_response_promise<std::string, std::string>();
      self->request(target.node, std::chrono::seconds(30), dht_rpc_atom_v, caller_key, std::move(bytes))
        .then([rp, target](std::string& reply) mutable { rp.deliver(target.public_key, reply); },
              [rp](caf::error& err) mutable { rp.deliver(err); });
      return rp;
    },
  };
}

constexpr const char* bench_run = "ttt-bench-dht";

/// The peers one process hosts.
struct peer_group {
  std::vector<dht::dht_actor> nodes;
  std::vector<caf::actor> wires;
  std::vector<caf::actor> transports;
  std::vector<std::string> addresses;
};

caf::expected<peer_group> start_peers(caf::actor_system& sys, size_t count, uint64_t seed,
                                      const std::vector<std::string>& initial,
                                      double rpc_timeout_s) {
  auto local = std::make_shared<local_table>();
  peer_group g;
  for (size_t i = 0; i < count; ++i) {
    auto listening = wire::listen("127.0.0.1", 0);
    if (!listening)
      return listening.error();
    std::string s(32, '\0');
    for (size_t b = 0; b < 8; ++b)
      s[b] = static_cast<char>((seed + i) >> (8 * b));
    wire::wire_config wc;
    wc.self = identity::from_seed(s);
    wc.run_id = bench_run;
    wc.listen_fd = listening->first;
    // Many peers per process: connections that rest close soon, so that
    // the process stays within its file descriptors.
    wc.limits.idle_timeout = 5;
    // Every peer is on 127.0.0.1 here: the caps per address would refuse
    // most of the swarm.
    wc.limits.max_per_address = wc.limits.max_connections;
    auto wire_actor = wire::spawn_wire(sys, wc);
    dht::dht_config dc;
    dc.self = wc.self;
    dc.host = "127.0.0.1";
    dc.port = listening->second;
    dc.transport = sys.spawn(local_first_transport, local, wc.self.public_key(), wire_actor);
    dc.seed = seed + i;
    dc.rpc_timeout = std::chrono::duration_cast<caf::timespan>(std::chrono::duration<double>(rpc_timeout_s));
    auto node = dht::spawn_dht_node(sys, dc);
    caf::anon_send(wire_actor, wire_routes_atom_v, caf::actor_cast<caf::actor>(node), caf::actor{});
    auto address = "127.0.0.1:" + std::to_string(listening->second);
    (*local)[address] = {caf::actor_cast<caf::actor>(node), wc.self.public_key()};
    g.nodes.push_back(node);
    g.wires.push_back(wire_actor);
    g.transports.push_back(dc.transport);
    g.addresses.push_back(address);
  }
  // Join: the first peer through `initial` (if any), the others through the
  // first peer and one random earlier peer of this process.
  caf::scoped_actor self{sys};
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i < count; ++i) {
    std::vector<std::string> via = initial;
    if (i > 0) {
      via.push_back(g.addresses[0]);
      via.push_back(g.addresses[rng() % i]);
    }
    if (via.empty())
      continue;
    caf::error failure;
    self->request(g.nodes[i], std::chrono::seconds(60), bootstrap_atom_v, via)
      .receive([](size_t) {}, [&](caf::error& err) { failure = err; });
    if (failure)
      return failure;
  }
  return g;
}

void stop_peers(peer_group& g) {
  for (auto& n : g.nodes)
    caf::anon_send_exit(n, caf::exit_reason::user_shutdown);
  for (auto& w : g.wires)
    caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
  for (auto& t : g.transports)
    caf::anon_send_exit(t, caf::exit_reason::user_shutdown);
}

struct op_stats {
  size_t attempted = 0;
  size_t succeeded = 0;
  std::vector<double> latencies_ms;
  double wall_ms = 0; ///< the whole phase

  /// Wall time per key: what hivemind's benchmark reports as "mean time"
  /// (a batch's time divided by its keys).
  double per_key_ms() const { return attempted == 0 ? 0 : wall_ms / static_cast<double>(attempted); }

  double mean() const {
    return latencies_ms.empty() ? 0
                                : std::accumulate(latencies_ms.begin(), latencies_ms.end(), 0.0) /
                                    static_cast<double>(latencies_ms.size());
  }
  double p99() {
    if (latencies_ms.empty())
      return 0;
    std::sort(latencies_ms.begin(), latencies_ms.end());
    auto idx = static_cast<size_t>(std::ceil(0.99 * static_cast<double>(latencies_ms.size()))) - 1;
    return latencies_ms[std::min(idx, latencies_ms.size() - 1)];
  }
};

/// Runs `total` operations with at most `window` in flight; `issue(i, done)`
/// starts operation i and calls done(success) once.
op_stats run_ops(caf::actor_system& sys, size_t total, size_t window, const char* what,
                 std::function<void(caf::event_based_actor*, size_t,
                                    std::function<void(bool)>)> issue) {
  auto stats = std::make_shared<op_stats>();
  auto mtx = std::make_shared<std::mutex>();
  stats->attempted = total;
  auto finished = std::make_shared<std::promise<void>>();
  auto fut = finished->get_future();
  auto phase_start = clock_type::now();
  sys.spawn([=](caf::event_based_actor* self) {
    auto next = std::make_shared<size_t>(0);
    auto completed = std::make_shared<size_t>(0);
    auto last_report = std::make_shared<clock_type::time_point>(clock_type::now());
    auto launch = std::make_shared<std::function<void()>>();
    *launch = [=] {
      if (*next >= total)
        return;
      size_t i = (*next)++;
      auto start = clock_type::now();
      issue(self, i, [=](bool ok) {
        double ms = std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
        {
          std::lock_guard<std::mutex> guard(*mtx);
          if (ok) {
            stats->succeeded++;
            stats->latencies_ms.push_back(ms);
          }
        }
        ++*completed;
        if (clock_type::now() - *last_report > std::chrono::seconds(5)) {
          *last_report = clock_type::now();
          std::fprintf(stderr, "  %s: %zu/%zu\n", what, *completed, total);
        }
        if (*completed == total)
          finished->set_value();
        else
          (*launch)();
      });
    };
    if (total == 0) {
      finished->set_value();
      return;
    }
    for (size_t w = 0; w < std::min(window, total); ++w)
      (*launch)();
  });
  fut.wait();
  stats->wall_ms = std::chrono::duration<double, std::milli>(clock_type::now() - phase_start).count();
  return *stats;
}

int worker_main(size_t count, uint64_t seed, const std::string& initial, double rpc_timeout) {
  apps::peer_system_config cfg;
  caf::actor_system sys(cfg);
  auto peers = start_peers(sys, count, seed, {initial}, rpc_timeout);
  if (!peers) {
    std::printf("error %s\n", describe(peers.error()).c_str());
    std::fflush(stdout);
    return 1;
  }
  std::printf("ready %zu\n", peers->nodes.size());
  std::fflush(stdout);
  // Serve until the driver closes our stdin.
  char buf[64];
  while (::read(0, buf, sizeof(buf)) > 0) {
  }
  stop_peers(*peers);
  return 0;
}

} // namespace

int run_dht_benchmark(const std::vector<std::string>& args) {
  apps::flag_parser flags(
    "ttt bench dht [--peers N] [--keys M] [--processes P]",
    {{"peers", "N", "DHT peers in all (default 256)"},
     {"keys", "M", "keys to store, then get (default 4096)"},
     {"processes", "P", "processes the peers are spread over (default 8)"},
     {"concurrency", "C", "operations in flight (default 64)"},
     {"rpc-timeout", "SECONDS", "per-request timeout (default 5)"},
     {"seed", "S", "random seed (default 1)"},
     {"worker", "ADDR", "(internal) host peers for a driver, joining through ADDR"},
     {"worker-peers", "N", "(internal) peers in this worker"}});
  if (int rc = flags.parse_or_exit(args, "ttt bench dht"); rc >= 0)
    return rc;
  auto peers = flags.integer("peers", 256);
  auto keys = flags.integer("keys", 4096);
  auto procs = flags.integer("processes", 8);
  auto window = flags.integer("concurrency", 64);
  auto seed = flags.integer("seed", 1);
  auto rpc_timeout = flags.real("rpc-timeout", 5);
  auto worker_peers = flags.integer("worker-peers", 0);
  if (!peers || !keys || !procs || !window || !seed || !rpc_timeout || !worker_peers) {
    std::fprintf(stderr, "ttt bench dht: %s\n", flags.error().c_str());
    return 2;
  }
  if (*peers < 2 || *keys < 1 || *procs < 1 || *procs > *peers || *window < 1) {
    std::fprintf(stderr, "ttt bench dht: need peers >= 2, keys >= 1, 1 <= processes <= peers\n");
    return 2;
  }
  if (auto addr = flags.value("worker"))
    return worker_main(static_cast<size_t>(*worker_peers), static_cast<uint64_t>(*seed), *addr,
                       *rpc_timeout);

  auto t_start = clock_type::now();
  size_t per_proc = static_cast<size_t>(*peers / *procs);
  size_t mine = static_cast<size_t>(*peers) - per_proc * static_cast<size_t>(*procs - 1);
  apps::peer_system_config cfg;
  caf::actor_system sys(cfg);
  auto group = start_peers(sys, mine, static_cast<uint64_t>(*seed) * 1000003, {}, *rpc_timeout);
  if (!group) {
    std::fprintf(stderr, "ttt bench dht: %s\n", describe(group.error()).c_str());
    return 1;
  }
  std::fprintf(stderr, "ttt bench dht: %zu peers here, starting %lld workers of %zu peers\n", mine,
               static_cast<long long>(*procs - 1), per_proc);

  // Children: `ttt bench dht --worker ADDR`, joined through our first peer.
  // Each serves until this process goes (its stdin closes) or kills it.
  std::vector<std::unique_ptr<child_process>> children;
  char self_exe[4096];
  ssize_t len = ::readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
  if (len <= 0)
    return 1;
  self_exe[len] = '\0';
  for (long long w = 1; w < *procs; ++w)
    children.push_back(std::make_unique<child_process>(
      self_exe, std::vector<std::string>{"bench", "dht", "--worker", group->addresses[0],
                                         "--worker-peers", std::to_string(per_proc), "--seed",
                                         std::to_string(*seed * 1000003 + w * 100003),
                                         "--rpc-timeout", std::to_string(*rpc_timeout)}));
  bool workers_ok = true;
  auto deadline = clock_type::now() + std::chrono::minutes(5);
  for (auto& c : children) {
    // CAF may print a diagnostic of its own first: wait for our line.
    auto line = c->started() ? c->read_line(deadline) : std::nullopt;
    while (line && line->rfind("ready", 0) != 0 && line->rfind("error", 0) != 0)
      line = c->read_line(deadline);
    if (!line || line->rfind("ready", 0) != 0) {
      std::fprintf(stderr, "ttt bench dht: a worker failed: %s\n", line.value_or("(no answer)").c_str());
      workers_ok = false;
    }
  }
  auto t_ready = clock_type::now();
  std::fprintf(stderr, "ttt bench dht: %lld peers up in %.1f s\n", static_cast<long long>(*peers),
               std::chrono::duration<double>(t_ready - t_start).count());

  op_stats store_stats, get_stats;
  if (workers_ok) {
    std::mt19937_64 rng(static_cast<uint64_t>(*seed));
    std::vector<size_t> store_via(static_cast<size_t>(*keys)), get_via(static_cast<size_t>(*keys));
    for (size_t i = 0; i < store_via.size(); ++i) {
      store_via[i] = rng() % group->nodes.size();
      get_via[i] = rng() % group->nodes.size();
      if (group->nodes.size() > 1)
        while (get_via[i] == store_via[i])
          get_via[i] = rng() % group->nodes.size();
    }
    double expiration = dht::wall_clock_seconds() + 3600;
    auto nodes = group->nodes;
    store_stats = run_ops(sys, static_cast<size_t>(*keys), static_cast<size_t>(*window), "store",
                          [&](caf::event_based_actor* self, size_t i, std::function<void(bool)> done) {
      dht::dht_record rec;
      rec.key = "bench-key-" + std::to_string(i);
      rec.value = "value-" + std::to_string(i);
      rec.expiration = expiration;
      self->request(nodes[store_via[i]], std::chrono::seconds(120), dht_store_atom_v, rec)
        .then([done](bool ok) { done(ok); }, [done](caf::error&) { done(false); });
    });
    get_stats = run_ops(sys, static_cast<size_t>(*keys), static_cast<size_t>(*window), "get",
                        [&](caf::event_based_actor* self, size_t i, std::function<void(bool)> done) {
      auto expected = "value-" + std::to_string(i);
      self->request(nodes[get_via[i]], std::chrono::seconds(120), dht_get_atom_v,
                    "bench-key-" + std::to_string(i), false)
        .then(
          [done, expected](dht::dht_records& found) {
            done(found.size() == 1 && found[0].value == expected);
          },
          [done](caf::error&) { done(false); });
    });
  }

  children.clear(); // stops the workers
  stop_peers(*group);
  if (!workers_ok)
    return 1;

  auto pct = [](const op_stats& s) {
    return s.attempted == 0 ? 0.0 : 100.0 * static_cast<double>(s.succeeded) / static_cast<double>(s.attempted);
  };
  // hivemind's published figures for 1024 peers and 16,384 keys, the baseline.
  std::printf("bench dht: peers=%lld processes=%lld keys=%lld concurrency=%lld "
              "store_success=%.2f%% store_ms_per_key=%.3f store_latency_mean_ms=%.2f store_latency_p99_ms=%.2f "
              "get_success=%.2f%% get_ms_per_key=%.3f get_latency_mean_ms=%.2f get_latency_p99_ms=%.2f "
              "baseline=hivemind(1024 peers, 16384 keys: store 100%% 14.9 ms/key, get 100%% 6.6 ms/key) "
              "ratio_store=%.3f ratio_get=%.3f\n",
              static_cast<long long>(*peers), static_cast<long long>(*procs),
              static_cast<long long>(*keys), static_cast<long long>(*window), pct(store_stats),
              store_stats.per_key_ms(), store_stats.mean(), store_stats.p99(), pct(get_stats),
              get_stats.per_key_ms(), get_stats.mean(), get_stats.p99(),
              store_stats.per_key_ms() / 14.9, get_stats.per_key_ms() / 6.6);
  return store_stats.succeeded == store_stats.attempted && get_stats.succeeded == get_stats.attempted ? 0 : 1;
}

} // namespace ttt::bench
