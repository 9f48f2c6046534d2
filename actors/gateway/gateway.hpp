#pragma once
// The one actor a peer publishes on its port. It accepts only the
// cross-peer message kinds (each an atom plus Cap'n Proto bytes) and hands
// each to the local actor that owns it; anything else is dropped, so a
// remote peer reaches nothing but these entry points.

#include "actors/dht/interface.hpp"

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

namespace ttt {

struct gateway_routes {
  dht::dht_actor dht;
  caf::actor averager; ///< may be invalid: the node runs no averager
};

caf::actor spawn_gateway(caf::actor_system& sys, gateway_routes routes);

} // namespace ttt
