#include "actors/wire/session.hpp"

#include "actors/common/capnp_io.hpp"
#include "schema/wire.capnp.h"

#include <caf/sec.hpp>
#include <sodium.h>

#include <algorithm>
#include <cstring>

namespace ttt::wire {

namespace {

constexpr char magic[4] = {'T', 'T', 'T', 'W'};
constexpr std::string_view prologue_label = "ttt-wire/1\n";
constexpr std::string_view static_key_label = "ttt-wire-static-key:";
/// A payload with a certificate (at most max_certificate_bytes) still fits
/// a handshake message of max_handshake_message bytes: message 2 adds 96
/// bytes to it (ephemeral key, encrypted static key, tag).
constexpr size_t max_payload_bytes = 896;
static_assert(max_payload_bytes + 96 <= max_handshake_message);
static_assert(max_certificate_bytes + 256 <= max_payload_bytes);
constexpr size_t max_record_plaintext = noise::max_message_size - noise::tag_size;

caf::error wire_error(std::string what) {
  return caf::make_error(caf::sec::invalid_argument, "wire: " + std::move(what));
}

uint8_t bit(noise::cipher_suite s) {
  return static_cast<uint8_t>(1u << static_cast<uint8_t>(s));
}

uint8_t available_suites() {
  uint8_t mask = bit(noise::cipher_suite::chachapoly);
  if (noise::aesgcm_available())
    mask |= bit(noise::cipher_suite::aesgcm);
  return mask;
}

void put_u16(std::string& out, size_t v) {
  out.push_back(static_cast<char>((v >> 8) & 0xff));
  out.push_back(static_cast<char>(v & 0xff));
}

uint64_t get_be(std::string_view bytes, size_t offset, size_t width) {
  uint64_t v = 0;
  for (size_t i = 0; i < width; ++i)
    v = (v << 8) | static_cast<uint8_t>(bytes[offset + i]);
  return v;
}

void put_be(std::string& out, uint64_t v, size_t width) {
  for (size_t i = width; i-- > 0;)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::string_view as_view(const noise::key32& k) {
  return std::string_view(reinterpret_cast<const char*>(k.data()), k.size());
}

/// Printable text of a peer's close reason (never trusted as anything else).
std::string printable(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, max_close_text))
    out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  return out;
}

const char* refusal_text(refusal r) {
  switch (r) {
    case refusal::version:
      return "the peer speaks another version of the wire protocol";
    case refusal::run:
      return "the peer belongs to another run";
    case refusal::cipher:
      return "the peer shares no cipher suite with this one";
    case refusal::busy:
      return "the peer is at its connection limit";
    case refusal::none:
      break;
  }
  return "the peer refused";
}

/// Reads one u16-length-prefixed handshake message from `in` at `pos`:
/// 1 and `msg` set when whole, 0 when more bytes are needed, -1 when its
/// length exceeds the limit.
int take_handshake_message(const std::string& in, size_t& pos, std::string_view& msg) {
  if (in.size() - pos < 2)
    return 0;
  size_t length = get_be(in, pos, 2);
  if (length > max_handshake_message)
    return -1;
  if (in.size() - pos < 2 + length)
    return 0;
  msg = std::string_view(in).substr(pos + 2, length);
  pos += 2 + length;
  return 1;
}

} // namespace

std::string run_tag(std::string_view run_id) {
  init_crypto();
  std::string input = "ttt-run:" + std::string(run_id);
  std::string out(16, '\0');
  crypto_generichash(reinterpret_cast<unsigned char*>(out.data()), out.size(),
                     reinterpret_cast<const unsigned char*>(input.data()), input.size(), nullptr, 0);
  return out;
}

// -- the handshake -------------------------------------------------------------

struct session::handshake {
  enum class step { await_preamble, await_message_1, await_message_2, await_message_3 };
  bool initiator = false;
  step next = step::await_preamble;
  std::string preamble_i;
  std::string preamble_r;
  std::shared_ptr<const credentials> own;
  noise::keypair ephemeral;
  std::unique_ptr<noise::handshake_state> state;
  std::string peer_certificate; ///< what the peer's payload showed (not yet checked)

  std::string prologue() const {
    return std::string(prologue_label) + preamble_i + preamble_r;
  }
};

session::session(session&&) noexcept = default;
session& session::operator=(session&&) noexcept = default;
session::~session() = default;

bool session::initiator() const {
  return hs_ ? hs_->initiator : false;
}

size_t session::buffered() const {
  return in_.size() + plain_.size() + (pending_ ? frame_header_size : 0);
}

namespace {

std::shared_ptr<const credentials> credentials_for(const session_settings& settings) {
  return settings.own ? settings.own : credentials::of(*settings.self, settings.certificate);
}

} // namespace

session session::start(const session_settings& settings, bool initiator) {
  init_crypto();
  session s;
  s.settings_ = settings;
  if (s.settings_.cipher_suites == 0)
    s.settings_.cipher_suites = available_suites();
  s.hs_ = std::make_unique<handshake>();
  s.hs_->initiator = initiator;
  s.hs_->own = credentials_for(settings);
  s.hs_->next = handshake::step::await_preamble;
  return s;
}

session session::initiator(const session_settings& settings) {
  auto s = start(settings, true);
  auto& hs = *s.hs_;
  hs.ephemeral = noise::keypair::generate();
  hs.preamble_i.assign(magic, sizeof(magic));
  hs.preamble_i.push_back(static_cast<char>(protocol_version));
  hs.preamble_i.push_back(static_cast<char>(s.settings_.cipher_suites));
  hs.preamble_i.append(2, '\0');
  hs.preamble_i += run_tag(settings.run_id);
  // Message 1 of XX is the ephemeral key and an empty payload in the clear:
  // the same bytes whatever suite the responder picks, so it goes out with
  // the preamble and the handshake costs no extra round trip.
  s.out_ = hs.preamble_i;
  s.write_handshake_message(std::string(as_view(hs.ephemeral.public_key)));
  return s;
}

session session::responder(const session_settings& settings) {
  return start(settings, false);
}

void session::write_handshake_message(const std::string& message) {
  put_u16(out_, message.size());
  out_ += message;
}

caf::error session::fail(std::string why) {
  phase_ = phase::closed;
  hs_.reset();
  in_.clear();
  plain_.clear();
  pending_.reset();
  return wire_error(std::move(why));
}

std::shared_ptr<const credentials> credentials::of(const identity& self, std::string_view certificate) {
  init_crypto();
  auto out = std::make_shared<credentials>();
  auto secret = self.x25519_secret_key();
  noise::key32 k{};
  std::memcpy(k.data(), secret.data(), k.size());
  sodium_memzero(secret.data(), secret.size());
  out->static_keys = noise::keypair::from_secret(k);
  sodium_memzero(k.data(), k.size());
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<schema::HandshakePayload>();
  root.setIdentityKey(capnp_io::as_data(self.public_key()));
  auto signed_text = std::string(static_key_label) + std::string(as_view(out->static_keys.public_key));
  root.setSignature(capnp_io::as_data(self.sign(signed_text)));
  if (!certificate.empty())
    root.setCertificate(capnp_io::as_data(certificate));
  out->payload = capnp_io::to_bytes(message);
  return out;
}

caf::error session::finish_handshake(std::string_view payload) {
  auto remote_static = as_view(hs_->state->remote_static());
  auto key = capnp_io::read<schema::HandshakePayload>(
    payload, max_payload_bytes, "handshake payload",
    [&](schema::HandshakePayload::Reader r) -> caf::expected<std::string> {
      auto identity_key = capnp_io::as_view(r.getIdentityKey());
      auto signature = capnp_io::as_view(r.getSignature());
      if (identity_key.size() != public_key_size || signature.size() != signature_size)
        return wire_error("handshake payload: identity key or signature of the wrong size");
      if (x25519_public_key_of(identity_key) != remote_static)
        return wire_error("handshake: the Noise static key is not the peer's identity key");
      if (!verify_signature(identity_key, std::string(static_key_label) + std::string(remote_static),
                            signature))
        return wire_error("handshake: the identity signature does not verify");
      hs_->peer_certificate = std::string(capnp_io::as_view(r.getCertificate()));
      return std::string(identity_key);
    });
  if (!key)
    return fail(describe_error(key.error()));
  if (*key == settings_.self->public_key())
    return fail("handshake: the peer is this node itself");
  auto id = peer_id_of(*key);
  if (settings_.expected_peer && id != *settings_.expected_peer)
    return fail("handshake: the peer proved id " + id.to_hex() + ", not the expected " +
                settings_.expected_peer->to_hex());
  peer_key_ = std::move(*key);
  peer_id_ = id;
  return {};
}

std::optional<std::string> session::admission_refusal() {
  if (!settings_.admission)
    return std::nullopt;
  auto verdict = settings_.admission->admit(peer_key_, hs_->peer_certificate, settings_.now);
  if (!verdict)
    return describe_error(verdict.error());
  peer_certificate_ = std::move(*verdict);
  return std::nullopt;
}

caf::error session::refuse_established(const std::string& why) {
  // The handshake is complete, so the refusal travels encrypted to the peer
  // it is about: a refused volunteer learns why instead of a bare close.
  close("refused: " + why);
  return fail("refused peer " + peer_id_.to_hex().substr(0, 12) + ": " + why);
}

std::string session::describe_error(const caf::error& err) {
  const auto& ctx = err.context();
  if (ctx.size() == 1 && ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  return caf::to_string(err);
}

caf::error session::consume_handshake() {
  auto& hs = *hs_;
  size_t pos = 0;
  auto done_with = [&]() { in_.erase(0, pos); };
  for (;;) {
    switch (hs.next) {
      case handshake::step::await_preamble: {
        size_t need = hs.initiator ? responder_preamble_size : initiator_preamble_size;
        if (in_.size() - pos < need)
          return done_with(), caf::error{};
        std::string_view p = std::string_view(in_).substr(pos, need);
        if (std::memcmp(p.data(), magic, sizeof(magic)) != 0)
          return fail("the peer does not speak ttt's wire protocol (bad magic)");
        if (hs.initiator) {
          hs.preamble_r = std::string(p);
          pos += need;
          auto version = static_cast<uint8_t>(p[4]);
          auto chosen = static_cast<uint8_t>(p[5]);
          auto status = static_cast<refusal>(p[6]);
          if (status != refusal::none)
            return fail(std::string("refused: ") + refusal_text(status));
          if (version != protocol_version)
            return fail("the peer answered with protocol version " + std::to_string(version));
          if (chosen > 7 || !(settings_.cipher_suites & (1u << chosen)))
            return fail("the peer chose a cipher suite this side did not offer");
          suite_ = static_cast<noise::cipher_suite>(chosen);
          hs.state = std::make_unique<noise::handshake_state>(suite_, true, hs.prologue(),
                                                               hs.own->static_keys, hs.ephemeral);
          auto m1 = hs.state->write_message("");
          if (!m1 || *m1 != as_view(hs.ephemeral.public_key))
            return fail("internal: message 1 does not replay");
          hs.next = handshake::step::await_message_2;
          continue;
        }
        hs.preamble_i = std::string(p);
        pos += need;
        auto version = static_cast<uint8_t>(p[4]);
        auto offered = static_cast<uint8_t>(p[5]) & settings_.cipher_suites;
        refusal status = settings_.refuse;
        if (status == refusal::none && version != protocol_version)
          status = refusal::version;
        if (status == refusal::none && p.substr(8, 16) != run_tag(settings_.run_id))
          status = refusal::run;
        if (status == refusal::none && offered == 0)
          status = refusal::cipher;
        suite_ = (offered & bit(noise::cipher_suite::aesgcm)) ? noise::cipher_suite::aesgcm
                                                              : noise::cipher_suite::chachapoly;
        hs.preamble_r.assign(magic, sizeof(magic));
        hs.preamble_r.push_back(static_cast<char>(protocol_version));
        hs.preamble_r.push_back(static_cast<char>(status == refusal::none ? static_cast<uint8_t>(suite_) : 0));
        hs.preamble_r.push_back(static_cast<char>(status));
        hs.preamble_r.push_back('\0');
        out_ += hs.preamble_r;
        if (status != refusal::none)
          return fail(std::string("refused a peer: ") + refusal_text(status));
        hs.state = std::make_unique<noise::handshake_state>(suite_, false, hs.prologue(), hs.own->static_keys);
        hs.next = handshake::step::await_message_1;
        continue;
      }
      case handshake::step::await_message_1: {
        std::string_view msg;
        int got = take_handshake_message(in_, pos, msg);
        if (got < 0)
          return fail("handshake message 1 exceeds its limit");
        if (got == 0)
          return done_with(), caf::error{};
        if (msg.size() != noise::key_size)
          return fail("handshake message 1 must be 32 bytes");
        if (auto payload = hs.state->read_message(msg); !payload)
          return fail("handshake message 1: " + describe_error(payload.error()));
        auto m2 = hs.state->write_message(hs.own->payload);
        if (!m2)
          return fail("handshake message 2: " + describe_error(m2.error()));
        write_handshake_message(*m2);
        hs.next = handshake::step::await_message_3;
        continue;
      }
      case handshake::step::await_message_2:
      case handshake::step::await_message_3: {
        std::string_view msg;
        int got = take_handshake_message(in_, pos, msg);
        bool second = hs.next == handshake::step::await_message_2;
        std::string which = second ? "handshake message 2" : "handshake message 3";
        if (got < 0)
          return fail(which + " exceeds its limit");
        if (got == 0)
          return done_with(), caf::error{};
        auto payload = hs.state->read_message(msg);
        if (!payload)
          return fail(which + ": " + describe_error(payload.error()));
        if (auto err = finish_handshake(*payload))
          return err;
        // Admission comes after the identity is proven (a certificate
        // names a key) and the handshake still finishes when it refuses,
        // so that the refused peer gets the reason in a close frame.
        auto refused = admission_refusal();
        if (second) {
          auto m3 = hs.state->write_message(hs.own->payload);
          if (!m3)
            return fail("handshake message 3: " + describe_error(m3.error()));
          write_handshake_message(*m3);
        }
        if (!hs.state->finished())
          return fail("internal: the handshake did not finish");
        auto [initiator_to_responder, responder_to_initiator] = hs.state->split();
        send_ = hs.initiator ? initiator_to_responder : responder_to_initiator;
        recv_ = hs.initiator ? responder_to_initiator : initiator_to_responder;
        phase_ = phase::established;
        hs_->state.reset();
        done_with();
        if (refused)
          return refuse_established(*refused);
        return {};
      }
    }
  }
}

caf::error session::consume(std::string_view bytes, std::vector<frame>& frames) {
  if (phase_ == phase::closed)
    return wire_error("the session is closed");
  if (phase_ == phase::handshake) {
    in_.append(bytes.data(), bytes.size());
    if (auto err = consume_handshake())
      return err;
    if (phase_ != phase::established)
      return {};
    bytes = {}; // what followed the handshake is in in_ already
  }
  size_t used = 0;
  if (in_.empty()) {
    // The common case: records straight from the read, only a partial one kept.
    if (auto err = consume_records(bytes, used, frames))
      return err;
    in_.assign(bytes.data() + used, bytes.size() - used);
    return {};
  }
  in_.append(bytes.data(), bytes.size());
  if (auto err = consume_records(in_, used, frames))
    return err;
  in_.erase(0, used);
  return {};
}

caf::error session::consume_records(std::string_view data, size_t& used, std::vector<frame>& frames) {
  while (data.size() - used >= 2) {
    size_t length = get_be(data, used, 2);
    if (length < noise::tag_size)
      return fail("a record shorter than its authentication tag");
    if (data.size() - used < 2 + length)
      break;
    // Straight into the frame buffer: nothing of it is parsed unless the
    // record authenticates (on failure the session is over).
    if (auto err = recv_.decrypt_with_ad("", data.substr(used + 2, length), plain_))
      return fail("a record failed authentication");
    used += 2 + length;
    if (auto err = parse_frames(frames))
      return err;
  }
  return {};
}

caf::error session::parse_frames(std::vector<frame>& frames) {
  size_t pos = 0;
  for (;;) {
    if (pending_) {
      // plain_ holds only the pending frame's body (and what follows it).
      if (plain_.size() < pending_length_)
        break;
      frame f = std::move(*pending_);
      pending_.reset();
      if (plain_.size() == pending_length_) {
        f.body = std::move(plain_); // the common case: the body ends with the record
        plain_.clear();
      } else {
        f.body = plain_.substr(0, pending_length_);
        plain_.erase(0, pending_length_);
      }
      if (f.kind == frame_kind::close)
        return fail("the peer closed the connection: " + printable(f.body));
      frames.push_back(std::move(f));
      continue;
    }
    if (plain_.size() - pos < frame_header_size)
      break;
    size_t length = get_be(plain_, pos, 4);
    auto kind = static_cast<uint8_t>(plain_[pos + 4]);
    if (length > max_frame_body)
      return fail("a frame of " + std::to_string(length) + " bytes exceeds the " +
                  std::to_string(max_frame_body) + "-byte limit");
    if (kind < static_cast<uint8_t>(frame_kind::dht_request) ||
        kind > static_cast<uint8_t>(frame_kind::data_response))
      return fail("unknown frame kind " + std::to_string(kind));
    frame f;
    f.kind = static_cast<frame_kind>(kind);
    f.request_id = get_be(plain_, pos + 5, 8);
    if (plain_.size() - pos < frame_header_size + length) {
      // Incomplete: its header is set aside, so that the records to come
      // append to its body alone and the body is moved out, not copied.
      pending_ = std::move(f);
      pending_length_ = length;
      plain_.erase(0, pos + frame_header_size);
      plain_.reserve(length); // at most max_frame_body, from a peer that proved who it is
      pos = 0;
      continue;
    }
    f.body = plain_.substr(pos + frame_header_size, length);
    pos += frame_header_size + length;
    if (f.kind == frame_kind::close) {
      plain_.erase(0, pos);
      return fail("the peer closed the connection: " + printable(f.body));
    }
    frames.push_back(std::move(f));
  }
  plain_.erase(0, pos);
  return {};
}

caf::error session::send(frame_kind kind, uint64_t request_id, std::string_view body) {
  if (phase_ != phase::established)
    return wire_error("cannot send before the handshake is done");
  if (body.size() > max_frame_body)
    return wire_error("a frame of " + std::to_string(body.size()) + " bytes exceeds the limit");
  std::string first;
  put_be(first, body.size(), 4);
  first.push_back(static_cast<char>(kind));
  put_be(first, request_id, 8);
  size_t head = std::min(body.size(), max_record_plaintext - frame_header_size);
  first.append(body.data(), head);
  auto seal = [this](std::string_view plaintext) -> caf::error {
    size_t at = out_.size();
    put_u16(out_, 0);
    if (auto err = send_.encrypt_with_ad("", plaintext, out_))
      return err;
    size_t length = out_.size() - at - 2;
    out_[at] = static_cast<char>((length >> 8) & 0xff);
    out_[at + 1] = static_cast<char>(length & 0xff);
    return caf::error{};
  };
  if (auto err = seal(first))
    return fail("cannot encrypt: " + describe_error(err));
  for (size_t pos = head; pos < body.size(); pos += max_record_plaintext)
    if (auto err = seal(body.substr(pos, max_record_plaintext)))
      return fail("cannot encrypt: " + describe_error(err));
  return {};
}

void session::close(std::string_view why) {
  if (phase_ == phase::established)
    (void) send(frame_kind::close, 0, why.substr(0, max_close_text));
  phase_ = phase::closed;
  hs_.reset();
}

} // namespace ttt::wire
