@0xb3f1c2a9d4e6f801;
# The messages averaging peers exchange. Every message from another peer's
# averager arrives as the bytes of one `AveragingMessage`, decoded with
# traversal and size limits and validated (group, sender, part index, sizes,
# finite values) before anything of it is used.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ttt::schema");

struct ValuesPart {
  # One part (at most 512 KiB of encoded values) of one span of the flat vector.
  partIndex @0 :UInt32;  # index of the part inside the span; its element range follows from the group
  weight @1 :Float64;    # the sender's weight (e.g. its sample count); > 0 and finite; unused in results
  values @2 :Data;       # encoded segments (see actors/averager/compression.hpp), one per tensor the part touches
  leftOut @3 :List(UInt32); # results only: member indices of contributors missing from this part's mean
}

struct StateRequest {
  chunkIndex @0 :UInt32;  # which chunk of the holder's state the newcomer wants next
}

struct StateChunk {
  epoch @0 :UInt64;         # the epoch of the state being served
  totalBytes @1 :UInt64;    # size of the whole state blob
  checksum @2 :Data;        # BLAKE2b-256 of the whole blob, identical in every chunk
  chunkIndex @3 :UInt32;
  data @4 :Data;            # bytes [chunkIndex * chunkSize, ...) of the blob
}

struct AveragingMessage {
  groupId @0 :Data;      # the round's group id (from matchmaking); state messages use the holder's state id
  sender @1 :Data;       # the sending member's peer id as listed in the group
  union {
    part @2 :ValuesPart;     # sender -> reducer: the sender's values for a part of the reducer's span
    result @3 :ValuesPart;   # reducer -> member: the weighted mean for a part of the reducer's span
    stateRequest @4 :StateRequest; # newcomer -> holder
    stateChunk @5 :StateChunk;     # holder -> newcomer
    stateError @6 :Text;           # holder -> newcomer: no state to serve, or a bad request
    hello @7 :Void;                # member -> member at round start: "reach me here" (the
                                   # transport's sender), for members that could not connect to it
  }
}
