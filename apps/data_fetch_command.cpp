// `ttt data fetch`: joins a swarm as a client-mode peer, downloads the run's
// data files from its seeders (verified, resumable), leaves. It needs no
// model, so it is in every build.

#include "actors/common/describe.hpp"
#include "actors/seeder/fetch.hpp"
#include "apps/client_node.hpp"
#include "apps/commands.hpp"
#include "apps/flags.hpp"
#include "apps/runtime.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>

namespace ttt::apps {

int data_fetch_command(const args_t& args) {
  const char* name = "ttt data fetch";
  flag_parser flags(
      "ttt data fetch --initial-peer PEERID@HOST:PORT --out DIR [--max-data MB] [--run RUN_ID]",
      client_flags(
          {{"initial-peer", "[PEERID@]HOST:PORT", "a peer of the swarm", true},
           {"out", "DIR", "where the files go (a second run resumes and skips what is there)"},
           {"max-data", "MB",
            "take training shards up to this many MB in all (default: every shard)"}}));
  if (int rc = flags.parse_or_exit(args, name); rc >= 0)
    return rc;
  auto out = flags.value("out");
  if (!out) {
    std::fprintf(stderr, "%s: --out DIR is required\n", name);
    return 2;
  }
  auto max_mb = flags.real("max-data", 0);
  if (!max_mb || *max_mb < 0 || !std::isfinite(*max_mb)) {
    std::fprintf(stderr, "%s: %s\n", name,
                 max_mb ? "--max-data must be at least 0" : flags.error().c_str());
    return 2;
  }
  auto peers = check_peers(flags, name);
  if (!peers)
    return 2;
  auto options = client_options(flags, name);
  if (!options)
    return 2;

  seeder::fetch_options fo;
  fo.run_id = options->run_id;
  fo.max_bytes = static_cast<uint64_t>(*max_mb * 1e6);
  // The training shards a peer takes follow its id; without a lasting
  // identity (--data-dir), they follow the directory, so that running the
  // command again resumes the same set.
  std::error_code ec;
  auto where = std::filesystem::absolute(*out, ec).lexically_normal().string();
  fo.picker = flags.value("data-dir")
                  ? std::string(options->self.id().raw())
                  : std::string(node_id::of_key("ttt-data-fetch:" + where).raw());
  fo.download.dir = *out;
  fo.download.log = log_line;
  fo.download.progress = [](const seeder::fetch_progress& p) {
    log_line(seeder::progress_line(p));
  };
  return with_client_node(
      *options, *peers, name, [&](caf::scoped_actor& self, const client_peer& peer) {
        auto report = seeder::fetch_shards(self, peer.dht, peer.wire, fo);
        if (!report) {
          std::fprintf(stderr, "%s: %s\n", name, describe(report.error()).c_str());
          return 1;
        }
        log_line("data: " + std::to_string(report->files) + " files in " + *out + " (" +
                 std::to_string(report->fetched) + " fetched now, " +
                 std::to_string(report->files - report->fetched) + " already there" +
                 (report->corrupt
                      ? ", " + std::to_string(report->corrupt) + " corrupt copies fetched again"
                      : "") +
                 ")");
        return 0;
      });
}

} // namespace ttt::apps
