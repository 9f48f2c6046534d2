#pragma once
// The wire's data-transfer messages (frame kinds 5 and 6, schema/
// transfer.capnp): a joiner lists a seeder's files and reads them in chunks.
// Their C++ forms, bounds and codecs, shared by the seeder that answers
// (actors/seeder), the joiner that asks, and the wire itself, which answers
// for a node that serves no data.
//
// What decoding guarantees: a message within its byte bound, every name a
// plain file name (never a path: no '/', no leading '.'), every size and
// digest of the right length, at most max_files entries with unique names,
// a chunk request of 1 to max_chunk_bytes.

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ttt::wire {

/// Bounds on the data-transfer messages; a message past one is refused whole.
struct transfer_limits {
  /// One chunk: half a frame (wire::max_frame_body), so a response with its
  /// envelope always fits one.
  static constexpr uint32_t max_chunk_bytes = 512 << 10;
  /// Files one seeder lists: the worst case (every name 128 bytes, a
  /// 255-byte host) keeps its DHT listing under the DHT's 64 KiB value bound.
  static constexpr size_t max_files = 300;
  static constexpr size_t max_name_bytes = 128;
  static constexpr uint64_t max_file_bytes = uint64_t{16} << 30;
  static constexpr size_t digest_bytes = 32; ///< BLAKE2b-256
  static constexpr size_t max_error_bytes = 256;
  static constexpr size_t max_request_bytes = 1024;
  /// A response: one frame (wire::max_frame_body).
  static constexpr size_t max_response_bytes = 1 << 20;
};

/// One file a seeder serves.
struct shard_entry {
  std::string name;
  uint64_t size = 0;
  std::string digest; ///< BLAKE2b-256 of the whole file, 32 raw bytes
};

inline bool operator==(const shard_entry& a, const shard_entry& b) {
  return a.name == b.name && a.size == b.size && a.digest == b.digest;
}

/// Whether `name` may name a served file: 1 to 128 of [A-Za-z0-9._-], not
/// starting with '.' (so neither "." nor ".." nor a hidden file).
bool valid_file_name(std::string_view name);

/// caf::none when `files` is a listing a peer may send: at most max_files
/// entries, each a valid name (unique), a size within max_file_bytes and a
/// 32-byte digest; else an error naming the first offence.
caf::error check_listing(const std::vector<shard_entry>& files);

struct data_request {
  enum class kind { list, chunk };
  kind what = kind::list;
  std::string name;    ///< chunk: a listed file
  uint64_t offset = 0; ///< chunk
  uint32_t length = 0; ///< chunk: 1 to max_chunk_bytes
};

struct data_response {
  enum class kind { list, chunk, error };
  kind what = kind::error;
  std::vector<shard_entry> files; ///< list
  std::string chunk;              ///< chunk
  std::string error;              ///< error
};

std::string encode(const data_request& request);
std::string encode(const data_response& response);
caf::expected<data_request> decode_data_request(std::string_view bytes);
caf::expected<data_response> decode_data_response(std::string_view bytes);

/// An error response saying `why` (cut to max_error_bytes).
std::string data_error_response(std::string_view why);

} // namespace ttt::wire
