#pragma once
// The Noise Protocol Framework's XX handshake (revision 34,
// noiseprotocol.org/noise.html) on libsodium, as a pure library: no sockets,
// no actors, no clock. The caller moves the bytes; this code only turns
// payloads into Noise messages and back.
//
//   XX:
//     -> e
//     <- e, ee, s, es
//     -> s, se
//
// Protocols: Noise_XX_25519_ChaChaPoly_SHA256 and Noise_XX_25519_AESGCM_SHA256
// (the latter only where the CPU runs AES-256-GCM in libsodium).
//
// What the handshake guarantees once both sides finished (spec section 7.7):
// each side knows the other's static public key, and the peer proved it holds
// the matching secret key; the transport keys are forward secret (they depend
// on ephemeral keys that are wiped when the handshake ends); the handshake
// hash binds the whole transcript, the prologue included, so two parties that
// disagree on the prologue or saw a tampered message cannot finish. The
// responder learns nothing of the initiator's identity before message 3, and
// the initiator's identity is hidden from passive observers.
//
// What it does not do: decide whether a remote static key is acceptable (the
// caller checks remote_static() against what it expects), frame messages on
// a stream (each message is at most max_message_size bytes; the caller adds
// a length prefix), or reorder transport messages (nonces are implicit, so
// transport messages must arrive in order, each exactly once).

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace ttt::wire::noise {

/// The AEAD cipher of a protocol; DH is always X25519, the hash SHA-256.
enum class cipher_suite : uint8_t { chachapoly = 1, aesgcm = 2 };

/// True when this CPU can run AES-256-GCM in libsodium.
bool aesgcm_available();

/// "Noise_XX_25519_ChaChaPoly_SHA256" or "Noise_XX_25519_AESGCM_SHA256".
std::string protocol_name(cipher_suite suite);

/// DHLEN and HASHLEN: X25519 keys and SHA-256 digests are both 32 bytes.
constexpr size_t key_size = 32;
/// The AEAD tag appended to every ciphertext.
constexpr size_t tag_size = 16;
/// The largest Noise message, handshake or transport (spec section 3).
constexpr size_t max_message_size = 65535;

/// A 32-byte key or hash.
using key32 = std::array<uint8_t, 32>;

/// An X25519 key pair. The secret key is wiped when the pair is destroyed.
struct keypair {
  key32 public_key{};
  key32 secret_key{};

  /// A fresh random key pair.
  static keypair generate();
  /// The pair whose secret key is `secret` (public = X25519 base point mult).
  static keypair from_secret(const key32& secret);

  ~keypair();
};

/// Noise's CipherState (k, n): an AEAD key and the nonce of the next message.
/// Copying copies the key; every copy wipes its own key when destroyed.
class cipher_state {
public:
  /// A state without a key: encryption passes plaintext through.
  cipher_state() = default;
  /// InitializeKey(k) for `suite`; the nonce starts at 0.
  cipher_state(cipher_suite suite, const key32& k);
  cipher_state(const cipher_state&) = default;
  cipher_state(cipher_state&&) = default;
  cipher_state& operator=(const cipher_state&) = default;
  cipher_state& operator=(cipher_state&&) = default;
  ~cipher_state();

  /// Whether k is set.
  bool has_key() const { return has_key_; }
  /// n: the nonce the next encryption or decryption uses.
  uint64_t nonce() const { return nonce_; }
  /// SetNonce(n).
  void set_nonce(uint64_t n) { nonce_ = n; }

  /// Appends ENCRYPT(k, n++, ad, plaintext) (plaintext size + 16) to `out`;
  /// without a key appends the plaintext. An error, and nothing appended, when
  /// the nonce is exhausted (n = 2^64-1 is reserved) or the result would be
  /// longer than max_message_size. `plaintext` must not point into `out`.
  caf::error encrypt_with_ad(std::string_view ad, std::string_view plaintext, std::string& out);

  /// Appends the plaintext to `out`; without a key appends the ciphertext. An
  /// error, with `out` and n unchanged, when authentication fails, the nonce
  /// is exhausted, or the ciphertext is shorter than a tag or longer than
  /// max_message_size. `ciphertext` must not point into `out`.
  caf::error decrypt_with_ad(std::string_view ad, std::string_view ciphertext, std::string& out);

private:
  cipher_suite suite_ = cipher_suite::chachapoly;
  key32 key_{};
  bool has_key_ = false;
  uint64_t nonce_ = 0;
};

namespace detail {

/// Noise's SymmetricState (ck, h, and a CipherState), exposed only because
/// handshake_state holds one; use handshake_state.
class symmetric_state {
public:
  /// InitializeSymmetric(protocol_name(suite)).
  explicit symmetric_state(cipher_suite suite);
  ~symmetric_state();
  symmetric_state(const symmetric_state&) = default;
  symmetric_state& operator=(const symmetric_state&) = default;

  /// MixKey(ikm): ck, temp_k = HKDF(ck, ikm, 2); InitializeKey(temp_k).
  void mix_key(const key32& input_key_material);
  /// MixHash(data): h = HASH(h || data).
  void mix_hash(std::string_view data);
  /// Appends EncryptWithAd(h, plaintext) to `out`, then mixes it into h.
  caf::error encrypt_and_hash(std::string_view plaintext, std::string& out);
  /// Appends DecryptWithAd(h, ciphertext) to `out`, then mixes the
  /// ciphertext into h.
  caf::error decrypt_and_hash(std::string_view ciphertext, std::string& out);
  /// Split(): the (initiator-to-responder, responder-to-initiator) states.
  std::pair<cipher_state, cipher_state> split() const;
  /// Whether the cipher state has a key (a DH has been mixed in).
  bool has_key() const { return cipher_.has_key(); }
  /// h.
  const key32& handshake_hash() const { return h_; }
  /// Wipes ck and k; h stays as the channel binding value.
  void wipe_keys();

private:
  cipher_suite suite_;
  key32 ck_{};
  key32 h_{};
  cipher_state cipher_;
};

} // namespace detail

/// Noise's HandshakeState for XX:  -> e ; <- e, ee, s, es ; -> s, se.
/// Used by both sides. A read that fails because the peer's message is
/// malformed, truncated or unauthenticated (or a DH with the peer's key gives
/// all zeros) ends the handshake: every later call returns an error. Calls
/// out of turn return an error and change nothing.
class handshake_state {
public:
  /// Initialize(XX, initiator, prologue, s, e, rs = empty, re = empty).
  /// `ephemeral` is for test vectors only; normally a fresh key pair is
  /// generated.
  handshake_state(cipher_suite suite, bool initiator, std::string_view prologue,
                  const keypair& static_keys, std::optional<keypair> ephemeral = std::nullopt);
  ~handshake_state();
  /// Copies fork the handshake, ephemeral key included: for tests that try
  /// several continuations of one transcript, never for two real sessions.
  handshake_state(const handshake_state&) = default;
  handshake_state& operator=(const handshake_state&) = default;

  /// The next handshake message carrying `payload`; an error if it is not
  /// this side's turn, the handshake is over or failed, or the message would
  /// be longer than max_message_size.
  caf::expected<std::string> write_message(std::string_view payload);

  /// The payload of the peer's next handshake message; an error for a
  /// malformed, truncated, too long or unauthenticated message, or out of turn.
  caf::expected<std::string> read_message(std::string_view message);

  /// All three messages done; split() is available.
  bool finished() const { return next_message_ == message_count; }
  /// A read or write failed; the handshake cannot continue.
  bool failed() const { return failed_; }
  bool is_initiator() const { return initiator_; }
  /// rs: the peer's static public key; all zeros until received (message 2
  /// for the initiator, message 3 for the responder).
  const key32& remote_static() const { return remote_static_; }
  /// e.public_key.
  const key32& local_ephemeral_public() const { return ephemeral_.public_key; }
  /// h: the handshake hash so far (after finished(): the channel binding
  /// value, equal on both sides).
  const key32& handshake_hash() const { return symmetric_.handshake_hash(); }
  /// After finished(): (initiator-to-responder, responder-to-initiator) cipher
  /// states, as Split(). Calling it earlier is a bug (std::logic_error):
  /// keyless states would pass plaintext through.
  std::pair<cipher_state, cipher_state> split() const;

private:
  static constexpr int message_count = 3;

  bool my_turn() const;
  caf::error mix_dh(const key32& secret_key, const key32& public_key);
  /// MixKey(DH(ours, theirs)), each either the ephemeral or the static key.
  caf::error mix_agreement(bool our_ephemeral, bool their_ephemeral);
  caf::error process_write(int index, std::string_view payload, std::string& out);
  caf::error process_read(int index, std::string_view message, std::string& payload);
  void finish();
  void fail();

  cipher_suite suite_;
  bool initiator_;
  detail::symmetric_state symmetric_;
  keypair static_;
  keypair ephemeral_;
  key32 remote_static_{};
  key32 remote_ephemeral_{};
  int next_message_ = 0;
  bool failed_ = false;
  std::pair<cipher_state, cipher_state> transport_;
};

} // namespace ttt::wire::noise
