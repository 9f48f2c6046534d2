@0x88a3e4ebf6ac9bec;
# Matchmaking through the DHT. A peer that wants to average declares itself
# under the round's key (subkey: its owner marker, so the record is signed by
# it); the group's leader announces the group under "<key>.group" (subkey: the
# leader's owner marker). Both values are bound to these schemas.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ttt::schema");

struct AveragerDeclaration {
  peerId @0 :Data;        # 20 bytes: BLAKE2b-160 of publicKey
  publicKey @1 :Data;     # Ed25519; the declaration is signed by it
  host @2 :Text;          # the peer's gateway; empty for a client-mode peer
  port @3 :UInt16;
  mode @4 :UInt8;         # 0 node, 1 client (contributes, reduces nothing), 2 aux (reduces only)
  bandwidth @5 :Float64;  # relative share of the vector this peer reduces
  deadline @6 :Float64;   # when its leader stops gathering (Unix seconds)
}

struct GroupAnnouncement {
  groupId @0 :Data;       # 20 bytes, derived from the key, the leader and the members
  members @1 :List(AveragerDeclaration);   # in the order every member uses
}

struct StateAdvert {
  # "This peer holds the training state of `epoch` and serves it": stored
  # under "state.<run_id>" with the peer's owner marker as subkey. Newcomers
  # download from the holder with the highest epoch (the priority).
  peerId @0 :Data;        # 20 bytes
  host @1 :Text;          # its gateway
  port @2 :UInt16;
  epoch @3 :UInt64;
}
