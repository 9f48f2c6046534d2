@0xc7d5a1f3e2b49a60;
# ttt's wire protocol (docs/PROTOCOL.md): what two peers exchange inside the
# Noise XX handshake, and the closed set of frame kinds after it. The
# preambles, the handshake messages and the frame headers are fixed-size
# binary fields written down in docs/PROTOCOL.md; only the handshake payload
# is a Cap'n Proto struct, so that later versions can add fields to it.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ttt::schema");

struct HandshakePayload {
  # Carried encrypted in Noise message 2 (responder) and message 3
  # (initiator). Proves which Ed25519 identity stands behind the Noise static
  # key: the static key must be the identity key converted to X25519, and the
  # signature must verify.
  identityKey @0 :Data;  # the peer's Ed25519 public key (32 bytes); its peer id is BLAKE2b-160 of it
  signature @1 :Data;    # Ed25519 signature (64 bytes) of "ttt-wire-static-key:" followed by the Noise static public key
  certificate @2 :Data;  # optional: a schema/admission.capnp SignedCertificate for identityKey; empty when the sender has none.
                         # A node of a closed run refuses a peer without a valid, unexpired, unrevoked one.
}

enum FrameKind {
  # Every frame after the handshake names one of these; any other value is
  # a protocol error that closes the connection.
  invalid @0;        # never sent
  dhtRequest @1;     # body: schema/dht.capnp DhtRequest; the request id names the call
  dhtResponse @2;    # body: schema/dht.capnp DhtResponse; the request id of the call it answers
  averaging @3;      # body: schema/averaging.capnp AveragingMessage (parts, results, hellos, state requests and chunks); request id 0
  close @4;          # body: UTF-8 text (at most 256 bytes) saying why the sender closes; then the connection ends
  dataRequest @5;    # body: schema/transfer.capnp DataRequest; the request id names the call
  dataResponse @6;   # body: schema/transfer.capnp DataResponse; the request id of the call it answers
}
