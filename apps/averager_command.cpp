// `ttt averager peer ...`: one averaging peer in its own process, driven over
// stdin/stdout by a test or benchmark that starts several of them on
// loopback. Hidden (not in `ttt --help`): the swarm's peers average through
// `ttt node`; this entry exists for real-process tests and `ttt bench allreduce`.
//
// The peers speak ttt's wire (encrypted, authenticated) as nodes do; member
// i's identity is derived from its index, so every peer knows every
// member's peer id without asking.
//
// Protocol with the driver, one line each:
//   peer -> driver  "port P"        (0 for a client-mode peer, which listens nowhere)
//   driver -> peer  "peers P0 P1 …" (every member's port, in group order)
//   peer -> driver  "ready"         (connected to every listening member before it)
//   driver -> peer  "start"
//   peer -> driver  "done key=value …" or "failed reason"
//   driver -> peer  "exit"          (or EOF: the driver is gone)

#include "actors/averager/interface.hpp"
#include "actors/common/identity.hpp"
#include "actors/wire/wire.hpp"
#include "apps/flags.hpp"
#include "bench/allreduce_inputs.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <malloc.h>
#include <signal.h>

namespace ttt::apps {

int averager_command(const std::vector<std::string>& args);

namespace {

using namespace ttt::averaging;

std::string state_blob(uint64_t epoch, uint64_t bytes) {
  std::string blob(bytes, '\0');
  for (uint64_t i = 0; i < bytes; ++i)
    blob[i] = static_cast<char>((i * 131 + epoch * 977) % 251);
  return blob;
}

void say(const std::string& line) {
  std::fprintf(stdout, "%s\n", line.c_str());
  std::fflush(stdout);
}

bool expect_line(const std::string& word, std::string* rest = nullptr) {
  std::string line;
  if (!std::getline(std::cin, line))
    return false;
  if (line.compare(0, word.size(), word) != 0)
    return false;
  if (rest)
    *rest = line.substr(word.size());
  return true;
}

/// Member `index`'s identity: derived from its index, so all peers agree.
identity member_identity(size_t index) {
  std::string seed(32, '\0');
  std::string label = "ttt averager peer " + std::to_string(index);
  std::copy(label.begin(), label.end(), seed.begin());
  return identity::from_seed(seed);
}

constexpr const char* bench_run = "ttt-averager-peers";

bool write_file(const std::string& path, const void* data, size_t bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
  return static_cast<bool>(out);
}

int run_peer(const std::vector<std::string>& args) {
  flag_parser flags(
    "ttt averager peer --index I --modes MODES [options]",
    {{"index", "I", "this peer's position in the group"},
     {"modes", "MODES", "one letter per member: n(ode), c(lient), a(ux)"},
     {"floats", "N", "vector length (default 1000)"},
     {"group", "ID", "group id (default test-group)"},
     {"codec", "NAME", "none, fp16, scaled_fp16, uniform8, quantile8, blockwise8 (default none)"},
     {"part-elements", "N", "values per part (default: 512 KiB of float32)"},
     {"sender-timeout-ms", "MS", "drop a silent sender after this (default 5000)"},
     {"reducer-timeout-ms", "MS", "drop a silent reducer after this (default 12000)"},
     {"seed", "S", "input seed (default 1)"},
     {"die-after-messages", "K", "raise SIGKILL after handing K messages to the transport"},
     {"stall-after-messages", "K", "raise SIGSTOP after handing K messages to the transport"},
     {"out-dir", "DIR", "write input-I.f32, result-I.f32, spans-I.txt, state-I.bin here"},
     {"no-round", "", "run no all-reduce round (state sharing only)"},
     {"serve-state", "EPOCH", "hold a deterministic state blob of this epoch and serve it"},
     {"state-bytes", "B", "size of the served blob (default 1500000)"},
     {"fetch-state", "", "download state from the members given by --holder-epochs"},
     {"holder-epochs", "E0,E1,...", "advertised epoch per member (0: not a holder)"},
     {"deadline-s", "S", "exit with status 3 if still running after this (default 120)"}});
  if (int rc = flags.parse_or_exit(args, "ttt averager peer"); rc >= 0)
    return rc;
  auto index = flags.integer("index", -1);
  auto floats = flags.integer("floats", 1000);
  auto part_elements = flags.integer("part-elements", static_cast<int64_t>(default_part_elements));
  auto sender_ms = flags.integer("sender-timeout-ms", 5000);
  auto reducer_ms = flags.integer("reducer-timeout-ms", 12000);
  auto seed = flags.integer("seed", 1);
  auto die_after = flags.integer("die-after-messages", 0);
  auto stall_after = flags.integer("stall-after-messages", 0);
  auto epoch = flags.integer("serve-state", 0);
  auto state_bytes = flags.integer("state-bytes", 1500000);
  auto deadline = flags.integer("deadline-s", 120);
  auto codec = parse_codec(flags.value_or("codec", "none"));
  std::string modes = flags.value_or("modes", "");
  if (!index || !floats || !part_elements || !sender_ms || !reducer_ms || !seed || !die_after
      || !stall_after
      || !epoch || !state_bytes || !deadline) {
    std::fprintf(stderr, "ttt averager peer: %s\n", flags.error().c_str());
    return 2;
  }
  if (!codec) {
    std::fprintf(stderr, "ttt averager peer: %s\n", to_string(codec.error()).c_str());
    return 2;
  }
  if (modes.empty() || *index < 0 || static_cast<size_t>(*index) >= modes.size()) {
    std::fprintf(stderr, "ttt averager peer: --index must name a member of --modes\n");
    return 2;
  }
  const auto self_index = static_cast<size_t>(*index);
  const size_t n = modes.size();
  const std::string out_dir = flags.value_or("out-dir", "");
  // Bounded in time whatever happens to the other peers or the driver.
  std::thread([limit = *deadline] {
    std::this_thread::sleep_for(std::chrono::seconds(limit));
    std::fprintf(stderr, "ttt averager peer: deadline reached\n");
    std::_Exit(3);
  }).detach();

  group_info group;
  group.group_id = flags.value_or("group", "test-group");
  for (size_t i = 0; i < n; ++i) {
    peer_mode mode = modes[i] == 'c' ? peer_mode::client
                     : modes[i] == 'a' ? peer_mode::aux : peer_mode::node;
    group.members.push_back({std::string(member_identity(i).id().raw()), 1.0, mode});
  }
  const peer_mode my_mode = group.members[self_index].mode;

  // Parts are 512 KiB buffers made and freed by the thousand: keep them on
  // the heap instead of an mmap/munmap (and page zeroing) per buffer.
  ::mallopt(M_MMAP_THRESHOLD, 64 << 20);
  ::mallopt(M_TRIM_THRESHOLD, 512 << 20);
  caf::actor_system_config cfg;
  cfg.load<caf::io::middleman>();
  cfg.set("logger.console-verbosity", caf::atom("quiet"));
  cfg.set("logger.file-verbosity", caf::atom("quiet"));
  // As in a node (apps/runtime.hpp): workers wait on a condition variable
  // instead of polling, so the wire's I/O thread gets the cores.
  cfg.set("scheduler.policy", caf::atom("sharing"));
  if (const char* threads = std::getenv("TTT_AVG_THREADS"))
    cfg.set("scheduler.max-threads", static_cast<size_t>(std::atoi(threads)));
  caf::actor_system sys{cfg};
  auto me = member_identity(self_index);
  auto avg = spawn_averager(sys, std::string(me.id().raw()));
  wire::wire_config wc;
  wc.self = me;
  wc.run_id = bench_run;
  wc.log = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
  uint16_t port = 0;
  if (my_mode != peer_mode::client) {
    auto listening = wire::listen("127.0.0.1", 0);
    if (!listening) {
      say("failed listen: " + to_string(listening.error()));
      caf::anon_send_exit(avg, caf::exit_reason::user_shutdown);
      return 1;
    }
    wc.listen_fd = listening->first;
    port = listening->second;
  }
  auto wire_actor = wire::spawn_wire(sys, wc);
  caf::anon_send(wire_actor, wire_routes_atom_v, caf::actor{}, caf::actor_cast<caf::actor>(avg));
  auto shutdown = [&](int rc) {
    caf::anon_send_exit(avg, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(wire_actor, caf::exit_reason::user_shutdown);
    return rc;
  };
  say("port " + std::to_string(port));

  std::string rest;
  if (!expect_line("peers", &rest))
    return shutdown(1);
  std::istringstream ports_in(rest);
  std::vector<uint16_t> ports;
  for (unsigned p; ports_in >> p;)
    ports.push_back(static_cast<uint16_t>(p));
  if (ports.size() != n) {
    say("failed: expected " + std::to_string(n) + " ports");
    return shutdown(1);
  }
  std::vector<averager_peer> handles(n);
  handles[self_index] = caf::actor_cast<averager_peer>(avg);
  // A peer connects to the listening peers before it only (a client, which
  // nobody can connect to, to all of them); those learn of it from the
  // hello it sends when the round starts. Connected before "ready", so that
  // no handshake falls inside a timed round.
  {
    caf::scoped_actor asker{sys};
    for (size_t j = 0; j < n; ++j) {
      if (j == self_index || ports[j] == 0 || (j > self_index && my_mode != peer_mode::client))
        continue;
      auto peer = std::string(member_identity(j).id().raw());
      auto address = "127.0.0.1:" + std::to_string(ports[j]);
      std::string failure;
      asker->request(wire_actor, std::chrono::seconds(30), wire_connect_atom_v, peer, address)
        .receive([](bool) {}, [&](caf::error& e) { failure = to_string(e); });
      asker->request(wire_actor, std::chrono::seconds(30), wire_peer_atom_v, peer, address)
        .receive([&](caf::actor& proxy) { handles[j] = caf::actor_cast<averager_peer>(proxy); },
                 [&](caf::error& e) { failure = to_string(e); });
      if (!failure.empty()) {
        say("failed connect to member " + std::to_string(j) + ": " + failure);
        return shutdown(1);
      }
    }
  }
  // The input is made before "ready", so that no peer's timed round waits
  // for another peer still filling its vector.
  std::vector<float> input;
  if (!flags.has("no-round") && my_mode != peer_mode::aux) {
    input.resize(static_cast<uint64_t>(*floats));
    for (uint64_t k = 0; k < input.size(); ++k)
      input[k] = bench::allreduce_input(static_cast<uint64_t>(*seed), self_index, k);
    if (!out_dir.empty())
      write_file(out_dir + "/input-" + std::to_string(self_index) + ".f32", input.data(),
                 input.size() * sizeof(float));
  }
  say("ready");
  if (!expect_line("start"))
    return shutdown(1);

  caf::scoped_actor self{sys};
  std::ostringstream done;
  done << "done";

  if (*epoch > 0) {
    bool ok = false;
    self->request(avg, caf::infinite, avg_serve_atom_v, static_cast<uint64_t>(*epoch),
                  state_blob(static_cast<uint64_t>(*epoch), static_cast<uint64_t>(*state_bytes)))
      .receive([&](bool served) { ok = served; }, [&](caf::error&) {});
    done << " serving=" << ok;
  }

  if (flags.has("fetch-state")) {
    fetch_request req;
    std::istringstream epochs_in(flags.value_or("holder-epochs", ""));
    std::string item;
    for (size_t j = 0; std::getline(epochs_in, item, ','); ++j)
      if (j < n && j != self_index && handles[j] && std::stoull(item) > 0)
        req.holders.push_back({handles[j], std::stoull(item)});
    std::string failure;
    self->request(avg, caf::infinite, avg_fetch_atom_v, req)
      .receive(
        [&](fetched_state& st) {
          done << " epoch=" << st.epoch << " holder=" << st.holder
               << " state_bytes=" << st.blob.size() << " failures=" << st.failures.size();
          if (!out_dir.empty())
            write_file(out_dir + "/state-" + std::to_string(self_index) + ".bin", st.blob.data(),
                       st.blob.size());
        },
        [&](caf::error& e) { failure = to_string(e); });
    if (!failure.empty()) {
      say("failed fetch: " + failure);
      return shutdown(1);
    }
  }

  if (!flags.has("no-round")) {
    round_request req;
    req.group = group;
    req.self_index = self_index;
    req.handles = handles;
    req.weight = bench::allreduce_weight(self_index);
    req.total_elements = static_cast<uint64_t>(*floats);
    req.values = std::move(input);
    req.config.codecs = codec_choice::fixed(*codec);
    req.config.part_elements = static_cast<uint64_t>(*part_elements);
    req.config.sender_timeout = std::chrono::milliseconds(*sender_ms);
    req.config.reducer_timeout = std::chrono::milliseconds(*reducer_ms);
    if (*die_after > 0 || *stall_after > 0) {
      // SIGKILL: as abrupt as a crash, nothing is flushed or closed. SIGSTOP:
      // a peer that stops reading and sending but keeps its connections open.
      int signal = *die_after > 0 ? SIGKILL : SIGSTOP;
      auto limit = static_cast<uint64_t>(*die_after > 0 ? *die_after : *stall_after);
      req.on_sent = [signal, limit](uint64_t sent) {
        if (sent == limit)
          ::raise(signal);
      };
    }
    auto started = std::chrono::steady_clock::now();
    std::string failure;
    self->request(avg, caf::infinite, avg_run_atom_v, std::move(req))
      .receive(
        [&](round_result& res) {
          double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now()
                                                                - started)
                        .count();
          done << " ms=" << ms << " bytes_sent=" << res.bytes_sent
               << " bytes_received=" << res.bytes_received << " partial=" << res.partial()
               << " refused=" << res.refused_count;
          if (!out_dir.empty()) {
            auto tag = std::to_string(self_index);
            write_file(out_dir + "/result-" + tag + ".f32", res.values.data(),
                       res.values.size() * sizeof(float));
            std::ofstream spans(out_dir + "/spans-" + tag + ".txt");
            for (const auto& s : res.spans) {
              spans << s.reducer << ' ' << s.range.begin << ' ' << s.range.end << ' '
                    << s.reducer_failed << ' ' << s.parts_missing;
              for (auto c : s.left_out)
                spans << ' ' << c;
              spans << '\n';
            }
          }
        },
        [&](caf::error& e) { failure = to_string(e); });
    if (!failure.empty()) {
      say("failed round: " + failure);
      return shutdown(1);
    }
  }
  say(done.str());
  // Stay until the driver says so: this peer may still owe others results.
  expect_line("exit");
  return shutdown(0);
}

} // namespace

/// `ttt averager peer ...` (hidden): see the protocol at the top of this file.
int averager_command(const std::vector<std::string>& args) {
  if (args.empty() || args[0] != "peer") {
    std::fprintf(stderr, "usage: ttt averager peer [options]   (a test and benchmark helper)\n");
    return 2;
  }
  return run_peer(std::vector<std::string>(args.begin() + 1, args.end()));
}

} // namespace ttt::apps
