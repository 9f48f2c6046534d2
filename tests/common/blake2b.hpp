#pragma once
// Hex BLAKE2b-256 of bytes, as ttt states the digests of the files it serves.

#include <sodium.h>

#include <string>

namespace ttt::test {

inline std::string hex_blake2b(const std::string& bytes) {
  unsigned char digest[crypto_generichash_BYTES];
  crypto_generichash(digest, sizeof digest, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                     nullptr, 0);
  char hex[2 * sizeof digest + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return hex;
}

} // namespace ttt::test
