#pragma once
// Dataset shards (schema/data.capnp): written and read one record at a time,
// so a shard never has to fit in memory. Torch-free.

#include "model/result.hpp"

#include <cstdint>
#include <deque>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace ttt::model {

/// One record: a caption, its token ids, the image codes, the original size.
struct sample {
  std::string caption;
  std::vector<int32_t> text_ids;
  std::vector<int16_t> image_codes;
  uint32_t width = 0, height = 0;
  bool nsfw = false;
};

/// The 2021 run's filters: a caption of 3+ characters, not NSFW, aspect ratio ≤ 2.
bool passes_2021_filters(const sample& s);

/// Appends records to a new shard file.
class shard_writer {
public:
  static result<shard_writer> create(const std::string& path);
  status write(const sample& s);
  /// Flushes; the failure names the file (e.g. a full disk).
  status close();
  int64_t records() const { return records_; }

private:
  std::string path_;
  std::unique_ptr<std::ofstream> out_;
  int64_t records_ = 0;
};

/// Reads a shard's records in order; a truncated or corrupt record is a
/// failure naming the file and the record's index.
class shard_reader {
public:
  static result<shard_reader> open(const std::string& path);
  /// The next record, nullopt at the clean end of the file.
  result<std::optional<sample>> next();
  const std::string& path() const { return path_; }
  int64_t records_read() const { return index_; }

private:
  std::string path_;
  std::unique_ptr<std::ifstream> in_;
  int64_t index_ = 0;
};

/// The shard files `dir/<split>-*.shard`, sorted.
std::vector<std::string> list_shards(const std::string& dir, const std::string& split);

/// A seed derived from a peer id, so that peers see their data in different orders.
uint64_t seed_from_peer_id(const std::string& peer_id);

/// Records of several shards, filtered and shuffled through a buffer:
/// each record leaves the buffer at a random slot once it is full.
class sample_stream {
public:
  /// `loop`: start over after the last shard (training); otherwise end.
  sample_stream(std::vector<std::string> shards, size_t buffer_size, uint64_t seed, bool loop, bool filter = true);
  result<std::optional<sample>> next();
  int64_t filtered_out() const { return filtered_out_; }

private:
  status refill();
  std::vector<std::string> shards_;
  size_t buffer_size_;
  std::mt19937_64 rng_;
  bool loop_, filter_;
  size_t shard_index_ = 0;
  std::optional<shard_reader> reader_;
  std::vector<sample> buffer_;
  bool exhausted_ = false;
  int64_t filtered_out_ = 0;
  int64_t kept_this_pass_ = 0;
};

} // namespace ttt::model
