#pragma once
// Codecs for the values that averaging peers exchange: float32 spans to bytes
// and back. Pure functions, no I/O. Every encoded segment is self-describing
// (codec id + element count + payload), so a receiver decodes it without
// knowing which codec the sender chose, yet checks the element count it
// expected, which is how a part of the wrong size is refused.

#include <caf/expected.hpp>
#include <caf/span.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ttt::averaging {

/// The wire codecs. Values are stable: they are written into encoded bytes.
enum class codec : uint8_t {
  none = 0,          ///< raw float32, lossless
  fp16 = 1,          ///< IEEE half precision, values clamped to +-65504
  scaled_fp16 = 2,   ///< (x - mean) / std as half precision, plus mean and std
  uniform_8bit = 3,  ///< 256 evenly spaced levels between min and max
  quantile_8bit = 4, ///< 256 buckets at the values' quantiles, decoded to each bucket's mean
  blockwise_8bit = 5 ///< int8 scaled by the absolute maximum of each block of 4096 values
};

/// Number of values sharing one scale in `blockwise_8bit`.
constexpr size_t blockwise_block_size = 4096;

/// Bytes of the header in front of every encoded segment: codec (1) + count (4).
constexpr size_t segment_header_size = 5;

/// How a tensor is compressed: `small` for tensors of fewer than
/// `threshold` elements, `large` otherwise. A fixed codec is the case
/// `small == large`. The 2021 run used fp16 below 65,537 elements and 8-bit above.
struct codec_choice {
  codec small = codec::none;
  codec large = codec::none;
  uint64_t threshold = 0;

  /// Always `c`.
  static codec_choice fixed(codec c) { return {c, c, 0}; }
  /// `small` below `threshold` elements, `large` from it on.
  static codec_choice adaptive(codec small, codec large, uint64_t threshold) {
    return {small, large, threshold};
  }
  /// The codec for a tensor of `tensor_elements` values.
  codec for_tensor(uint64_t tensor_elements) const {
    return tensor_elements < threshold ? small : large;
  }
};

/// Parses "none", "fp16", "scaled_fp16", "uniform8", "quantile8", "blockwise8"
/// (also "8bit", meaning blockwise8).
caf::expected<codec> parse_codec(std::string_view name);
/// The name parse_codec accepts for `c`.
const char* codec_name(codec c);

/// Exact number of bytes `encode` appends for `elements` values with `c`.
size_t encoded_size(codec c, size_t elements);

/// Appends one encoded segment holding `values` to `out`.
void encode(codec c, caf::span<const float> values, std::string& out);

/// Writes one encoded segment holding `values` to `out`, which has room for
/// encoded_size(c, values.size()) bytes; returns the end of what it wrote.
char* encode_to(codec c, caf::span<const float> values, char* out);

/// Decodes the segment at the front of `bytes` into `out`, whose size is the
/// element count the caller expects. On success advances `bytes` past the
/// segment. Fails, leaving `out` unspecified, on an unknown codec, a count
/// other than `out.size()`, a truncated payload, or a non-finite value
/// (NaN or infinity never leave a decoder).
caf::error decode(std::string_view& bytes, caf::span<float> out);

} // namespace ttt::averaging
