@0xf6dd7d5c229b9538;
# The DHT's records and the messages DHT nodes exchange. Every request from a
# peer arrives as the bytes of one `DhtRequest`, every reply is one
# `DhtResponse`; both are decoded with traversal and size limits before use.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ttt::schema");

struct NodeInfo {
  # How to reach a peer, and who it is.
  id @0 :Data;          # 20 bytes: BLAKE2b-160 of publicKey
  host @1 :Text;        # where its gateway listens; empty for a client-mode peer
  port @2 :UInt16;
  publicKey @3 :Data;   # 32-byte Ed25519 public key
}

struct SignedFields {
  # What an owner signs: the canonical encoding of this struct. Keeping the
  # signed bytes a Cap'n Proto struct gives every language one encoding.
  key @0 :Data;
  subkey @1 :Data;
  hasSubkey @2 :Bool;
  value @3 :Data;
  expiration @4 :Float64;
}

struct Record {
  # One stored value (also how it rests in RocksDB's `dht_records`): a plain value under `key`, or one entry of the
  # dictionary under `key` when `hasSubkey` is set.
  key @0 :Data;
  subkey @1 :Data;
  hasSubkey @2 :Bool;   # an empty subkey is a valid subkey, so presence is explicit
  value @3 :Data;
  expiration @4 :Float64;   # seconds since the Unix epoch; later expiration wins
  signature @5 :Data;   # Ed25519 over SignedFields, required when the key or subkey names an owner
}

struct DhtRequest {
  sender @0 :NodeInfo;       # the requester; host empty in client mode
  clientMode @1 :Bool;       # a client-mode sender is never added to routing tables
  union {
    ping @2 :Void;
    store :group {
      records @3 :List(Record);
      inCache @4 :Bool;      # caching a found value on a node off the nearest set
    }
    find :group {
      keyIds @5 :List(Data);   # 20-byte ids: of keys (values and nodes) or of nodes only
    }
  }
}

struct FindResult {
  # What a node knows about one requested id.
  records @0 :List(Record);  # the plain value or the dictionary entries, unexpired only
  nearest @1 :List(NodeInfo);  # up to k peers it knows closest to the id
}

struct StoreResult {
  accepted @0 :Bool;
  error @1 :Text;            # why a record was refused, empty when accepted
}

struct DhtResponse {
  responder @0 :NodeInfo;
  union {
    error @1 :Text;          # the whole request was refused (malformed, oversized, ...)
    ping @2 :Void;
    store @3 :List(StoreResult);
    find @4 :List(FindResult);
  }
}

struct KnownPeer {
  # The `routing` column family: last known peers, for a rejoin without --initial-peer.
  node @0 :NodeInfo;
  lastSeen @1 :Float64;
}

struct ExampleValue {
  # A schema bound to the key prefix "example." in tests and demos.
  text @0 :Text;
  count @1 :UInt32;
}
