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
  clipped @8 :List(ClippedPeer);
    # The peers this trainer's CenteredClip rounds clipped recently, most
    # clipped first; at most 16. Readers refuse a record with more, or with an
    # entry whose id is not 20 bytes or whose counts are impossible. A claim of
    # one trainer: the monitor shows how many trainers agree and drops no one.
  evalScore @9 :Float64 = nan;
    # The trainer's eval score of the model after this epoch (the shapes eval:
    # how well generated pictures follow their captions, 0..1), only on the
    # epochs it evaluates; NaN (also what a record without the field reads
    # as): none. Readers refuse a score that is a number outside [0, 1].
  totalSamples @10 :UInt64;
    # Samples this trainer process computed since it started, over all its
    # epochs (0 again after a restart). The monitor credits the volunteer
    # with its growth, at most as many samples per second as it allows.
  volunteerName @11 :Text;
    # A name the volunteer chose for the dashboard, shown as unverified (a
    # verified certificate's name wins); empty: none. At most 64 bytes of
    # printable UTF-8: readers refuse a longer one, malformed UTF-8 or a
    # control character.
  deviceKind @12 :Text;
    # Where it computes, in words ("cpu", "cuda:0 (NVIDIA H100)"); at most 48
    # bytes, the same rule as volunteerName.
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
  evalScore @6 :Float64 = nan;    # mean of the scores the live reports of this step carry;
                                  # NaN: none carries one (or the record predates scores)
  evalReporters @7 :UInt32;       # how many reports that mean is over
}

struct ClippedPeer {
  # One peer as a trainer's clip tally (actors/averager/clip_tally.hpp) sees
  # it: clipped on this trainer's span in `clippedRounds` of the last `rounds`
  # rounds it took part in here.
  peerId @0 :Data;              # 20 bytes
  clippedRounds @1 :UInt32;     # at most `rounds`
  rounds @2 :UInt32;            # the tally's window, or fewer for a peer seen less (at most 1024)
  dropped @3 :Bool;             # this trainer no longer groups with it, for the rest of the run
}

struct Contribution {
  # One volunteer's contribution as the monitor credits it (RocksDB
  # `contributions`, keyed by the raw peer id), so that totals survive
  # restarts of the monitor and of the volunteer (same data dir, same id).
  peerId @0 :Data;              # 20 bytes
  name @1 :Text;                # what the leaderboard shows (at most 64 bytes, printable UTF-8)
  nameVerified @2 :Bool;        # from a certificate the monitor verified
  deviceKind @3 :Text;          # at most 48 bytes, printable UTF-8
  samples @4 :UInt64;           # credited in total
  lastTotal @5 :UInt64;         # the last totalSamples its reports claimed
  secondsOnline @6 :Float64;    # monitor time between consecutive polls that saw it alive
  firstSeen @7 :Float64;        # the monitor's clock (Unix seconds) at its first sighting
  lastSeen @8 :Float64;         # ... at the latest poll that saw it alive
  lastCredited @9 :Float64;     # ... at its first sighting or when its claimed total last grew:
                                # the bound of its next credit runs from there
}
