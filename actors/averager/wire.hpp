#pragma once
// The bytes averagers exchange: one codec between the structs of the
// averager and schema/averaging.capnp's `AveragingMessage`. Decoding enforces
// a size limit and Cap'n Proto traversal/nesting limits before any field is
// read, so a peer's bytes can never make us allocate or walk more than the
// message itself.

#include "actors/averager/allreduce.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ttt::averaging {

/// Largest message accepted: a 512 KiB part or state chunk plus its envelope.
constexpr size_t max_message_bytes = 1024 * 1024; // = the wire's largest frame body

/// Newcomer -> holder: send me chunk `chunk_index` of your state.
struct state_request {
  uint32_t chunk_index = 0;
};

/// Holder -> newcomer: one chunk of the state blob.
struct state_chunk {
  uint64_t epoch = 0;
  uint64_t total_bytes = 0;
  std::string checksum; ///< BLAKE2b-256 of the whole blob
  uint32_t chunk_index = 0;
  std::string data;
};

/// Which member of the union a decoded message holds.
enum class wire_kind : uint8_t { part, result, state_request, state_chunk, state_error, hello };

/// A decoded `AveragingMessage`. `values.group_id` and `values.sender_id`
/// are set for every kind; the other fields only for their kind. The views in
/// `values` point into the decoded bytes (or into `aligned_copy` when those
/// were not word-aligned): keep the bytes alive, and move, never copy, this.
struct wire_message {
  wire_kind kind = wire_kind::part;
  part_view values;  ///< part / result (and the envelope for every kind)
  state_request request;
  state_chunk chunk;
  std::string error_text;
  std::vector<uint64_t> aligned_copy;

  wire_message() = default;
  wire_message(wire_message&&) = default;
  wire_message& operator=(wire_message&&) = default;
  wire_message(const wire_message&) = delete;
  wire_message& operator=(const wire_message&) = delete;
};

/// Encodes a part or a result.
std::string encode_values(const part_message& msg);
/// Encodes a state request under `fetch_id` (the newcomer's id for this download).
std::string encode_state_request(const std::string& fetch_id, const std::string& sender_id,
                                 const state_request& req);
/// Encodes one state chunk, answering a request made under `fetch_id`.
std::string encode_state_chunk(const std::string& fetch_id, const std::string& sender_id,
                               const state_chunk& chunk);
/// Encodes a holder's refusal to serve.
std::string encode_state_error(const std::string& fetch_id, const std::string& sender_id,
                               const std::string& text);

/// Encodes a round-start hello from `sender_id` in group `group_id`.
std::string encode_hello(const std::string& group_id, const std::string& sender_id);

/// Decodes bytes from a peer; an error for anything oversized, malformed, or
/// not one of the known kinds. The result views `bytes`.
caf::expected<wire_message> decode_message(std::string_view bytes);

} // namespace ttt::averaging
