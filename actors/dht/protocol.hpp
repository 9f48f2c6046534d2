#pragma once
// The DHT wire protocol: C++ forms of DhtRequest / DhtResponse and their
// codecs. Decoding never trusts the bytes: it enforces a size limit and a
// Cap'n Proto traversal limit, checks every length, and returns an error
// that says what was wrong.

#include "actors/common/describe.hpp"
#include "actors/dht/types.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace ttt::dht {

/// Bounds on what a peer may send. A message over a bound is refused whole.
struct protocol_limits {
  /// One frame of the wire (wire::max_frame_body): a responder trims the
  /// records of a find answer to fit.
  static constexpr size_t max_message_bytes = 1 << 20;
  static constexpr size_t max_key_bytes = 1024;
  static constexpr size_t max_subkey_bytes = 1024;
  static constexpr size_t max_value_bytes = 64 << 10;
  static constexpr size_t max_records_per_message = 256;
  static constexpr size_t max_ids_per_find = 64;
  static constexpr size_t max_nodes_per_result = 64;
  static constexpr size_t max_host_bytes = 255;
};

enum class request_kind { ping, store, find };

struct dht_request {
  peer_info sender;
  bool client_mode = false;
  request_kind kind = request_kind::ping;
  std::vector<dht_record> records; ///< store
  bool in_cache = false;           ///< store: caching a found value, not a primary replica
  std::vector<node_id> key_ids;    ///< find
};

struct store_result {
  bool accepted = false;
  std::string error; ///< why the record was refused; empty when accepted
};

struct find_result {
  std::vector<dht_record> records;
  std::vector<peer_info> nearest;
};

struct dht_response {
  peer_info responder;
  std::string error; ///< non-empty: the whole request was refused
  request_kind kind = request_kind::ping;
  std::vector<store_result> stored; ///< store: one per record, in order
  std::vector<find_result> found;   ///< find: one per key id, in order
};

std::string encode(const dht_request& request);
std::string encode(const dht_response& response);
caf::expected<dht_request> decode_request(std::string_view bytes);
caf::expected<dht_response> decode_response(std::string_view bytes);

/// A record alone, as it rests in RocksDB.
std::string encode(const dht_record& record);
caf::expected<dht_record> decode_record(std::string_view bytes);

/// The bytes an owner signs: canonical Cap'n Proto SignedFields of
/// (key, subkey, value, expiration). Canonical, so every implementation
/// signs and verifies the same bytes.
std::string signed_bytes(const dht_record& record);

/// The error a DHT node returns for a peer's bad input.
caf::error protocol_error(std::string what);

using ttt::describe;

} // namespace ttt::dht
