// `ttt bench wire --connections N`: a peer (a child process: `ttt bench wire
// --serve`, a wire with a DHT node behind it) takes N connections from this
// process, each through the full handshake (Noise XX, both identities
// proved), then held idle. Beside it in the same run, the baseline: the
// same handshake between two sessions in memory (both sides' crypto on one
// thread, no sockets). Prints one line:
//
//   wire connections=N suite=… handshakes_per_s=… handshake_ms=… in_memory_handshake_ms=…
//     rss_idle_mib=… rss_held_mib=… kib_per_connection=… load=…
//
// The handshakes run one after another from one thread, so a handshake's
// time is both sides' crypto plus two loopback round trips. Memory is the
// peer's resident set before and with the N connections held.

#include "bench/wire_bench.hpp"

#include "actors/common/describe.hpp"
#include "actors/dht/dht_node.hpp"
#include "actors/wire/session.hpp"
#include "actors/wire/wire.hpp"
#include "apps/flags.hpp"
#include "apps/runtime.hpp"
#include "bench/allreduce_process.hpp" // child_process

#include <caf/actor_system.hpp>
#include <caf/send.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>

namespace ttt::bench {

namespace {

constexpr const char* bench_run = "ttt-bench-wire";

double rss_mib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stod(line.substr(6)) / 1024.0;
  return -1;
}

int serve(size_t connections) {
  apps::peer_system_config cfg;
  caf::actor_system sys(cfg);
  auto listening = wire::listen("127.0.0.1", 0);
  if (!listening) {
    std::fprintf(stderr, "ttt bench wire --serve: %s\n", describe(listening.error()).c_str());
    return 1;
  }
  wire::wire_config wc;
  wc.run_id = bench_run;
  wc.listen_fd = listening->first;
  wc.limits.max_connections = connections + 64;
  wc.limits.max_per_address = connections + 64;
  wc.limits.max_unauthenticated = connections + 64;
  auto wire_actor = wire::spawn_wire(sys, wc);
  dht::dht_config dc;
  dc.self = wc.self;
  dc.host = "127.0.0.1";
  dc.port = listening->second;
  dc.transport = wire_actor;
  auto node = dht::spawn_dht_node(sys, dc);
  caf::anon_send(wire_actor, wire_routes_atom_v, caf::actor_cast<caf::actor>(node), caf::actor{});
  std::printf("port %u\n", static_cast<unsigned>(listening->second));
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line) && line != "exit") {
  }
  caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(wire_actor, caf::exit_reason::user_shutdown);
  return 0;
}

int connect_to(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof(dst)) != 0) {
    if (fd >= 0)
      ::close(fd);
    return -1;
  }
  return fd;
}

/// One full handshake over `fd`; false when it failed.
bool handshake(int fd, const identity& who, const std::shared_ptr<const wire::credentials>& own) {
  wire::session_settings s;
  s.self = &who;
  s.own = own;
  s.run_id = bench_run;
  auto link = wire::session::initiator(s);
  std::vector<wire::frame> frames;
  char buf[4096];
  while (!link.established()) {
    auto& out = link.output();
    if (!out.empty() && ::send(fd, out.data(), out.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(out.size()))
      return false;
    out.clear();
    auto n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0 || link.consume(std::string_view(buf, static_cast<size_t>(n)), frames))
      return false;
  }
  auto& out = link.output();
  return out.empty() || ::send(fd, out.data(), out.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(out.size());
}

} // namespace

int run_wire_benchmark(const std::vector<std::string>& args) {
  apps::flag_parser flags("ttt bench wire [--connections N]",
                          {{"connections", "N", "authenticated connections to open and hold (default 1000)"},
                           {"serve", "", "(internal) be the peer that takes them"}});
  if (int rc = flags.parse_or_exit(args, "ttt bench wire"); rc >= 0)
    return rc;
  auto n = flags.integer("connections", 1000);
  if (!n || *n < 1 || *n > 10000) {
    std::fprintf(stderr, "ttt bench wire: --connections must be 1..10000\n");
    return 2;
  }
  auto count = static_cast<size_t>(*n);
  if (flags.has("serve"))
    return serve(count);

  char exe[4096];
  auto len = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (len <= 0)
    return 1;
  exe[len] = '\0';
  child_process peer(exe, {"bench", "wire", "--serve", "--connections", std::to_string(count)});
  auto deadline = child_process::clock::now() + std::chrono::seconds(30);
  auto first = peer.read_line(deadline);
  if (!first || first->rfind("port ", 0) != 0) {
    std::fprintf(stderr, "ttt bench wire: the peer did not start\n");
    return 1;
  }
  auto port = static_cast<uint16_t>(std::stoi(first->substr(5)));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  double idle = rss_mib(peer.pid());

  // Beside it: the same handshakes between two sessions in memory, both
  // sides on this thread: the crypto alone, without sockets or scheduling.
  // Each side's credentials computed once, as a node does.
  auto me = identity::generate();
  auto mine = wire::credentials::of(me);
  auto other = identity::generate();
  auto theirs = wire::credentials::of(other);
  auto started = std::chrono::steady_clock::now();
  size_t in_memory = std::min<size_t>(count, 500);
  for (size_t i = 0; i < in_memory; ++i) {
    wire::session_settings s;
    s.self = &me;
    s.own = mine;
    s.run_id = bench_run;
    wire::session_settings t = s;
    t.self = &other;
    t.own = theirs;
    auto a = wire::session::initiator(s);
    auto b = wire::session::responder(t);
    std::vector<wire::frame> frames;
    while (!a.established() || !b.established()) {
      auto to_b = std::move(a.output());
      a.output().clear();
      if (!to_b.empty() && b.consume(to_b, frames))
        return 1;
      auto to_a = std::move(b.output());
      b.output().clear();
      if (!to_a.empty() && a.consume(to_a, frames))
        return 1;
    }
  }
  double memory_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  std::vector<int> held;
  started = std::chrono::steady_clock::now();
  for (size_t i = 0; i < count; ++i) {
    int fd = connect_to(port);
    if (fd < 0 || !handshake(fd, me, mine)) {
      std::fprintf(stderr, "ttt bench wire: handshake %zu failed\n", i);
      return 1;
    }
    held.push_back(fd);
  }
  double hs_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  double with_held = rss_mib(peer.pid());
  std::ifstream loadavg("/proc/loadavg");
  std::string load;
  loadavg >> load;
  char line[512];
  std::snprintf(line, sizeof(line),
                "wire connections=%zu suite=%s handshakes_per_s=%.0f handshake_ms=%.3f in_memory_handshake_ms=%.3f "
                "rss_idle_mib=%.1f rss_held_mib=%.1f kib_per_connection=%.1f load=%s",
                count, wire::noise::aesgcm_available() ? "aesgcm" : "chachapoly", count / hs_s, hs_s * 1e3 / count,
                memory_s * 1e3 / static_cast<double>(in_memory), idle, with_held, (with_held - idle) * 1024.0 / count, load.c_str());
  std::printf("%s\n", line);
  for (int fd : held)
    ::close(fd);
  peer.write_line("exit");
  return 0;
}

} // namespace ttt::bench
