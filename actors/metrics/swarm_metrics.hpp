#pragma once
// The metrics every trainer publishes per epoch, and the monitor's swarm-wide
// aggregate of them (as dalle-hivemind's aux peer computed it: the latest
// step's alive peers, mean loss = Σ loss / Σ mini-steps, total samples/s and
// samples), the eval score of the epochs some trainer evaluated, and who the
// trainers say CenteredClip clipped, per peer. Pure; codecs for the DHT and
// the monitor's history.

#include "actors/common/node_id.hpp"
#include "actors/metrics/printable_text.hpp"

#include <caf/expected.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ttt::metrics {

/// Entries a metrics record lists in `clipped` at most; a record with more is
/// refused.
constexpr size_t max_clipped_reports = 16;
/// Rounds a clipped entry may count at most (a tally's window is 8 by default).
constexpr uint32_t max_clip_rounds = 1024;

/// One peer a trainer saw clipped: in `clipped_rounds` of the last `rounds`
/// rounds it took part in there. The trainer's claim, not a fact.
struct clipped_peer {
  node_id peer;
  uint32_t clipped_rounds = 0;
  uint32_t rounds = 0;
  bool dropped = false; ///< the trainer no longer groups with it
};

struct peer_metrics {
  node_id peer;
  uint64_t step = 0;
  double samples_per_second = 0;
  uint64_t samples_accumulated = 0;
  double loss = 0;         ///< sum over the epoch's mini-batches
  uint32_t mini_steps = 0; ///< how many mini-batches `loss` sums
  double time = 0;
  std::string certificate; ///< the trainer's certificate of the run (empty: none)
  std::string name;        ///< from that certificate, once verified (the monitor sets it)
  /// The peers this trainer saw clipped recently, most clipped first (at most
  /// max_clipped_reports).
  std::vector<clipped_peer> clipped;
  /// The trainer's eval score of the model after this epoch, in [0, 1] (the
  /// shapes eval: how well generated pictures follow their captions). Only
  /// the epochs it evaluates carry one; NaN: none.
  double eval_score = std::numeric_limits<double>::quiet_NaN();
  /// Samples this trainer process computed since it started, all epochs (0
  /// again after a restart): the monitor credits its growth, bounded by time.
  uint64_t total_samples = 0;
  /// The name the volunteer chose (shown unverified; `name` wins); empty: none.
  std::string volunteer_name;
  /// Where it computes, in words (local_model::device_description).
  std::string device_kind;
};

/// Whether `score` is an eval score (not NaN, the mark of none).
inline bool has_eval_score(double score) {
  return !std::isnan(score);
}

struct swarm_snapshot {
  uint64_t step = 0;
  uint32_t alive_peers = 0;
  double mean_loss = 0;
  double samples_per_second = 0;
  uint64_t samples = 0;
  double time = 0;
  /// The mean of the eval scores this step's live reports carry; NaN when
  /// none carries one (most steps: trainers evaluate every few epochs).
  double eval_score = std::numeric_limits<double>::quiet_NaN();
  uint32_t eval_reporters = 0; ///< the reports that mean is over
};

/// The aggregate of the latest step among reports newer than `now - alive_window`
/// (its eval score: the mean over those of its reports that carry one);
/// nullopt when there is none.
std::optional<swarm_snapshot> summarize(const std::vector<peer_metrics>& reports, double now,
                                        double alive_window);

/// One peer as the live trainers report it clipped (reporting only: no
/// claim here drops anyone).
struct clipped_summary {
  node_id peer;
  uint32_t reporters = 0;      ///< distinct trainers that list it
  uint32_t most_clipped = 0;   ///< the most rounds any of them saw it clipped in
  uint32_t rounds = 0;         ///< out of how many rounds, for that reporter
  uint32_t dropped_by = 0;     ///< reporters that no longer group with it
  std::vector<node_id> reported_by; ///< the reporters, by id
};

/// Peers shown at most: the ones most reporters agree on.
constexpr size_t max_clipped_shown = 64;

/// Who the `reports` (one per trainer; pass the live ones) say was clipped:
/// per peer, its distinct reporters and the most rounds any saw it clipped in.
/// A trainer listing itself or a peer it never clipped and kept counts for
/// nothing. Most reporters first, then most clipped, then by id; at most
/// `max_peers`.
std::vector<clipped_summary> summarize_clipped(const std::vector<peer_metrics>& reports,
                                               size_t max_peers = max_clipped_shown);

/// Encodes at most max_clipped_reports of `m.clipped`, each count cut to
/// max_clip_rounds, no eval score outside [0, 1], and the volunteer's name
/// and device cut to printable text of their bounds (printable_text.hpp):
/// what a reader would refuse is left out, so that the rest of the record
/// still counts.
std::string encode(const peer_metrics& m);
/// Refuses, besides malformed bytes and non-finite figures, a record listing
/// more than max_clipped_reports clipped peers or an entry with an id not 20
/// bytes long, more clipped rounds than rounds or more than max_clip_rounds,
/// an eval score that is a number outside [0, 1], and a volunteer name or
/// device that is not printable text within its bound.
caf::expected<peer_metrics> decode_metrics(std::string_view bytes);
std::string encode(const swarm_snapshot& s);
caf::expected<swarm_snapshot> decode_snapshot(std::string_view bytes);

/// History key of a step: big-endian, so RocksDB iterates steps in order.
std::string history_key(uint64_t step);

} // namespace ttt::metrics
