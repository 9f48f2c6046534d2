#pragma once
// A joiner's download of the run's data: every file of a plan
// (fetch_plan.hpp) into one directory, each verified against the digest
// its seeders agree on.
//
// What it guarantees: a file appears under its own name only once its
// BLAKE2b-256 matched (it is written as NAME.part, then renamed); a file
// already there with the right digest is not fetched again; a restart
// resumes every NAME.part from its length; a copy whose digest does not
// match is deleted and fetched again from scratch, from the next of its
// seeders, at most `max_tries` times per file, then the fetch fails naming
// the file, the seeders tried and why.

#include "actors/dht/interface.hpp"
#include "actors/seeder/fetch_plan.hpp"
#include "actors/wire/transfer.hpp"

#include <caf/actor.hpp>
#include <caf/expected.hpp>
#include <caf/scoped_actor.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace ttt::seeder {

/// One range of a file.
struct byte_range {
  uint64_t offset = 0;
  uint32_t length = 0;
};

/// Reads `ranges` of the file `name` from the seeder `from`, all asked at
/// once: one answer per range, in order, the bytes or why not. The wire in
/// ttt (wire_reader), a fake in tests.
using chunk_reader = std::function<std::vector<caf::expected<std::string>>(
    const source& from, const std::string& name, const std::vector<byte_range>& ranges)>;

struct download_options {
  std::string dir;
  size_t max_tries = 3; ///< copies fetched of one file at most
  size_t window = 8;    ///< chunks asked at once
  uint32_t chunk_bytes = wire::transfer_limits::max_chunk_bytes;
  /// Seconds (steady), for the rate and the progress interval; the steady clock when not given.
  std::function<double()> clock;
  double progress_interval = 1; ///< seconds between progress reports (and one at the end)
  std::function<void(const fetch_progress&)> progress;
  std::function<void(const std::string&)> log;
};

struct download_report {
  size_t files = 0;               ///< the plan's files, all in the directory now, verified
  size_t fetched = 0;             ///< of them, fetched now (the rest were there already)
  size_t corrupt = 0;             ///< copies that failed their digest and were fetched again
  uint64_t bytes = 0;             ///< the plan's total size
  uint64_t bytes_transferred = 0; ///< bytes received from seeders
};

/// Brings every file of `plan` into `options.dir` (created if needed).
caf::expected<download_report> download(const fetch_plan& plan, const chunk_reader& read,
                                        const download_options& options);

/// A chunk_reader that asks through this node's `wire` (data_call_atom)
/// from the blocking actor `self`, which must outlive it.
chunk_reader wire_reader(caf::scoped_actor& self, const caf::actor& wire, caf::timespan timeout);

struct fetch_options {
  std::string run_id;
  uint64_t max_bytes = 0; ///< budget for the whole download; 0: every file
  /// Decides which training shards this peer takes: its peer id, so that a
  /// restart takes the same ones.
  std::string picker;
  caf::timespan call_timeout = std::chrono::seconds(60); ///< one batch of chunks
  download_options download;
};

/// The fetch `ttt join` and `ttt data fetch` run: the run's listings from
/// the DHT, merged and planned, then downloaded through the wire.
caf::expected<download_report> fetch_shards(caf::scoped_actor& self, const dht::dht_actor& dht,
                                            const caf::actor& wire, const fetch_options& options);

} // namespace ttt::seeder
