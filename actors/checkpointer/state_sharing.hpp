#pragma once
// Serving and loading training state between peers: the advert a holder
// stores under "state.<run_id>" (signed, its owner marker as subkey), and the
// holders a newcomer hands to the averager's download, best first.

#include "actors/averager/interface.hpp"
#include "actors/averager/state_advert.hpp"
#include "actors/common/identity.hpp"
#include "actors/dht/types.hpp"

#include <functional>
#include <string>
#include <vector>

namespace ttt::checkpoint {

/// Reaches a holder's averager (null handle: unreachable).
using holder_resolver = std::function<averaging::averager_peer(const averaging::state_advert&)>;

/// The signed record advertising that `self`, at host:port, serves the state
/// of `epoch` (epochs completed) until now + lifetime.
dht::dht_record advert_record(const std::string& run_id, const identity& self, const std::string& host,
                              uint16_t port, uint64_t epoch, double now, double lifetime);

/// The holders of state for epoch `min_epoch` or later among `records` (a get
/// of the state key), best first, resolved; `self` is left out.
std::vector<averaging::state_holder> resolve_holders(const dht::dht_records& records,
                                                     const node_id& self, uint64_t min_epoch,
                                                     const holder_resolver& resolve);

} // namespace ttt::checkpoint
