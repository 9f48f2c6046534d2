#pragma once
// The matchmaker: runs matchmaking.hpp's protocol against this peer's DHT
// node. Declares this peer (a record signed by it), looks at the round's
// declarations and announcements every poll interval, announces the group
// when it leads, and replies with the group, or an error saying why none
// formed for this peer.

#include "actors/averager/matchmaking.hpp"
#include "actors/common/identity.hpp"
#include "actors/common/types.hpp"
#include "actors/dht/interface.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/fwd.hpp>
#include <caf/typed_actor.hpp>

#include <functional>

namespace ttt::averaging {

struct match_request {
  std::string round;    ///< names the round, e.g. "<run_id>.grad.<epoch>"
  declaration self;     ///< deadline 0: now + settings.matchmaking_time
  matchmaking_settings settings;
};

using matchmaker_actor =
  caf::typed_actor<caf::replies_to<avg_match_atom, match_request>::with<announcement>,
                   caf::reacts_to<avg_mtick_atom, uint64_t>>;

struct matchmaker_config {
  dht::dht_actor dht;
  identity self = identity::generate();
  std::function<double()> clock; ///< Unix seconds, as the DHT's
  /// Waits between looks at the DHT while gathering: the first, doubling
  /// up to the longest.
  caf::timespan first_poll_interval = std::chrono::milliseconds(25);
  caf::timespan poll_interval = std::chrono::milliseconds(250);
};

matchmaker_actor spawn_matchmaker(caf::actor_system& sys, matchmaker_config config);

} // namespace ttt::averaging

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ttt::averaging::match_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ttt::averaging::announcement)
