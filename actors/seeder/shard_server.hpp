#pragma once
// What a seeder serves, without CAF: the run's data files found in its
// directory (with their sizes and digests) and its answer to a peer's data
// request as a function of them. A name from a peer is only ever looked up
// among the listed files; no path is built from a peer's text.

#include "actors/wire/transfer.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace ttt::seeder {

/// A file the seeder serves, and where it lies.
struct served_file {
  wire::shard_entry entry;
  std::string path;
};

/// Whether `name` is one of a run's data files: train-*.shard,
/// valid-*.shard, tokenizer.model, codebook.safetensors, image_coder.json,
/// or a model config (*.ini).
bool is_data_file(std::string_view name);

/// The data files directly in `dir` (sorted by name) with their sizes and
/// digests; `skipped` gets the data files whose names the wire cannot
/// carry. An error when `dir` cannot be read, or holds more data files than
/// a listing may (transfer_limits::max_files) or one over 16 GiB.
caf::expected<std::vector<served_file>> scan_shards(const std::string& dir,
                                                    std::vector<std::string>& skipped);

class shard_server {
public:
  /// Changes a chunk's bytes before they are sent: the tests' model of a
  /// transfer corrupted on the way (never set by ttt itself).
  using tamper_fn =
      std::function<void(const std::string& name, uint64_t offset, std::string& bytes)>;

  explicit shard_server(std::vector<served_file> files, tamper_fn tamper = {});

  /// The DataResponse to a DataRequest: the listing, a chunk (read at its
  /// offset, at most the request's length, shorter at the file's end), or an
  /// error saying why not (bad bytes, an unlisted name, an offset past the end).
  std::string answer(std::string_view request) const;

  const std::vector<wire::shard_entry>& listing() const { return listing_; }

private:
  std::vector<wire::shard_entry> listing_;
  std::map<std::string, served_file, std::less<>> files_;
  tamper_fn tamper_;
};

} // namespace ttt::seeder
