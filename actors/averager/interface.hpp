#pragma once
// The averager's typed actor interface: the cross-peer entry (Cap'n Proto
// bytes of schema/averaging.capnp) and the local API of this peer's other
// actors (plain structs, never sent across processes).

#include "actors/averager/allreduce.hpp"
#include "actors/averager/clip_tally.hpp"
#include "actors/common/node_id.hpp"
#include "actors/common/types.hpp"

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace ttt::averaging {

/// What an averager sends to a member: encoded AveragingMessage bytes. A
/// member is another averager in this process (tests, benchmarks) or, in a
/// node, the wire's proxy for that peer (actors/wire/wire.hpp), which
/// forwards the bytes over the peer's authenticated connection.
using averager_peer = caf::typed_actor<caf::reacts_to<avg_rpc_atom, std::string>>;

/// One all-reduce round as matchmaking agreed on it, plus this member's input.
struct round_request {
  group_info group;
  size_t self_index = 0;
  /// Each member's averager, in group order. A null handle is learned from
  /// that member's first message: its hello at round start (every member
  /// greets those it holds a handle for) or its first part. That is how a
  /// client-mode member, which publishes nothing, is reached (over the
  /// connection it opened), and how two peers need only one connection.
  /// Messages for a member not yet heard from wait, bounded by the send window.
  std::vector<averager_peer> handles;
  std::vector<float> values; ///< empty for an aux member
  double weight = 1;         ///< e.g. the samples this member accumulated
  uint64_t total_elements = 0;
  round_config config;
  /// Optional observer, called on the averager's thread with the number of
  /// messages this member has handed to the transport so far (progress
  /// metrics; fault-injection tests kill the process at a chosen count).
  std::function<void(uint64_t messages_sent)> on_sent;
};

/// Bytes per state chunk; both ends use it to check chunk sizes.
constexpr size_t state_chunk_bytes = 512 * 1024;

/// A peer that advertised state, with the priority it advertised.
struct state_holder {
  averager_peer handle;
  uint64_t epoch = 0;
  node_id peer; ///< who it is (its state is judged by others' vouches)
};

/// Download state from the best of `holders` (highest epoch first), falling
/// back to the next on a refusal, a stall, a truncated or corrupted download.
struct fetch_request {
  std::vector<state_holder> holders;
  duration timeout = std::chrono::seconds(10); ///< per holder, between two chunks
  uint64_t max_bytes = uint64_t{16} << 30;     ///< larger advertised states are refused
};

/// A downloaded state whose BLAKE2b-256 checksum matched.
struct fetched_state {
  uint64_t epoch = 0;
  std::string blob;
  size_t holder = 0;                 ///< index into fetch_request::holders
  std::vector<std::string> failures; ///< why earlier holders were given up
};

/// The averager actor.
using averager_actor = caf::typed_actor<
  // One encoded AveragingMessage from an averager in this process. One-way:
  // replies, if any, are messages of their own, so bad bytes never produce
  // an error message that could stop the sender's actor.
  caf::reacts_to<avg_rpc_atom, std::string>,
  // One encoded AveragingMessage from a peer, sent by the wire's proxy for
  // it with the peer id (20 raw bytes) its handshake proved; a message that
  // names another sender is dropped.
  caf::reacts_to<avg_rpc_atom, std::string, std::string>,
  // Local: run one round; the result reports partial spans and refusals.
  caf::replies_to<avg_run_atom, round_request>::with<round_result>,
  // Local: hold `blob` (state of `epoch`) and serve it to newcomers in chunks.
  caf::replies_to<avg_serve_atom, uint64_t, std::string>::with<bool>,
  // Local: download state from holders.
  caf::replies_to<avg_fetch_atom, fetch_request>::with<fetched_state>,
  // Internal: timeouts of the round or download with this id.
  caf::reacts_to<avg_tick_atom, std::string>,
  // Internal: send the next parts of the round with this group id.
  caf::reacts_to<avg_pump_atom, std::string>>;

/// Spawns this peer's averager; `peer_id` is how it signs its messages'
/// sender field (the member id other peers find in the group).
averager_actor spawn_averager(caf::actor_system& sys, std::string peer_id);

/// What an averager does about peers its centered_clip rounds clip often.
struct averager_options {
  /// Rounds with `aggregation = centered_clip` count, per peer, the rounds
  /// in which this peer's span clipped it; past the policy's threshold the
  /// peer is dropped: logged once, listed in that round's
  /// round_result::newly_dropped, and refused as a member of every later
  /// round (round_result::excluded): this peer neither takes its parts nor
  /// its results (it keeps its own values on that peer's span).
  clip_policy clipping;
  std::function<void(const std::string&)> log; ///< empty: no log
};

averager_actor spawn_averager(caf::actor_system& sys, std::string peer_id,
                              averager_options options);

} // namespace ttt::averaging

// Local-only message types: they never cross a process boundary (the wire
// format is Cap'n Proto), so they need no serialization.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ttt::averaging::round_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ttt::averaging::round_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ttt::averaging::fetch_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ttt::averaging::fetched_state)
