// `ttt bench allreduce --peers 4 --floats N --codec C`: N float32 values
// averaged by 4 processes on loopback, first with ttt's butterfly all-reduce
// (`ttt averager peer` processes talking over ttt's wire: Noise handshake,
// then AES-256-GCM or ChaCha20-Poly1305 records), then with
// Gloo's ring all-reduce (AllreduceRing over its TCP transport) on the same
// data in the same run. Prints one result line:
//
//   allreduce peers=4 floats=N codec=C ttt_ms=… gloo_ms=… ratio=… ttt_bytes_per_peer=…
//     gloo_bytes_per_peer=… ttt_gbps=… gloo_gbps=… wire=… aead_mb_per_s=…
//     crypto_ms_per_peer=… crypto_share=… mean_reduce_ms=… clip_reduce_ms=…
//     clip_ratio=… load=…
//
// Times are the slowest peer's, from the common start signal to its averaged
// vector (Gloo: run() plus the weighting, its buffers registered beforehand),
// best of --repeat runs. Bytes are value bytes each peer sends (Gloo: the
// ring's 2(n-1)/n of the vector). Effective bandwidth is the vector's size in
// bytes over the time, in GB/s. The encryption's share: the time one core
// takes (measured here, same suite) to encrypt what a peer sends and decrypt
// what it receives, over ttt_ms. CenteredClip's cost beside the mean: the
// same N floats averaged by the same `--peers` members in this process (the
// pure all-reduce core, messages handed over in memory, no codec, no wire),
// once with aggregation=mean and once with centered_clip: the whole round of
// every member on one core (best of --repeat) and their ratio. The reducers
// aggregate the same messages either way, so what differs is this compute,
// not the network's share. load: the 1-minute load average,
// since the machines are shared and noisy.

#include "bench/allreduce_bench.hpp"

#include "actors/averager/allreduce.hpp"
#include "actors/wire/noise.hpp"

#include "apps/flags.hpp"
#include "bench/allreduce_inputs.hpp"
#include "bench/allreduce_process.hpp"

#ifdef TTT_WITH_GLOO
#include <gloo/allreduce_ring.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/file_store.h>
#include <gloo/transport/tcp/device.h>
#endif

#include <algorithm>
#include <chrono>
#include <deque>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

namespace ttt::bench {

namespace {

/// MB/s of one core encrypting 512 KiB records (the wire's largest frames
/// go out as 64 KiB records; the rate is the same per byte).
double aead_throughput_mb_per_s(wire::noise::cipher_suite suite) {
  wire::noise::key32 key{};
  key[0] = 1;
  wire::noise::cipher_state cs(suite, key);
  std::string record(wire::noise::max_message_size - wire::noise::tag_size, 'x');
  std::string out;
  out.reserve(record.size() + wire::noise::tag_size);
  auto started = std::chrono::steady_clock::now();
  size_t bytes = 0;
  while (std::chrono::steady_clock::now() - started < std::chrono::milliseconds(300)) {
    out.clear();
    (void) cs.encrypt_with_ad("", record, out);
    bytes += record.size();
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return static_cast<double>(bytes) / seconds / 1e6;
}

/// Milliseconds one in-process round of `peers` members takes with `rule`:
/// every member's core in this thread, each message materialized once and
/// handed to its receivers in order.
double in_process_round_ms(size_t peers, uint64_t floats, uint64_t part_elements,
                           averaging::aggregation_rule rule) {
  using namespace averaging;
  group_info group;
  group.group_id = "bench-inproc";
  for (size_t i = 0; i < peers; ++i)
    group.members.push_back({"peer" + std::to_string(i), 1.0, peer_mode::node});
  round_config config;
  config.aggregation = rule;
  config.part_elements = part_elements;
  const auto t0 = std::chrono::steady_clock::time_point{};
  std::vector<allreduce_round> rounds;
  for (size_t i = 0; i < peers; ++i) {
    std::vector<float> values(floats);
    for (uint64_t k = 0; k < floats; ++k)
      values[k] = allreduce_input(1, i, k);
    auto r = allreduce_round::make(group, i, std::move(values), allreduce_weight(i), floats,
                                   config, t0);
    if (!r)
      return -1;
    rounds.push_back(std::move(*r));
  }
  struct queued {
    size_t to;
    std::shared_ptr<part_message> msg;
  };
  std::deque<queued> queue;
  auto sender = [&](const std::vector<size_t>& to, part_message&& msg) {
    auto owned = std::make_shared<part_message>(std::move(msg));
    if (owned->write_values) {
      owned->values.resize(owned->values_size);
      owned->write_values(owned->values.data());
      owned->write_values = nullptr;
    }
    for (size_t m : to)
      queue.push_back({m, owned});
  };
  auto started = std::chrono::steady_clock::now();
  for (auto& r : rounds)
    r.start(sender);
  bool busy = true;
  while (busy) {
    busy = false;
    for (auto& r : rounds)
      busy = r.send_parts(8, sender) > 0 || busy;
    while (!queue.empty()) {
      auto q = std::move(queue.front());
      queue.pop_front();
      (void) rounds[q.to].on_message(q.msg->view(), t0, sender);
      busy = true;
    }
  }
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  for (auto& r : rounds)
    if (!r.done())
      return -1;
  return ms;
}

/// The 1-minute load average, as /proc/loadavg says it.
std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string first;
  in >> first;
  return first.empty() ? "?" : first;
}

} // namespace

namespace {

using clock_type = std::chrono::steady_clock;

std::string self_exe() {
  char path[4096];
  ssize_t n = ::readlink("/proc/self/exe", path, sizeof(path) - 1);
  if (n <= 0)
    return "";
  path[n] = '\0';
  return path;
}

/// "16M" -> 16 Mi, "1000" -> 1000; nullopt when malformed.
std::optional<uint64_t> parse_count(const std::string& text) {
  if (text.empty())
    return std::nullopt;
  uint64_t scale = 1;
  std::string digits = text;
  char last = digits.back();
  if (last == 'K' || last == 'k')
    scale = uint64_t{1} << 10;
  else if (last == 'M' || last == 'm')
    scale = uint64_t{1} << 20;
  else if (last == 'G' || last == 'g')
    scale = uint64_t{1} << 30;
  if (scale != 1)
    digits.pop_back();
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  return std::stoull(digits) * scale;
}

struct run_outcome {
  double ms = 0;             // slowest peer
  double bytes_per_peer = 0; // mean over peers
  std::string error;
  bool partial = false;      // a ttt peer reported a partial result (a benchmark run must not)
};

/// Starts `peers` children, walks them through ready/start/done/exit, and
/// returns the slowest peer's time.
run_outcome drive(const std::string& exe, const std::vector<std::vector<std::string>>& argv_per_peer,
                  bool exchange_ports) {
  run_outcome out;
  auto deadline = clock_type::now() + std::chrono::minutes(9);
  std::vector<std::unique_ptr<child_process>> peers;
  for (const auto& args : argv_per_peer) {
    peers.push_back(std::make_unique<child_process>(exe, args));
    if (!peers.back()->started()) {
      out.error = "cannot start " + exe;
      return out;
    }
  }
  auto expect = [&](child_process& p, const std::string& prefix) -> std::optional<std::string> {
    auto line = p.read_line(deadline);
    if (!line || line->rfind(prefix, 0) != 0) {
      out.error = "expected '" + prefix + "', got '" + line.value_or("EOF") + "'";
      return std::nullopt;
    }
    return line;
  };
  if (exchange_ports) {
    std::string ports = "peers";
    for (auto& p : peers) {
      auto line = expect(*p, "port ");
      if (!line)
        return out;
      ports += " " + line->substr(5);
    }
    for (auto& p : peers)
      p->write_line(ports);
  }
  for (auto& p : peers)
    if (!expect(*p, "ready"))
      return out;
  for (auto& p : peers)
    p->write_line("start");
  double bytes = 0;
  for (auto& p : peers) {
    auto line = expect(*p, "done");
    if (!line)
      return out;
    out.ms = std::max(out.ms, std::stod(field_of(*line, "ms")));
    auto sent = field_of(*line, "bytes_sent");
    bytes += sent.empty() ? 0.0 : std::stod(sent);
    if (field_of(*line, "partial") == "1") {
      out.partial = true;
      std::fprintf(stderr, "partial: %s\n", line->c_str());
    }
  }
  out.bytes_per_peer = bytes / static_cast<double>(peers.size());
  for (auto& p : peers)
    p->write_line("exit");
  for (auto& p : peers)
    p->wait_exit(deadline);
  return out;
}

void say(const std::string& line) {
  std::fprintf(stdout, "%s\n", line.c_str());
  std::fflush(stdout);
}

/// One Gloo process: connects a full mesh through a file store, then runs
/// the ring all-reduce once on the start signal.
int run_gloo_peer(int rank, int size, uint64_t floats, const std::string& store_dir) {
#ifndef TTT_WITH_GLOO
  (void)rank, (void)size, (void)floats, (void)store_dir;
  std::fprintf(stderr, "ttt bench allreduce: this ttt was built without Gloo (install libgloo-dev and rebuild)\n");
  return 1;
#else
  gloo::transport::tcp::attr attr;
  attr.hostname = "127.0.0.1";
  auto device = gloo::transport::tcp::CreateDevice(attr);
  gloo::rendezvous::FileStore store(store_dir);
  auto context = std::make_shared<gloo::rendezvous::Context>(rank, size);
  context->connectFullMesh(store, device);
  std::vector<float> data(floats);
  for (uint64_t k = 0; k < floats; ++k)
    data[k] = allreduce_input(1, static_cast<size_t>(rank), k);
  std::vector<float*> pointers = {data.data()};
  gloo::AllreduceRing<float> ring(context, pointers, static_cast<int>(floats));
  double weight_sum = 0;
  for (int r = 0; r < size; ++r)
    weight_sum += allreduce_weight(static_cast<size_t>(r));
  const auto weight = static_cast<float>(allreduce_weight(static_cast<size_t>(rank)));
  const auto inv_total = static_cast<float>(1.0 / weight_sum);
  say("ready");
  std::string line;
  if (!std::getline(std::cin, line) || line != "start")
    return 1;
  auto started = clock_type::now();
  for (auto& v : data) // the same weighted mean ttt computes
    v *= weight;
  ring.run();
  for (auto& v : data)
    v *= inv_total;
  double ms = std::chrono::duration<double, std::milli>(clock_type::now() - started).count();
  say("done ms=" + std::to_string(ms));
  std::getline(std::cin, line); // "exit"
  return 0;
#endif
}

} // namespace

/// `ttt bench allreduce ...`; also the Gloo peers it starts (--gloo-rank).
int run_allreduce_benchmark(const std::vector<std::string>& args) {
  apps::flag_parser flags(
    "ttt bench allreduce --peers 4 --floats N --codec C [--repeat R]",
    {{"peers", "N", "processes on loopback (default 4)"},
     {"floats", "N", "float32 values per peer; K/M/G suffixes (default 16M)"},
     {"codec", "NAME", "ttt's codec: none, fp16, scaled_fp16, uniform8, quantile8, blockwise8, 8bit"},
     {"repeat", "R", "runs of each system; the best is reported (default 1)"},
     {"part-elements", "N", "ttt's values per part (default: 512 KiB of float32)"},
     {"skip-gloo", "", "run ttt only"},
     {"gloo-rank", "R", "(internal) run one Gloo peer"},
     {"gloo-store", "DIR", "(internal) Gloo's rendezvous directory"}});
  if (int rc = flags.parse_or_exit(args, "ttt bench allreduce"); rc >= 0)
    return rc;
  auto peers = flags.integer("peers", 4);
  auto repeat = flags.integer("repeat", 1);
  auto floats = parse_count(flags.value_or("floats", "16M"));
  std::string codec = flags.value_or("codec", "none");
  if (!peers || !repeat || *peers < 1 || *repeat < 1 || !floats
      || *floats > static_cast<uint64_t>(std::numeric_limits<int>::max())) {
    std::fprintf(stderr, "ttt bench allreduce: bad --peers, --repeat or --floats\n");
    return 2;
  }
  if (flags.has("gloo-rank")) {
    auto rank = flags.integer("gloo-rank", 0);
    if (!rank)
      return 2;
    return run_gloo_peer(static_cast<int>(*rank), static_cast<int>(*peers), *floats,
                         flags.value_or("gloo-store", "/tmp"));
  }
  const std::string exe = self_exe();
  const auto n = static_cast<size_t>(*peers);
  std::string modes(n, 'n');

  run_outcome best_ttt{std::numeric_limits<double>::infinity(), 0, ""};
  for (int64_t r = 0; r < *repeat; ++r) {
    std::vector<std::vector<std::string>> argv;
    for (size_t i = 0; i < n; ++i) {
      std::vector<std::string> a = {"averager", "peer", "--index", std::to_string(i), "--modes",
                                    modes, "--floats", std::to_string(*floats), "--codec", codec,
                                    "--group", "bench-" + std::to_string(r), "--deadline-s", "540",
                                    "--sender-timeout-ms", "60000", "--reducer-timeout-ms",
                                    "120000"};
      if (auto p = flags.value("part-elements"))
        a.insert(a.end(), {"--part-elements", *p});
      argv.push_back(a);
    }
    auto outcome = drive(exe, argv, true);
    if (!outcome.error.empty()) {
      std::fprintf(stderr, "ttt bench allreduce: ttt run failed: %s\n", outcome.error.c_str());
      return 1;
    }
    if (outcome.partial) {
      std::fprintf(stderr, "ttt bench allreduce: a ttt peer reported a partial result\n");
      return 1;
    }
    if (outcome.ms < best_ttt.ms)
      best_ttt = outcome;
  }

  run_outcome best_gloo{std::numeric_limits<double>::infinity(), 0, ""};
#ifdef TTT_WITH_GLOO
  const bool with_gloo = !flags.has("skip-gloo");
#else
  const bool with_gloo = false;
  std::fprintf(stderr, "ttt bench allreduce: built without Gloo: no baseline (gloo_ms=0)\n");
#endif
  for (int64_t r = 0; with_gloo && r < *repeat; ++r) {
    char pattern[] = "/tmp/ttt-gloo-XXXXXX";
    std::string store = ::mkdtemp(pattern);
    std::vector<std::vector<std::string>> argv;
    for (size_t i = 0; i < n; ++i)
      argv.push_back({"bench", "allreduce", "--gloo-rank", std::to_string(i), "--peers",
                      std::to_string(n), "--floats", std::to_string(*floats), "--gloo-store", store});
    auto outcome = drive(exe, argv, false);
    std::string cleanup = "rm -rf '" + store + "'";
    (void) std::system(cleanup.c_str());
    if (!outcome.error.empty()) {
      std::fprintf(stderr, "ttt bench allreduce: gloo run failed: %s\n", outcome.error.c_str());
      return 1;
    }
    if (outcome.ms < best_gloo.ms)
      best_gloo = outcome;
  }
  // The wire's encryption, measured here on the suite the peers chose: each
  // byte a peer sends is encrypted once and decrypted once by its receiver.
  const auto suite = wire::noise::aesgcm_available() ? wire::noise::cipher_suite::aesgcm
                                                     : wire::noise::cipher_suite::chachapoly;
  const double aead_mb_per_s = aead_throughput_mb_per_s(suite);
  const double crypto_ms = 2.0 * best_ttt.bytes_per_peer / 1e6 / aead_mb_per_s * 1e3;
  // CenteredClip's cost beside the mean, on the same data in this process.
  const uint64_t part_elements = flags.value("part-elements")
                                   ? std::stoull(*flags.value("part-elements"))
                                   : averaging::default_part_elements;
  double mean_reduce_ms = std::numeric_limits<double>::infinity(), clip_reduce_ms = mean_reduce_ms;
  for (int64_t r = 0; r < *repeat; ++r) {
    mean_reduce_ms = std::min(mean_reduce_ms, in_process_round_ms(n, *floats, part_elements,
                                                                  averaging::aggregation_rule::mean));
    clip_reduce_ms = std::min(clip_reduce_ms, in_process_round_ms(n, *floats, part_elements,
                                                                  averaging::aggregation_rule::centered_clip));
  }
  if (mean_reduce_ms < 0 || clip_reduce_ms < 0) {
    std::fprintf(stderr, "ttt bench allreduce: the in-process round failed\n");
    return 1;
  }
  const double vector_bytes = 4.0 * static_cast<double>(*floats);
  const double gloo_bytes = n > 1 ? 2.0 * static_cast<double>(n - 1) / static_cast<double>(n) * vector_bytes : 0;
  char line[1024];
  std::snprintf(line, sizeof(line),
                "allreduce peers=%zu floats=%llu codec=%s ttt_ms=%.1f gloo_ms=%.1f ratio=%.3f "
                "ttt_bytes_per_peer=%.0f gloo_bytes_per_peer=%.0f ttt_gbps=%.3f gloo_gbps=%.3f "
                "wire=%s aead_mb_per_s=%.0f crypto_ms_per_peer=%.1f crypto_share=%.3f mean_reduce_ms=%.1f "
                "clip_reduce_ms=%.1f clip_ratio=%.3f load=%s",
                n, static_cast<unsigned long long>(*floats), codec.c_str(), best_ttt.ms,
                with_gloo ? best_gloo.ms : 0.0, with_gloo ? best_ttt.ms / best_gloo.ms : 0.0,
                best_ttt.bytes_per_peer, gloo_bytes, vector_bytes / best_ttt.ms / 1e6,
                with_gloo ? vector_bytes / best_gloo.ms / 1e6 : 0.0,
                suite == wire::noise::cipher_suite::aesgcm ? "noise-aesgcm" : "noise-chachapoly", aead_mb_per_s,
                crypto_ms, crypto_ms / best_ttt.ms, mean_reduce_ms, clip_reduce_ms,
                clip_reduce_ms / mean_reduce_ms, load_average().c_str());
  say(line);
  return 0;
}

} // namespace ttt::bench
