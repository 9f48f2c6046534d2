@0xe3ef6fef7b3e5e0b;
# Run admission (docs/PROTOCOL.md, "Admission"): a run's authority key signs
# the run manifest, the volunteers' certificates and the revocations. Each
# file or DHT value is one Signed* message: the struct and an Ed25519
# signature by the authority over a per-kind label followed by the struct's
# canonical Cap'n Proto encoding, so that a signature made for one kind can
# never pass as another and the bytes signed do not depend on how a writer
# laid out its message.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ttt::schema");

enum Admission {
  open @0;    # anyone with the run id may connect; certificates only name peers
  closed @1;  # only peers with a valid, unexpired, unrevoked certificate may connect
}

struct RunManifest {
  # What a run is and who speaks for it; a node given a manifest checks its
  # run id and admits peers by it.
  runId @0 :Text;              # the run id every peer of the run uses (wire run tag, DHT keys)
  authorityKey @1 :Data;       # the authority's Ed25519 public key (32 bytes); signs everything here
  modelConfigDigest @2 :Text;  # hex BLAKE2b-256 of the model config file; empty when none was given
  initialPeers @3 :List(Text); # PEERID@HOST:PORT entry points
  admission @4 :Admission;
  createdAt @5 :Int64;         # Unix seconds
}

struct SignedRunManifest {
  manifest @0 :RunManifest;
  signature @1 :Data;          # Ed25519 (64 bytes) by manifest.authorityKey over "ttt-run-manifest/1\n" || canonical(manifest)
}

struct Certificate {
  # The authority's word that one peer key belongs to the run.
  runId @0 :Text;              # the run it admits to (at most 64 bytes, as every run id here)
  peerKey @1 :Data;            # the peer's Ed25519 public key (32 bytes)
  name @2 :Text;               # the volunteer's name, as dashboards show it (at most 64 bytes)
  roles @3 :List(Text);        # e.g. "trainer", "aux" (at most 4, each at most 24 bytes)
  notBefore @4 :Int64;         # Unix seconds: not valid before
  notAfter @5 :Int64;          # Unix seconds: not valid after
  serial @6 :UInt64;           # chosen by the authority, names this certificate in logs
}

struct SignedCertificate {
  certificate @0 :Certificate;
  signature @1 :Data;          # Ed25519 (64 bytes) by the run's authority over "ttt-run-certificate/1\n" || canonical(certificate)
}

struct Revocation {
  # Withdraws every certificate of one peer key in one run. Stored in the DHT
  # under "revoked.<run id>", subkey the peer id (40 hex digits).
  runId @0 :Text;
  peerKey @1 :Data;            # the revoked peer's Ed25519 public key (32 bytes)
  revokedAt @2 :Int64;         # Unix seconds
  reason @3 :Text;             # for people (at most 256 bytes)
}

struct SignedRevocation {
  revocation @0 :Revocation;
  signature @1 :Data;          # Ed25519 (64 bytes) by the run's authority over "ttt-run-revocation/1\n" || canonical(revocation)
}
