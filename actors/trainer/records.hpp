#pragma once
// What both trainer actors (hivemind mode and DiLoCo) put in the DHT and in
// their logs: records signed by this peer under its own subkey, and the
// parameter digest that shows peers hold the same model.

#include "actors/common/identity.hpp"
#include "actors/dht/interface.hpp"
#include "actors/metrics/swarm_metrics.hpp"

#include <string>
#include <vector>

namespace ttt::trainer {

/// BLAKE2b-64 of the parameters' bytes, in hex: equal digests, equal models.
std::string parameters_digest(const std::vector<float>& values);

/// `value` under `key`, with this peer's owner marker as the subkey, expiring
/// at `expiration`, signed by `self`.
dht::dht_record signed_record(const identity& self, std::string key, std::string value, double expiration);

/// The run's metrics record of one epoch (the monitor reads these).
dht::dht_record metrics_record(const identity& self, const std::string& run_id, const metrics::peer_metrics& m,
                               double expiration);

} // namespace ttt::trainer
