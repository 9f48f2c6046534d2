#include "actors/gateway/gateway.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/sec.hpp>

namespace ttt {

namespace {

caf::behavior gateway_impl(caf::event_based_actor* self, gateway_routes routes) {
  // Unknown messages are refused with an error rather than queued forever.
  self->set_default_handler(caf::drop);
  return {
    [self, routes](dht_rpc_atom atom, std::string& bytes) {
      return self->delegate(routes.dht, atom, std::move(bytes));
    },
    [self, routes](avg_rpc_atom atom, std::string& bytes) -> caf::result<caf::message> {
      if (!routes.averager)
        return caf::make_error(caf::sec::invalid_argument, "this peer runs no averager");
      self->delegate(routes.averager, atom, std::move(bytes));
      return caf::delegated<caf::message>{};
    },
    // Averagers check who sent a part by its actor handle, so a peer talks to
    // our averager directly (through the connection it has to this process)
    // rather than through the gateway.
    [routes](avg_who_atom) -> caf::result<caf::actor> {
      if (!routes.averager)
        return caf::make_error(caf::sec::invalid_argument, "this peer runs no averager");
      return routes.averager;
    },
  };
}

} // namespace

caf::actor spawn_gateway(caf::actor_system& sys, gateway_routes routes) {
  return sys.spawn(gateway_impl, std::move(routes));
}

} // namespace ttt
