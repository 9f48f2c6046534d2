#pragma once
// One connection of ttt's wire protocol as a pure state machine: bytes in,
// frames and bytes out, no socket, no clock, no actor. docs/PROTOCOL.md is
// its specification; in short:
//
//   initiator -> responder  preamble I (24 bytes: magic, version, cipher
//                           suites offered, run tag), Noise XX message 1
//   responder -> initiator  preamble R (8 bytes: magic, version, chosen
//                           suite, status), Noise XX message 2 + payload
//   initiator -> responder  Noise XX message 3 + payload
//   both ways               records (u16 length + AEAD ciphertext) whose
//                           plaintext carries frames (u32 body length, u8
//                           kind, u64 request id, body)
//
// What it guarantees: nothing but the two preambles and the handshake
// messages is read before the peer proved its identity; every byte after
// the handshake is authenticated before it is parsed; no buffer grows past
// one handshake message, one record and one frame of at most
// max_frame_body bytes, and a frame's length is checked before any byte of
// its body is held.
//
// With the run's admission policy (actors/wire/admission.hpp), a peer
// whose proven key has no valid certificate in a closed run is refused once
// the handshake is done: it gets a close frame saying why, and no frame of
// it is ever returned.

#include "actors/common/identity.hpp"
#include "actors/common/node_id.hpp"
#include "actors/wire/admission.hpp"
#include "actors/wire/noise.hpp"

#include <caf/error.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ttt::wire {

constexpr uint8_t protocol_version = 1;
/// Largest frame body: an averaging part or state chunk (512 KiB) with room
/// for its envelope, and the largest DHT message.
constexpr size_t max_frame_body = size_t{1} << 20;
constexpr size_t frame_header_size = 13;
constexpr size_t initiator_preamble_size = 24;
constexpr size_t responder_preamble_size = 8;
/// Longest Noise handshake message accepted (ours are under 200 bytes).
constexpr size_t max_handshake_message = 1024;
/// Longest reason text of a close frame.
constexpr size_t max_close_text = 256;

/// The closed set of frame kinds (schema/wire.capnp FrameKind).
enum class frame_kind : uint8_t {
  dht_request = 1,
  dht_response = 2,
  averaging = 3,
  close = 4,
  data_request = 5,
  data_response = 6,
};

/// Why a responder refused in its preamble (0: it did not).
enum class refusal : uint8_t { none = 0, version = 1, run = 2, cipher = 3, busy = 4 };

struct frame {
  frame_kind kind = frame_kind::averaging;
  uint64_t request_id = 0;
  std::string body;
};

/// What a peer proves itself with: its Noise static keys (its Ed25519 key
/// converted) and its signed handshake payload. The same for every session
/// of one identity, so a node computes them once (`of`).
struct credentials {
  noise::keypair static_keys;
  std::string payload; ///< HandshakePayload bytes
  /// `certificate`: this identity's SignedCertificate bytes, shown to every
  /// peer (empty: none).
  static std::shared_ptr<const credentials> of(const identity& self, std::string_view certificate = {});
};

struct session_settings {
  /// This peer's identity; must outlive the session.
  const identity* self = nullptr;
  /// Its credentials; computed from `self` and `certificate` when not given.
  std::shared_ptr<const credentials> own;
  /// Its certificate of the run (SignedCertificate bytes; empty: none),
  /// used only when `own` is not given.
  std::string certificate;
  /// The run's admission, applied to the peer once it proved its identity:
  /// a refusal closes the session (after telling the peer why in a close
  /// frame). Null admits every authenticated peer of the run.
  std::shared_ptr<const admission_policy> admission;
  /// Unix seconds when the session starts: the peer's certificate is
  /// checked against it (the handshake is bounded to seconds).
  double now = 0;
  std::string run_id;
  /// Initiator: the peer id the responder must prove; empty trusts any.
  std::optional<node_id> expected_peer;
  /// Suites offered (initiator) or accepted (responder), as a bit mask of
  /// 1 << noise::cipher_suite; the default is every suite this CPU runs.
  uint8_t cipher_suites = 0;
  /// Responder: refuse with this status after reading the preamble.
  refusal refuse = refusal::none;
};

/// The 16-byte tag of a run id that the initiator's preamble carries
/// (BLAKE2b-128 of "ttt-run:" + run id): a peer of another run is refused
/// with a clear error before any handshake work.
std::string run_tag(std::string_view run_id);

class session {
public:
  enum class phase { handshake, established, closed };

  /// An initiator; output() already holds its preamble and message 1.
  static session initiator(const session_settings& settings);
  static session responder(const session_settings& settings);

  session(session&&) noexcept;
  session& operator=(session&&) noexcept;
  ~session();

  /// Feeds bytes read from the connection; frames decoded from them are
  /// appended to `frames`. An error closes the session: write what output()
  /// holds (a refusal or a close frame), then close the connection.
  caf::error consume(std::string_view bytes, std::vector<frame>& frames);

  /// Encrypts one frame into output(); an error if the session is not
  /// established or the body exceeds max_frame_body.
  caf::error send(frame_kind kind, uint64_t request_id, std::string_view body);

  /// Queues a close frame saying `why` (established sessions) and closes.
  void close(std::string_view why);

  /// Bytes to write to the connection; the caller takes them.
  std::string& output() { return out_; }

  phase state() const { return phase_; }
  bool established() const { return phase_ == phase::established; }
  bool initiator() const;
  /// The proven peer (once established).
  const node_id& peer_id() const { return peer_id_; }
  /// Its Ed25519 public key (once established).
  const std::string& peer_public_key() const { return peer_key_; }
  /// The certificate the peer proved (once established, with an admission
  /// policy, when it showed a valid one): its name is the peer's.
  const std::optional<certificate>& peer_certificate() const { return peer_certificate_; }
  noise::cipher_suite suite() const { return suite_; }
  /// Bytes held for partial input (a bound tests check).
  size_t buffered() const;

private:
  struct handshake;
  session() = default;
  /// What both sides share before their first byte.
  static session start(const session_settings& settings, bool initiator);

  static std::string describe_error(const caf::error& err);
  caf::error fail(std::string why);
  caf::error consume_handshake();
  caf::error consume_records(std::string_view data, size_t& used, std::vector<frame>& frames);
  caf::error parse_frames(std::vector<frame>& frames);
  caf::error finish_handshake(std::string_view payload);
  /// Why the run's admission refuses the proven peer; nullopt admits it.
  std::optional<std::string> admission_refusal();
  /// Completes the handshake only to tell the peer why it is refused.
  caf::error refuse_established(const std::string& why);
  void write_handshake_message(const std::string& message);

  session_settings settings_;
  phase phase_ = phase::handshake;
  std::unique_ptr<handshake> hs_;
  noise::cipher_state send_;
  noise::cipher_state recv_;
  noise::cipher_suite suite_ = noise::cipher_suite::chachapoly;
  std::string in_;     ///< unparsed bytes from the connection
  std::string plain_;  ///< decrypted bytes not yet parsed into frames
  std::optional<frame> pending_; ///< a frame whose header is in and whose body is not (in plain_)
  size_t pending_length_ = 0;
  std::string out_;
  node_id peer_id_;
  std::string peer_key_;
  std::optional<certificate> peer_certificate_;
};

} // namespace ttt::wire
