#include "actors/common/identity.hpp"

#include <caf/sec.hpp>

#include <sodium.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <sys/stat.h>

namespace ttt {

void init_crypto() {
  if (sodium_init() < 0)
    throw std::runtime_error("libsodium failed to initialize");
}

bool verify_signature(std::string_view public_key, std::string_view message,
                      std::string_view signature) {
  if (public_key.size() != crypto_sign_PUBLICKEYBYTES || signature.size() != crypto_sign_BYTES)
    return false;
  return crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(signature.data()),
                                     reinterpret_cast<const unsigned char*>(message.data()),
                                     message.size(),
                                     reinterpret_cast<const unsigned char*>(public_key.data())) == 0;
}

std::string x25519_public_key_of(std::string_view public_key) {
  if (public_key.size() != crypto_sign_PUBLICKEYBYTES)
    return {};
  std::string out(crypto_scalarmult_curve25519_BYTES, '\0');
  if (crypto_sign_ed25519_pk_to_curve25519(reinterpret_cast<unsigned char*>(out.data()),
                                           reinterpret_cast<const unsigned char*>(public_key.data())) != 0)
    return {};
  return out;
}

node_id peer_id_of(std::string_view public_key) {
  return node_id::of_key(public_key);
}

identity::identity(std::string public_key, std::string secret_key)
  : public_key_(std::move(public_key)), secret_key_(std::move(secret_key)),
    id_(peer_id_of(public_key_)) {
}

identity identity::generate() {
  init_crypto();
  std::string pk(crypto_sign_PUBLICKEYBYTES, '\0');
  std::string sk(crypto_sign_SECRETKEYBYTES, '\0');
  crypto_sign_keypair(reinterpret_cast<unsigned char*>(pk.data()),
                      reinterpret_cast<unsigned char*>(sk.data()));
  return identity(std::move(pk), std::move(sk));
}

identity identity::from_seed(std::string_view seed32) {
  init_crypto();
  if (seed32.size() != crypto_sign_SEEDBYTES)
    throw std::invalid_argument("identity seed must be 32 bytes");
  std::string pk(crypto_sign_PUBLICKEYBYTES, '\0');
  std::string sk(crypto_sign_SECRETKEYBYTES, '\0');
  crypto_sign_seed_keypair(reinterpret_cast<unsigned char*>(pk.data()),
                           reinterpret_cast<unsigned char*>(sk.data()),
                           reinterpret_cast<const unsigned char*>(seed32.data()));
  return identity(std::move(pk), std::move(sk));
}

caf::expected<identity> identity::load_or_create(const std::string& dir) {
  init_crypto();
  const std::string path = dir + "/identity.key";
  std::ifstream in(path, std::ios::binary);
  if (in) {
    std::string sk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (sk.size() != crypto_sign_SECRETKEYBYTES)
      return caf::make_error(caf::sec::runtime_error,
                             path + ": expected " + std::to_string(crypto_sign_SECRETKEYBYTES) +
                               " bytes of Ed25519 secret key, found " + std::to_string(sk.size()));
    std::string pk(crypto_sign_PUBLICKEYBYTES, '\0');
    crypto_sign_ed25519_sk_to_pk(reinterpret_cast<unsigned char*>(pk.data()),
                                 reinterpret_cast<const unsigned char*>(sk.data()));
    return identity(std::move(pk), std::move(sk));
  }
  auto fresh = generate();
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(fresh.secret_key_.data(), static_cast<std::streamsize>(fresh.secret_key_.size()));
    out.flush();
    if (!out)
      return caf::make_error(caf::sec::runtime_error,
                             "cannot write " + tmp + ": " + std::strerror(errno));
  }
  ::chmod(tmp.c_str(), 0600);
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    return caf::make_error(caf::sec::runtime_error,
                           "cannot create " + path + ": " + std::strerror(errno));
  return fresh;
}

std::string identity::sign(std::string_view message) const {
  std::string sig(crypto_sign_BYTES, '\0');
  crypto_sign_detached(reinterpret_cast<unsigned char*>(sig.data()), nullptr,
                       reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                       reinterpret_cast<const unsigned char*>(secret_key_.data()));
  return sig;
}

std::string identity::x25519_secret_key() const {
  std::string out(crypto_scalarmult_curve25519_BYTES, '\0');
  crypto_sign_ed25519_sk_to_curve25519(reinterpret_cast<unsigned char*>(out.data()),
                                       reinterpret_cast<const unsigned char*>(secret_key_.data()));
  return out;
}

} // namespace ttt
