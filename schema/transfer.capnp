@0xbea89565702d1e55;
# A run's data files, served by its seeders (docs/PROTOCOL.md, frame kinds 5
# and 6): a joiner lists a seeder's files and reads them in chunks, each
# request answered on its connection. A seeder also advertises its listing in
# the DHT under "shards.<run id>" (a ShardListing, in the dictionary entry
# whose subkey is the seeder's owner marker, signed by it), so that a joiner
# learns every seeder and the digests most of them agree on before it
# connects to any.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ttt::schema");

struct ShardEntry {
  # One file a seeder serves.
  name @0 :Text;    # [A-Za-z0-9._-], 1 to 128 bytes, not starting with '.': a file name, never a path
  size @1 :UInt64;  # bytes, at most 16 GiB
  digest @2 :Data;  # BLAKE2b-256 (unkeyed, 32 bytes) of the whole file
}

struct ShardListing {
  # The DHT value under "shards.<run id>": who serves which files.
  peerId @0 :Data;              # the seeder's peer id (20 bytes); the entry's subkey names the same peer
  host @1 :Text;                # where it listens (at most 255 bytes)
  port @2 :UInt16;
  files @3 :List(ShardEntry);   # at most 300 (so that the value stays under the DHT's 64 KiB), names unique
}

struct DataRequest {
  # Frame kind 5 (data-request); the frame's request id names the call.
  union {
    list @0 :Void;              # the seeder's files
    chunk :group {              # bytes of one listed file
      name @1 :Text;            # a name the seeder lists; any other is refused
      offset @2 :UInt64;        # at most the file's size
      length @3 :UInt32;        # 1 to 524,288 bytes (512 KiB); more is refused
    }
  }
}

struct DataResponse {
  # Frame kind 6 (data-response); the request id of the call it answers.
  union {
    list @0 :List(ShardEntry);  # the seeder's files, as in its ShardListing
    chunk @1 :Data;             # the bytes [offset, offset + length) of the file; shorter only at its end
    error @2 :Text;             # why the request was refused (at most 256 bytes)
  }
}
