#include "actors/wire/noise.hpp"

#include "actors/common/identity.hpp"

#include <caf/sec.hpp>

#include <sodium.h>

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace ttt::wire::noise {

namespace {

caf::error noise_error(std::string text) {
  return caf::make_error(caf::sec::invalid_argument, "noise: " + std::move(text));
}

// libsodium takes unsigned char pointers; an empty view may have a null
// data(), which some primitives do not expect even with length 0.
const unsigned char* bytes(std::string_view data) {
  static const unsigned char empty = 0;
  return data.empty() ? &empty : reinterpret_cast<const unsigned char*>(data.data());
}

std::string_view view(const key32& key) {
  return {reinterpret_cast<const char*>(key.data()), key.size()};
}

template <class T> void wipe(T& value) {
  sodium_memzero(&value, sizeof(value));
}

// The reserved nonce: a state that reached it can no longer encrypt, so a
// key is never used with the same nonce twice (spec section 5.1).
constexpr uint64_t exhausted_nonce = std::numeric_limits<uint64_t>::max();

// Spec section 12: ChaChaPoly's nonce is 32 zero bits then n little-endian;
// AESGCM's is 32 zero bits then n big-endian.
std::array<unsigned char, 12> aead_nonce(cipher_suite suite, uint64_t n) {
  std::array<unsigned char, 12> nonce{};
  for (size_t i = 0; i < 8; ++i) {
    auto byte = static_cast<unsigned char>(n >> (8 * i));
    if (suite == cipher_suite::chachapoly)
      nonce[4 + i] = byte;
    else
      nonce[11 - i] = byte;
  }
  return nonce;
}

// HMAC-SHA256 over the concatenation of `first` and `second` (spec 4.3).
key32 hmac(std::string_view key, std::string_view first, std::string_view second = {}) {
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, bytes(key), key.size());
  crypto_auth_hmacsha256_update(&state, bytes(first), first.size());
  crypto_auth_hmacsha256_update(&state, bytes(second), second.size());
  key32 out;
  crypto_auth_hmacsha256_final(&state, out.data());
  wipe(state);
  return out;
}

// HKDF(chaining_key, input_key_material, 2) of spec section 4.3.
std::pair<key32, key32> hkdf2(const key32& chaining_key, std::string_view input_key_material) {
  key32 temp_key = hmac(view(chaining_key), input_key_material);
  const char one = 0x01;
  const char two = 0x02;
  key32 output1 = hmac(view(temp_key), std::string_view(&one, 1));
  key32 output2 = hmac(view(temp_key), view(output1), std::string_view(&two, 1));
  wipe(temp_key);
  return {output1, output2};
}

bool aesgcm_usable(cipher_suite suite) {
  return suite != cipher_suite::aesgcm || aesgcm_available();
}

} // namespace

bool aesgcm_available() {
  init_crypto();
  return crypto_aead_aes256gcm_is_available() == 1;
}

std::string protocol_name(cipher_suite suite) {
  return suite == cipher_suite::aesgcm ? "Noise_XX_25519_AESGCM_SHA256"
                                       : "Noise_XX_25519_ChaChaPoly_SHA256";
}

// -- keypair ------------------------------------------------------------------

keypair keypair::generate() {
  init_crypto();
  key32 secret;
  randombytes_buf(secret.data(), secret.size());
  keypair result = from_secret(secret);
  wipe(secret);
  return result;
}

keypair keypair::from_secret(const key32& secret) {
  init_crypto();
  keypair result;
  result.secret_key = secret;
  crypto_scalarmult_curve25519_base(result.public_key.data(), result.secret_key.data());
  return result;
}

keypair::~keypair() {
  wipe(secret_key);
}

// -- cipher_state -------------------------------------------------------------

cipher_state::cipher_state(cipher_suite suite, const key32& k)
    : suite_(suite), key_(k), has_key_(true) {
  init_crypto();
}

cipher_state::~cipher_state() {
  wipe(key_);
}

caf::error cipher_state::encrypt_with_ad(std::string_view ad, std::string_view plaintext,
                                         std::string& out) {
  if (!has_key_) {
    if (plaintext.size() > max_message_size)
      return noise_error("message longer than 65535 bytes");
    out.append(plaintext);
    return {};
  }
  if (plaintext.size() + tag_size > max_message_size)
    return noise_error("message longer than 65535 bytes");
  if (nonce_ == exhausted_nonce)
    return noise_error("nonce exhausted; the session must end or rekey");
  if (!aesgcm_usable(suite_))
    return noise_error("AES-256-GCM is not available on this CPU");
  auto nonce = aead_nonce(suite_, nonce_);
  auto offset = out.size();
  out.resize(offset + plaintext.size() + tag_size);
  auto* target = reinterpret_cast<unsigned char*>(out.data() + offset);
  unsigned long long written = 0;
  if (suite_ == cipher_suite::chachapoly)
    crypto_aead_chacha20poly1305_ietf_encrypt(target, &written, bytes(plaintext), plaintext.size(),
                                              bytes(ad), ad.size(), nullptr, nonce.data(),
                                              key_.data());
  else
    crypto_aead_aes256gcm_encrypt(target, &written, bytes(plaintext), plaintext.size(), bytes(ad),
                                  ad.size(), nullptr, nonce.data(), key_.data());
  ++nonce_;
  return {};
}

caf::error cipher_state::decrypt_with_ad(std::string_view ad, std::string_view ciphertext,
                                         std::string& out) {
  if (ciphertext.size() > max_message_size)
    return noise_error("message longer than 65535 bytes");
  if (!has_key_) {
    out.append(ciphertext);
    return {};
  }
  if (ciphertext.size() < tag_size)
    return noise_error("ciphertext shorter than its tag");
  if (nonce_ == exhausted_nonce)
    return noise_error("nonce exhausted; the session must end or rekey");
  if (!aesgcm_usable(suite_))
    return noise_error("AES-256-GCM is not available on this CPU");
  auto nonce = aead_nonce(suite_, nonce_);
  auto offset = out.size();
  auto plaintext_size = ciphertext.size() - tag_size;
  out.resize(offset + plaintext_size);
  auto* target = reinterpret_cast<unsigned char*>(out.data() + offset);
  unsigned long long written = 0;
  int rc;
  if (suite_ == cipher_suite::chachapoly)
    rc = crypto_aead_chacha20poly1305_ietf_decrypt(target, &written, nullptr, bytes(ciphertext),
                                                   ciphertext.size(), bytes(ad), ad.size(),
                                                   nonce.data(), key_.data());
  else
    rc = crypto_aead_aes256gcm_decrypt(target, &written, nullptr, bytes(ciphertext),
                                       ciphertext.size(), bytes(ad), ad.size(), nonce.data(),
                                       key_.data());
  if (rc != 0) {
    sodium_memzero(target, plaintext_size);
    out.resize(offset);
    return noise_error("message failed authentication");
  }
  ++nonce_;
  return {};
}

// -- symmetric_state ----------------------------------------------------------

namespace detail {

symmetric_state::symmetric_state(cipher_suite suite) : suite_(suite) {
  init_crypto();
  // A name of at most HASHLEN bytes is used as h directly, zero-padded;
  // a longer one is hashed (spec section 5.2).
  auto name = protocol_name(suite);
  if (name.size() <= h_.size())
    std::copy(name.begin(), name.end(), h_.begin());
  else
    crypto_hash_sha256(h_.data(), bytes(name), name.size());
  ck_ = h_;
}

symmetric_state::~symmetric_state() {
  wipe(ck_);
}

void symmetric_state::mix_key(const key32& input_key_material) {
  auto [next_ck, temp_k] = hkdf2(ck_, view(input_key_material));
  ck_ = next_ck;
  cipher_ = cipher_state(suite_, temp_k);
  wipe(next_ck);
  wipe(temp_k);
}

void symmetric_state::mix_hash(std::string_view data) {
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  crypto_hash_sha256_update(&state, h_.data(), h_.size());
  crypto_hash_sha256_update(&state, bytes(data), data.size());
  crypto_hash_sha256_final(&state, h_.data());
}

caf::error symmetric_state::encrypt_and_hash(std::string_view plaintext, std::string& out) {
  auto offset = out.size();
  if (auto err = cipher_.encrypt_with_ad(view(h_), plaintext, out))
    return err;
  mix_hash(std::string_view(out).substr(offset));
  return {};
}

caf::error symmetric_state::decrypt_and_hash(std::string_view ciphertext, std::string& out) {
  if (auto err = cipher_.decrypt_with_ad(view(h_), ciphertext, out))
    return err;
  mix_hash(ciphertext);
  return {};
}

std::pair<cipher_state, cipher_state> symmetric_state::split() const {
  auto [k1, k2] = hkdf2(ck_, {});
  std::pair<cipher_state, cipher_state> result{cipher_state(suite_, k1), cipher_state(suite_, k2)};
  wipe(k1);
  wipe(k2);
  return result;
}

void symmetric_state::wipe_keys() {
  wipe(ck_);
  cipher_ = cipher_state();
}

} // namespace detail

// -- handshake_state ----------------------------------------------------------

namespace {

enum class token { e, s, ee, es, se };

// XX, message by message; even-numbered messages go initiator to responder.
struct message_pattern {
  token tokens[4];
  size_t size;
};
constexpr message_pattern xx_pattern[3] = {
    {{token::e}, 1},
    {{token::e, token::ee, token::s, token::es}, 4},
    {{token::s, token::se}, 2},
};

// The bytes a message adds to its payload: public keys, and a tag for every
// encryption done after the first DH gave the cipher state a key.
size_t message_overhead(const message_pattern& pattern, bool keyed) {
  size_t overhead = 0;
  for (size_t i = 0; i < pattern.size; ++i) {
    switch (pattern.tokens[i]) {
    case token::e:
      overhead += key_size;
      break;
    case token::s:
      overhead += key_size + (keyed ? tag_size : 0);
      break;
    default:
      keyed = true;
    }
  }
  return overhead + (keyed ? tag_size : 0);
}

} // namespace

handshake_state::handshake_state(cipher_suite suite, bool initiator, std::string_view prologue,
                                 const keypair& static_keys, std::optional<keypair> ephemeral)
    : suite_(suite), initiator_(initiator), symmetric_(suite), static_(static_keys),
      ephemeral_(ephemeral ? *ephemeral : keypair::generate()) {
  symmetric_.mix_hash(prologue);
  // XX has no pre-messages, so nothing else is mixed in before message 1.
}

handshake_state::~handshake_state() {
  wipe(remote_ephemeral_);
}

bool handshake_state::my_turn() const {
  return (next_message_ % 2 == 0) == initiator_;
}

caf::error handshake_state::mix_agreement(bool our_ephemeral, bool their_ephemeral) {
  return mix_dh(our_ephemeral ? ephemeral_.secret_key : static_.secret_key,
                their_ephemeral ? remote_ephemeral_ : remote_static_);
}

caf::error handshake_state::mix_dh(const key32& secret_key, const key32& public_key) {
  key32 shared;
  // libsodium refuses (-1) when the result is all zeros, i.e. the peer sent
  // a low-order point; such a DH would contribute no secret.
  if (crypto_scalarmult_curve25519(shared.data(), secret_key.data(), public_key.data()) != 0 ||
      sodium_is_zero(shared.data(), shared.size())) {
    wipe(shared);
    return noise_error("DH with the peer's key gave all zeros");
  }
  symmetric_.mix_key(shared);
  wipe(shared);
  return {};
}

caf::expected<std::string> handshake_state::write_message(std::string_view payload) {
  if (failed_)
    return noise_error("handshake already failed");
  if (finished())
    return noise_error("handshake is over");
  if (!my_turn())
    return noise_error("not this side's turn to write");
  if (!aesgcm_usable(suite_))
    return noise_error("AES-256-GCM is not available on this CPU");
  const auto& pattern = xx_pattern[next_message_];
  if (payload.size() + message_overhead(pattern, symmetric_.has_key()) > max_message_size)
    return noise_error("message longer than 65535 bytes");
  std::string message;
  if (auto err = process_write(next_message_, payload, message)) {
    fail();
    return err;
  }
  if (++next_message_ == message_count)
    finish();
  return message;
}

caf::error handshake_state::process_write(int index, std::string_view payload, std::string& out) {
  const auto& pattern = xx_pattern[index];
  for (size_t i = 0; i < pattern.size; ++i) {
    caf::error err;
    switch (pattern.tokens[i]) {
    case token::e:
      out.append(view(ephemeral_.public_key));
      symmetric_.mix_hash(view(ephemeral_.public_key));
      break;
    case token::s:
      err = symmetric_.encrypt_and_hash(view(static_.public_key), out);
      break;
    case token::ee:
      err = mix_agreement(true, true);
      break;
    case token::es: // the initiator's e with the responder's s
      err = mix_agreement(initiator_, !initiator_);
      break;
    case token::se: // the initiator's s with the responder's e
      err = mix_agreement(!initiator_, initiator_);
      break;
    }
    if (err)
      return err;
  }
  return symmetric_.encrypt_and_hash(payload, out);
}

caf::expected<std::string> handshake_state::read_message(std::string_view message) {
  if (failed_)
    return noise_error("handshake already failed");
  if (finished())
    return noise_error("handshake is over");
  if (my_turn())
    return noise_error("not this side's turn to read");
  if (!aesgcm_usable(suite_))
    return noise_error("AES-256-GCM is not available on this CPU");
  std::string payload;
  if (auto err = process_read(next_message_, message, payload)) {
    fail();
    return err;
  }
  if (++next_message_ == message_count)
    finish();
  return payload;
}

caf::error handshake_state::process_read(int index, std::string_view message,
                                         std::string& payload) {
  if (message.size() > max_message_size)
    return noise_error("message longer than 65535 bytes");
  const auto& pattern = xx_pattern[index];
  auto take = [&message](size_t size, key32* key, std::string_view* part) {
    if (message.size() < size)
      return false;
    if (key)
      std::copy(message.begin(), message.begin() + size, key->begin());
    if (part)
      *part = message.substr(0, size);
    message.remove_prefix(size);
    return true;
  };
  for (size_t i = 0; i < pattern.size; ++i) {
    caf::error err;
    switch (pattern.tokens[i]) {
    case token::e:
      if (!take(key_size, &remote_ephemeral_, nullptr))
        return noise_error("message truncated in the ephemeral key");
      symmetric_.mix_hash(view(remote_ephemeral_));
      break;
    case token::s: {
      std::string_view sealed;
      if (!take(key_size + (symmetric_.has_key() ? tag_size : 0), nullptr, &sealed))
        return noise_error("message truncated in the static key");
      std::string opened;
      err = symmetric_.decrypt_and_hash(sealed, opened);
      if (!err)
        std::copy(opened.begin(), opened.end(), remote_static_.begin());
      sodium_memzero(opened.data(), opened.size());
      break;
    }
    case token::ee:
      err = mix_agreement(true, true);
      break;
    case token::es: // the initiator's e with the responder's s
      err = mix_agreement(initiator_, !initiator_);
      break;
    case token::se: // the initiator's s with the responder's e
      err = mix_agreement(!initiator_, initiator_);
      break;
    }
    if (err)
      return err;
  }
  if (symmetric_.has_key() && message.size() < tag_size)
    return noise_error("message truncated in the payload");
  return symmetric_.decrypt_and_hash(message, payload);
}

void handshake_state::finish() {
  transport_ = symmetric_.split();
  // Forward secrecy: once the transport keys exist, nothing that could
  // recompute them may outlive the handshake.
  symmetric_.wipe_keys();
  wipe(ephemeral_.secret_key);
  wipe(static_.secret_key);
}

void handshake_state::fail() {
  failed_ = true;
  symmetric_.wipe_keys();
  wipe(ephemeral_.secret_key);
  wipe(static_.secret_key);
}

std::pair<cipher_state, cipher_state> handshake_state::split() const {
  if (!finished())
    throw std::logic_error("noise: split() before the handshake finished");
  return transport_;
}

} // namespace ttt::wire::noise
