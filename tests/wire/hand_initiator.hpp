#pragma once
// An initiator of ttt's wire written out by hand from docs/PROTOCOL.md, so
// that a test can put anything in its handshake payload or its records, as
// an attacker with a valid identity would.

#include "actors/common/capnp_io.hpp"
#include "actors/common/identity.hpp"
#include "actors/wire/noise.hpp"
#include "actors/wire/session.hpp"
#include "schema/wire.capnp.h"

#include <boost/test/unit_test.hpp>

#include <cstring>
#include <memory>
#include <string>

namespace ttt::test {

using wire::protocol_version;
using wire::responder_preamble_size;
using wire::run_tag;
namespace noise = wire::noise;

/// Speaks the handshake and the record layer; the caller moves the bytes.
struct hand_initiator {
  noise::keypair static_keys;
  noise::keypair ephemeral = noise::keypair::generate();
  std::string preamble_i;
  std::unique_ptr<noise::handshake_state> hs;
  noise::cipher_state send;
  noise::cipher_state recv;

  hand_initiator(const identity& self, const std::string& run, uint8_t version = protocol_version) {
    auto secret = self.x25519_secret_key();
    noise::key32 k{};
    std::memcpy(k.data(), secret.data(), 32);
    static_keys = noise::keypair::from_secret(k);
    preamble_i = std::string("TTTW") + static_cast<char>(version) +
                 static_cast<char>(1u << static_cast<uint8_t>(noise::cipher_suite::chachapoly)) +
                 std::string(2, '\0') + run_tag(run);
  }

  static std::string framed(const std::string& message) {
    std::string out;
    out.push_back(static_cast<char>(message.size() >> 8));
    out.push_back(static_cast<char>(message.size() & 0xff));
    return out + message;
  }

  /// Preamble I and message 1.
  std::string hello() const {
    return preamble_i + framed(std::string(reinterpret_cast<const char*>(ephemeral.public_key.data()), 32));
  }

  /// Reads R and message 2 from the responder's output; then message 3
  /// carrying `payload`.
  std::string answer(const std::string& from_responder, const std::string& payload) {
    auto preamble_r = from_responder.substr(0, responder_preamble_size);
    BOOST_REQUIRE_EQUAL(static_cast<int>(preamble_r[6]), 0);
    hs = std::make_unique<noise::handshake_state>(noise::cipher_suite::chachapoly, true,
                                                  "ttt-wire/1\n" + preamble_i + preamble_r, static_keys,
                                                  ephemeral);
    BOOST_REQUIRE(hs->write_message(""));
    auto m2 = from_responder.substr(responder_preamble_size + 2);
    BOOST_REQUIRE(hs->read_message(m2));
    auto m3 = hs->write_message(payload);
    BOOST_REQUIRE(m3);
    auto [i2r, r2i] = hs->split();
    send = i2r;
    recv = r2i;
    return framed(*m3);
  }

  /// One record whose plaintext is `plaintext`.
  std::string record(const std::string& plaintext) {
    std::string ct;
    BOOST_REQUIRE(!send.encrypt_with_ad("", plaintext, ct));
    return framed(ct);
  }

  /// A frame header: body length, kind, request id.
  static std::string header(uint32_t length, uint8_t kind, uint64_t id = 0) {
    std::string h;
    for (int i = 3; i >= 0; --i)
      h.push_back(static_cast<char>(length >> (8 * i)));
    h.push_back(static_cast<char>(kind));
    for (int i = 7; i >= 0; --i)
      h.push_back(static_cast<char>(id >> (8 * i)));
    return h;
  }
};

std::string payload(const identity& who, const std::string& static_public, const identity& signer) {
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<schema::HandshakePayload>();
  root.setIdentityKey(capnp_io::as_data(who.public_key()));
  root.setSignature(capnp_io::as_data(signer.sign("ttt-wire-static-key:" + static_public)));
  return capnp_io::to_bytes(message);
}

std::string public_of(const noise::keypair& k) {
  return std::string(reinterpret_cast<const char*>(k.public_key.data()), 32);
}

} // namespace ttt::test
