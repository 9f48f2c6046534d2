@0xc4d2a0f1e96b3a57;
# Checkpoints and the training state peers hand each other. A checkpoint is
# a directory of files (<data_dir>/checkpoints/epoch-NNNNNNNN/); its metadata
# lives in RocksDB's `checkpoints` column family, keyed by the big-endian
# epoch. The same files, bundled, are what a holder serves to a newcomer.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ttt::schema");

struct CheckpointFile {
  name @0 :Text;          # a plain file name inside the checkpoint directory
  size @1 :UInt64;        # bytes
  checksum @2 :Data;      # BLAKE2b-256 of the bytes: a mismatch means corruption
}

struct CheckpointRecord {
  # Metadata of one checkpoint. A checkpoint is valid only while every file
  # it lists exists with this size and checksum.
  epoch @0 :UInt64;       # epochs completed: the state trains epoch `epoch` next
  samples @1 :UInt64;     # samples this peer contributed to the epoch that ended
  loss @2 :Float64;       # this peer's mean loss in that epoch (NaN when unknown)
  time @3 :Float64;       # when it was written (Unix seconds)
  path @4 :Text;          # the checkpoint directory
  files @5 :List(CheckpointFile);
}

struct StateFile {
  name @0 :Text;
  data @1 :Data;
}

struct TrainingState {
  # A model's full training state (parameters, optimizer state, schedule
  # and data position) as the files of a checkpoint: what the averager
  # serves to newcomers, and what an aux peer writes as its checkpoints.
  epoch @0 :UInt64;       # epochs completed
  files @1 :List(StateFile);
}

struct StateVouch {
  # "After `epoch` epochs my state digests to `digest`": every trainer stores
  # one under "vouch.<run_id>.<epoch>" with its owner marker as subkey (so
  # signed by it). A newcomer or aux peer accepts downloaded state only when
  # peers other than the one that served it vouch for its digest.
  peerId @0 :Data;        # 20 bytes
  epoch @1 :UInt64;       # epochs completed
  digest @2 :Data;        # BLAKE2b-256 of the encoded training state (what holders serve)
}
