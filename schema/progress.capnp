@0x8d6f59515ad82667;
# Training progress and metrics, published by every trainer under its own
# owner marker (so signed by it) and bound to these schemas by key prefix:
# "progress.<run_id>" and "metrics.<run_id>".

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ttt::schema");

struct ProgressRecord {
  # What the collaborative optimizer needs of each peer (hivemind's
  # ProgressTracker): enough to agree on the global epoch and on when the
  # swarm has accumulated the target batch.
  peerId @0 :Data;              # 20 bytes
  epoch @1 :UInt64;             # the epoch this peer is accumulating for
  samplesAccumulated @2 :UInt64;  # samples since this peer's last step
  samplesPerSecond @3 :Float64; # its recent throughput
  time @4 :Float64;             # when this report was made (Unix seconds)
  clientMode @5 :Bool;          # reachable only through its own connections
}

struct MetricsRecord {
  # One trainer's figures for one epoch, aggregated by the monitor.
  peerId @0 :Data;
  step @1 :UInt64;              # the epoch (global optimizer step) these are for
  samplesPerSecond @2 :Float64;
  samplesAccumulated @3 :UInt64;
  loss @4 :Float64;             # sum of mini-batch losses over the epoch
  miniSteps @5 :UInt32;         # mini-batches that loss sums over
  time @6 :Float64;
  certificate @7 :Data;         # the trainer's certificate of the run, if it has one: the
                                # monitor shows the name the authority gave it (verified)
}

struct SwarmSnapshot {
  # The monitor's aggregate of one epoch (RocksDB `metrics_history`, keyed by
  # the big-endian step).
  step @0 :UInt64;
  alivePeers @1 :UInt32;
  meanLoss @2 :Float64;           # sum of losses / sum of mini-steps
  samplesPerSecond @3 :Float64;   # total of the swarm
  samples @4 :UInt64;             # accumulated for this step, all peers
  time @5 :Float64;
}
