#include "actors/common/node_id.hpp"

#include <sodium.h>

namespace ttt {

node_id node_id::of_key(std::string_view key) {
  node_id id;
  crypto_generichash(id.bytes.data(), size, reinterpret_cast<const unsigned char*>(key.data()),
                     key.size(), nullptr, 0);
  return id;
}

std::optional<node_id> node_id::from_bytes(std::string_view raw) {
  if (raw.size() != size)
    return std::nullopt;
  node_id id;
  for (size_t i = 0; i < size; ++i)
    id.bytes[i] = static_cast<uint8_t>(raw[i]);
  return id;
}

std::optional<node_id> node_id::from_hex(std::string_view hex) {
  if (hex.size() != 2 * size)
    return std::nullopt;
  auto raw = ttt::from_hex(hex);
  return raw ? from_bytes(*raw) : std::nullopt;
}

std::string node_id::to_hex() const {
  return ttt::to_hex(raw());
}

std::string to_hex(std::string_view bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0)
    return std::nullopt;
  auto value = [](char c) -> int {
    if (c >= '0' && c <= '9')
      return c - '0';
    if (c >= 'a' && c <= 'f')
      return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
      return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = value(hex[i]);
    int lo = value(hex[i + 1]);
    if (hi < 0 || lo < 0)
      return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
  }
  return out;
}

int node_id::common_prefix_bits(const node_id& other) const {
  for (size_t i = 0; i < size; ++i) {
    uint8_t x = bytes[i] ^ other.bytes[i];
    if (x != 0)
      return static_cast<int>(i * 8) + __builtin_clz(static_cast<unsigned>(x)) - 24;
  }
  return static_cast<int>(size * 8);
}

} // namespace ttt
