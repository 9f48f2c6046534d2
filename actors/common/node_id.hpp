#pragma once
// 160-bit identifiers of peers and keys, and the XOR metric between them.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ttt {

/// A 160-bit Kademlia id: of a peer (hash of its public key) or of a key.
/// Value type, ordered as a big-endian number.
struct node_id {
  static constexpr size_t size = 20;
  std::array<uint8_t, size> bytes{};

  /// The id of a DHT key: BLAKE2b-160 of the key's bytes.
  static node_id of_key(std::string_view key);
  /// Decodes 20 raw bytes; nullopt for any other length.
  static std::optional<node_id> from_bytes(std::string_view raw);
  /// Parses 40 hex digits; nullopt otherwise.
  static std::optional<node_id> from_hex(std::string_view hex);

  std::string to_hex() const;
  std::string_view raw() const {
    return std::string_view(reinterpret_cast<const char*>(bytes.data()), size);
  }

  /// XOR distance, itself an id so that distances compare as numbers.
  node_id distance(const node_id& other) const {
    node_id d;
    for (size_t i = 0; i < size; ++i)
      d.bytes[i] = bytes[i] ^ other.bytes[i];
    return d;
  }

  /// Number of leading bits `*this` and `other` share (160 when equal).
  int common_prefix_bits(const node_id& other) const;

  friend bool operator==(const node_id& a, const node_id& b) { return a.bytes == b.bytes; }
  friend bool operator!=(const node_id& a, const node_id& b) { return a.bytes != b.bytes; }
  friend bool operator<(const node_id& a, const node_id& b) { return a.bytes < b.bytes; }
};

/// Lower-case hex of `bytes`.
std::string to_hex(std::string_view bytes);

/// The bytes of an even-length hex string; nullopt for anything else.
std::optional<std::string> from_hex(std::string_view hex);

} // namespace ttt

template <>
struct std::hash<ttt::node_id> {
  size_t operator()(const ttt::node_id& id) const noexcept {
    size_t h = 0;
    for (size_t i = 0; i < sizeof(size_t); ++i)
      h = (h << 8) | id.bytes[i];
    return h;
  }
};
