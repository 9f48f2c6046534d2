#pragma once
// A peer's Ed25519 identity: created on first start in the data directory,
// reused afterwards. The peer id is BLAKE2b-160 of the public key.

#include "actors/common/node_id.hpp"

#include <caf/expected.hpp>

#include <string>
#include <string_view>

namespace ttt {

constexpr size_t public_key_size = 32;
constexpr size_t signature_size = 64;

/// Verifies an Ed25519 `signature` of `message` by `public_key` (32 raw bytes).
bool verify_signature(std::string_view public_key, std::string_view message,
                      std::string_view signature);

/// The X25519 public key of an Ed25519 `public_key` (32 raw bytes); empty
/// when the key is not a valid Ed25519 point.
std::string x25519_public_key_of(std::string_view public_key);

/// The id a peer with `public_key` must have.
node_id peer_id_of(std::string_view public_key);

/// A key pair. Value type; the secret key never leaves the process.
class identity {
public:
  /// A fresh random key pair (tests, client-mode tools).
  static identity generate();
  /// A key pair derived from a 32-byte seed (deterministic tests).
  static identity from_seed(std::string_view seed32);
  /// Loads `dir/identity.key`, creating it (mode 0600) when absent. A file
  /// of the wrong size is an error, never silently replaced.
  static caf::expected<identity> load_or_create(const std::string& dir);

  const std::string& public_key() const { return public_key_; }
  const node_id& id() const { return id_; }
  std::string sign(std::string_view message) const;
  /// The X25519 secret key that belongs to this Ed25519 key (libsodium's
  /// conversion): the static key of the wire's Noise handshake.
  std::string x25519_secret_key() const;

private:
  identity(std::string public_key, std::string secret_key);

  std::string public_key_; // 32 bytes
  std::string secret_key_; // 64 bytes (libsodium's seed + public key layout)
  node_id id_;
};

/// Initializes libsodium once; safe to call repeatedly.
void init_crypto();

} // namespace ttt
