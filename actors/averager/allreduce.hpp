#pragma once
// The butterfly all-reduce of one averaging round, as a pure state machine:
// no CAF actors, no sockets, no clock of its own. Like gloo's algorithms it
// sees float spans and a send seam; the caller feeds it incoming messages and
// the current time.
//
// Protocol (hivemind's DecentralizedAverager, butterfly variant):
// - The flat vector [0, total) is split into one contiguous span per reducer
//   (a `node` or `aux` member with bandwidth > 0), sized in proportion to the
//   declared bandwidths. Clients reduce nothing.
// - Every contributor (`node` or `client`) streams its values for span s to
//   s's reducer in parts of at most `part_elements` values (512 KiB as
//   float32), each with the contributor's weight.
// - A reducer accumulates parts as they arrive (sum of weight * value in
//   double). Part p is final once every live contributor delivered part p;
//   the reducer then sends the weighted mean of that part to every live
//   contributor, naming the contributors it had to leave out.
// - A contributor has at most `send_window_parts` parts in flight per
//   reducer: results are the acknowledgements, so buffers stay bounded and
//   a slow reducer slows only its own stream.
// - A contributor silent for `sender_timeout` while a reducer still waits for
//   its parts (and its window is open) is dropped by that reducer; a reducer silent for
//   `reducer_timeout` while results are missing is dropped by the receiver,
//   which keeps its own values there. Hence reducer_timeout > sender_timeout:
//   a reducer waiting on a dead sender must not itself look dead.
// - With `aggregation = centered_clip` the reducer keeps every contributor's
//   values of a part until the part is complete and then combines them with
//   CenteredClip (centered_clip.hpp) instead of the weighted mean: the same
//   messages, no extra round. It lists the contributors it clipped.
// - A contributor's weight is capped at `max_weight` (a claim, not a fact).
// Guarantee: with `mean`, every part of every result is the exact weighted
// mean (up to the codec's error) over the contributors whose part arrived,
// or the peer's own values where the reducer failed; the result lists both
// cases per span. With `centered_clip`, the mean is replaced by CenteredClip
// over the same contributors.

#include "actors/averager/compression.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ttt::averaging {

using time_point = std::chrono::steady_clock::time_point;
using duration = std::chrono::steady_clock::duration;

/// Largest encoded part: 512 KiB.
constexpr size_t max_part_bytes = 512 * 1024;
/// Values per part, leaving room for segment headers under max_part_bytes.
constexpr uint64_t default_part_elements = (max_part_bytes - 1024) / sizeof(float);

/// What a member does in a round.
enum class peer_mode : uint8_t {
  node = 0,   ///< contributes a vector and reduces a span
  client = 1, ///< contributes a vector, reduces nothing (behind NAT: only outgoing connections)
  aux = 2     ///< reduces a span, contributes nothing, receives no result
};

/// One member of a group, as matchmaking agreed on it.
struct member_info {
  std::string peer_id;   ///< opaque, unique in the group (a node_id's raw bytes in production)
  double bandwidth = 1;  ///< relative share of the vector this member reduces; ignored for clients
  peer_mode mode = peer_mode::node;
};

/// A group: its id and its members in the order every member agreed on.
struct group_info {
  std::string group_id;
  std::vector<member_info> members;
};

/// A half-open range of element indices of the flat vector.
struct element_range {
  uint64_t begin = 0;
  uint64_t end = 0;
  uint64_t size() const { return end - begin; }
};

/// One span per member (empty for clients and zero-bandwidth members),
/// contiguous in member order and covering [0, total). Shares follow the
/// bandwidths, rounded by largest remainder so that the sizes sum to `total`.
std::vector<element_range> partition_spans(const std::vector<member_info>& members, uint64_t total);

/// Clamps declared bandwidths so that no member takes over the vector by
/// declaring a huge one: each reducer's bandwidth is cut to at most
/// `max_ratio` times the lower median of the reducers' positive bandwidths
/// and to `max_bandwidth`. The lower median is one of the honest values
/// while fewer than half of the reducers lie, so a liar reduces at most
/// max_ratio / (max_ratio + reducers - 1) of the vector. A pure function of
/// the members, so every member that applies it computes the same spans.
void bound_bandwidths(std::vector<member_info>& members, double max_ratio = 4,
                      double max_bandwidth = 1e6);

/// How a reducer combines the contributions to one part.
enum class aggregation_rule : uint8_t {
  mean = 0,          ///< weighted mean (exact, hivemind's)
  centered_clip = 1, ///< CenteredClip: robust to a minority of scaled or inverted contributions
};

/// "mean" or "centered_clip" (profile key `[averager] aggregation`).
caf::expected<aggregation_rule> parse_aggregation(std::string_view name);
std::string to_string(aggregation_rule rule);

/// Settings every member of a round must share.
struct round_config {
  codec_choice codecs;                ///< codec per tensor, by the tensor's size
  std::vector<uint64_t> tensor_sizes; ///< layout of the flat vector; empty: one tensor
  uint64_t part_elements = default_part_elements;
  duration sender_timeout = std::chrono::seconds(15);
  duration reducer_timeout = std::chrono::seconds(40);
  /// Parts a contributor may have sent to one reducer before that reducer's
  /// results for them come back (0: no limit). Bounds what sits in buffers
  /// and on the wire to window x 512 KiB per reducer, so memory stays a
  /// small multiple of the vector and a reducer that stops reading stalls
  /// only its own stream.
  uint64_t send_window_parts = 8;
  aggregation_rule aggregation = aggregation_rule::mean;
  /// CenteredClip's radius, relative: tau = clip_tau x the median distance of
  /// the contributions to their coordinate-wise median. Relative because
  /// gradient norms change by orders of magnitude over a run and between
  /// models, so no absolute radius fits; 2 leaves honest contributions
  /// (whose distances to the median are alike) unclipped and cuts one that
  /// lies far outside them down to the honest spread.
  double clip_tau = 2.0;
  /// Most CenteredClip iterations per part (it stops earlier once it moves
  /// by less than 1e-6 tau).
  uint32_t clip_iterations = 10;
  /// A contributor's weight is cut to this: weights are claims (samples
  /// accumulated), so one peer must not outweigh the group at will. The
  /// trainer passes its target batch size; the default only keeps a sum of
  /// up to 256 weights x float values finite (1e300 would overflow).
  double max_weight = 1e12;
  /// With centered_clip, a reducer buffers each contributor's values of a
  /// part until the part is complete: at most send_window_parts parts per
  /// contributor, so (contributors - 1) x send_window_parts x part_elements
  /// floats (its own values stay in place); a part sent beyond the window
  /// breaks the protocol and drops its sender. With send_window_parts = 0
  /// the bound is (contributors - 1) x the span.
};

/// Which kind of values a part_message carries.
enum class message_kind : uint8_t {
  part = 0,  ///< contributor -> reducer
  result = 1 ///< reducer -> contributor
};

/// An incoming message between averagers, viewing the bytes it was decoded
/// from (see wire.hpp): parts are large, so nothing is copied before use.
struct part_view {
  std::string_view group_id;
  std::string_view sender_id;
  message_kind kind = message_kind::part;
  uint32_t part_index = 0;
  double weight = 0;                 ///< the contributor's weight; 0 in results
  std::vector<uint32_t> left_out;    ///< results only: contributors missing from this part's mean
  std::string_view values;           ///< encoded segments
};

/// An outgoing message between averagers (owns its bytes).
struct part_message {
  std::string group_id;
  std::string sender_id;
  message_kind kind = message_kind::part;
  uint32_t part_index = 0;
  double weight = 0;                 ///< the contributor's weight; 0 in results
  std::vector<uint32_t> left_out;    ///< results only: contributors missing from this part's mean
  std::string values;                ///< encoded segments
  /// Instead of `values`, an outgoing message may carry the size of its
  /// encoded values and a function writing them straight into the
  /// transport's buffer (one copy less per part); valid only during send.
  size_t values_size = 0;
  std::function<void(char* out)> write_values;

  /// Bytes of encoded values, however they are held.
  size_t encoded_values_size() const { return write_values ? values_size : values.size(); }

  /// A view of this message (of `values`), valid while it lives.
  part_view view() const {
    return {group_id, sender_id, kind, part_index, weight, left_out, values};
  }
};

/// How one span ended up in a member's result.
struct span_report {
  size_t reducer = 0;                ///< member index of the span's reducer
  element_range range;
  bool reducer_failed = false;       ///< some parts never came back: they hold this peer's own values
  uint64_t parts_missing = 0;        ///< how many
  std::vector<size_t> left_out;      ///< contributors missing from the mean of at least one part
  /// This peer's own span only (results do not say it for the others'):
  /// contributors CenteredClip clipped in at least one part, and
  /// contributors whose weight was cut to max_weight.
  std::vector<size_t> clipped;
  std::vector<size_t> weight_capped;
  bool partial() const { return reducer_failed || !left_out.empty(); }
};

/// The outcome of a round for one member.
struct round_result {
  std::vector<float> values;         ///< the averaged vector (empty for aux members)
  std::vector<span_report> spans;    ///< one per non-empty span, in member order
  std::vector<std::string> refused;  ///< why incoming messages were refused (at most 64 kept)
  uint64_t refused_count = 0;
  uint64_t bytes_sent = 0;           ///< encoded value bytes this member sent
  uint64_t bytes_received = 0;
  /// Per member, the weight (capped at max_weight) it contributed to this
  /// peer's span; 0 when it sent nothing here. Progress claims are credited
  /// against it (actors/trainer/progress.hpp).
  std::vector<double> contributed;
  // Filled by the averager actor (the core leaves them empty):
  /// Members this peer refused as members from the start: they were dropped
  /// in earlier rounds for being clipped too often.
  std::vector<size_t> excluded;
  /// Peer ids that this round's clipping pushed past the drop threshold.
  std::vector<std::string> newly_dropped;
  /// For each member this peer has judged: in how many of its recent rounds
  /// (at most the policy's window) it was clipped on this peer's span.
  struct clip_count {
    size_t member = 0;
    uint32_t clipped = 0;
    uint32_t rounds = 0;
    bool dropped = false;
  };
  std::vector<clip_count> clip_counts;
  /// Whether any span is partial.
  bool partial() const;
};

/// The state of one member in one round.
class allreduce_round {
public:
  /// Delivers one message to each member listed in `to` (several for a
  /// result, so that the transport can encode it once).
  using send_fn = std::function<void(const std::vector<size_t>& to, part_message&& msg)>;

  /// Starts a round. `values` is this member's vector (must be empty for an
  /// aux member, of size `total_elements` otherwise) with its `weight`
  /// (finite, > 0; ignored for aux). Fails on an inconsistent group or config.
  static caf::expected<allreduce_round> make(group_info group, size_t self_index,
                                             std::vector<float> values, double weight,
                                             uint64_t total_elements, round_config config,
                                             time_point now);

  /// Accounts for this member's own contribution; sends nothing but the
  /// results it can already finish (groups where it is the only contributor).
  void start(const send_fn& send);

  /// Sends up to `max_messages` of this member's parts, round-robin over the
  /// reducers so that no reducer idles. Returns how many it sent.
  size_t send_parts(size_t max_messages, const send_fn& send);
  /// Whether send_parts has parts it may send now (parts left, and room in
  /// the reducer's window); results that arrive may open the window again.
  bool parts_pending() const;

  /// Handles one message from a member. A refused message (wrong group,
  /// unknown sender, bad index or size, non-finite values, duplicates) changes
  /// no value. A member that sent a malformed part is dropped as a sender for
  /// the rest of the round (its other parts are neither awaited nor
  /// accepted); one that sent a malformed result is dropped as a reducer
  /// (this member keeps its own values there). Returns the reason of a refusal.
  caf::error on_message(const part_view& msg, time_point now, const send_fn& send);
  /// Same for an owned message (tests).
  caf::error on_message(const part_message& msg, time_point now, const send_fn& send) {
    return on_message(msg.view(), now, send);
  }

  /// Drops members that stalled past their timeout.
  void on_tick(time_point now, const send_fn& send);
  /// Drops a member known to be gone (e.g. its connection closed).
  void on_member_failed(size_t member, const send_fn& send);

  /// Whether this member has everything it will get: its span reduced and
  /// sent, and every other span's result received or given up.
  bool done() const;
  /// Moves the result out; call once done() holds.
  round_result take_result();

  const group_info& group() const { return group_; }
  size_t self_index() const { return self_; }
  /// The index of the member with `peer_id`, if any.
  std::optional<size_t> member_index(std::string_view peer_id) const;

private:
  allreduce_round() = default;

  bool is_contributor(size_t m) const { return group_.members[m].mode != peer_mode::aux; }
  uint64_t parts_of(size_t reducer) const;
  bool may_send_to(size_t reducer) const;
  element_range part_range(size_t reducer, uint64_t part) const;
  void encode_range(element_range r, const float* data, std::string& out) const;
  uint64_t encoded_range_size(element_range r) const;
  void encode_range_to(element_range r, const float* data, char* out) const;
  caf::error decode_range(element_range r, std::string_view bytes, float* out) const;
  caf::error refuse(std::string reason);
  void mark_gone(size_t member, const send_fn& send);
  void drop_sender(size_t member, const send_fn& send);
  void drop_reducer(size_t member);
  void try_finalize(uint64_t part, const send_fn& send);
  caf::error on_part(size_t sender, const part_view& msg, const send_fn& send);
  caf::error on_result(size_t reducer, const part_view& msg);
  bool clipping() const { return config_.aggregation == aggregation_rule::centered_clip; }
  double capped_weight(size_t contributor) const;
  void finalize_clipped(uint64_t part, element_range range);
  std::vector<float> take_buffer(uint64_t size);

  group_info group_;
  size_t self_ = 0;
  round_config config_;
  uint64_t total_ = 0;
  double weight_ = 0;
  std::vector<uint64_t> tensor_ends_;  // prefix sums of tensor sizes
  std::vector<element_range> spans_;
  std::vector<float> values_;          // own values, overwritten in place by results
  std::vector<float> scratch_;         // one part
  std::vector<bool> gone_;            // timed out or disconnected: no longer sent to
  std::vector<bool> sender_dropped_;  // its parts are no longer awaited nor accepted
  std::vector<bool> reducer_dropped_; // its results are no longer awaited nor accepted
  std::vector<time_point> last_heard_;
  time_point last_finalized_{}; // when this member last finished parts of its span

  // Reducer side (this member's span).
  uint64_t my_parts_ = 0;
  uint64_t my_parts_left_ = 0;
  std::vector<double> sums_;           // weight * value, per element of the span
  std::vector<double> part_weight_;
  std::vector<uint8_t> received_;      // [part * members + contributor]
  std::vector<bool> part_done_;
  std::vector<uint64_t> received_count_; // parts received per contributor
  std::vector<std::optional<double>> sender_weight_;
  std::vector<bool> left_out_any_;
  std::vector<bool> clipped_any_;
  std::vector<bool> capped_any_;
  // centered_clip only: [part * members + contributor] -> its values, held
  // until the part is complete; freed buffers are reused.
  std::vector<std::vector<float>> held_;
  std::vector<std::vector<float>> spare_;
  std::vector<double> clip_work_;

  // Receiver side (every other span).
  std::vector<std::vector<bool>> result_received_; // [reducer][part]
  std::vector<uint64_t> results_left_;             // per reducer
  uint64_t results_left_total_ = 0;
  std::vector<std::vector<bool>> left_out_of_span_; // [reducer][contributor]
  std::vector<bool> reducer_failed_;
  std::vector<uint64_t> parts_missing_;

  // Sender side.
  std::vector<uint64_t> next_part_; // per reducer
  size_t rotation_ = 0;

  round_result result_;
};

} // namespace ttt::averaging
