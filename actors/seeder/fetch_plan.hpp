#pragma once
// What a joiner downloads, as pure decisions over the seeders' listings:
// which content each file name stands for (what most seeders list), which
// files it takes (every support file and validation shard, and a subset of
// the training shards that fits its budget), from whom first, and how its
// progress reads.

#include "actors/common/node_id.hpp"
#include "actors/seeder/listing.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ttt::seeder {

/// A seeder serving a file.
struct source {
  node_id peer;
  std::string address; ///< HOST:PORT
};

/// A file on offer: the content most of its seeders list, and those seeders.
struct offered_file {
  shard_entry entry;
  std::vector<source> sources;
};

/// A file whose seeders disagree without a majority: nobody's copy is taken.
struct dispute {
  std::string name;
  size_t seeders = 0;  ///< how many list each of the most listed contents
  size_t contents = 0; ///< how many different contents are listed
};

struct offer {
  std::vector<offered_file> files; ///< by name
  std::vector<dispute> disputed;   ///< by name
};

/// The union of `listings`. A name listed with different contents (size,
/// digest) stands for the one most seeders list; on a tie it is disputed.
/// A peer listed twice counts once (its first listing).
offer merge_listings(const std::vector<shard_listing>& listings);

enum class file_kind {
  support,    ///< tokenizer, codebook, image coder, model configs: always taken
  validation, ///< valid-*.shard: always taken
  training,   ///< train-*.shard: as many as the budget holds
};

file_kind kind_of(std::string_view name);

struct fetch_plan {
  /// The files to have, by name, each with its sources in the order to try.
  std::vector<offered_file> files;
  uint64_t bytes = 0;          ///< their total size
  size_t training_offered = 0; ///< training shards on offer (the plan holds some of them)
};

/// What a joiner takes from `offered`: every support file and validation
/// shard, and the training shards that fit in `max_bytes` (0: no bound)
/// with them, in an order given by a hash of `picker` and each name, so that
/// the same picker (a peer id) picks the same set again after a restart and
/// different joiners pick different sets. Sources are ranked by a hash of
/// (picker, name, seeder), spreading joiners over seeders. An error when a
/// support file or validation shard is disputed, when nothing is on offer,
/// or when training shards are offered and none fits.
caf::expected<fetch_plan> plan_fetch(const offer& offered, uint64_t max_bytes,
                                     std::string_view picker);

struct fetch_progress {
  size_t files_done = 0;
  size_t files_total = 0;
  uint64_t bytes_done = 0;
  uint64_t bytes_total = 0;
  double bytes_per_second = 0;
};

/// "data: 3/10 files, 12.5 of 40.0 MB, 8.1 MB/s"
std::string progress_line(const fetch_progress& progress);

} // namespace ttt::seeder
