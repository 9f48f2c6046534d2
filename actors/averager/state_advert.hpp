#pragma once
// State sharing through the DHT: holders advertise (address, epoch) under
// the run's state key; a newcomer reads the adverts and tries holders best
// first (highest epoch, then the earliest-written), handing the list to the
// averager's download (avg_fetch), which falls back along it.

#include "actors/common/node_id.hpp"
#include "actors/dht/types.hpp"

#include <caf/expected.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace ttt::averaging {

struct state_advert {
  node_id peer;
  std::string host;
  uint16_t port = 0;
  uint64_t epoch = 0;

  std::string address() const { return host + ":" + std::to_string(port); }
};

/// DHT key of a run's state adverts (subkey: each holder's owner marker).
inline std::string state_key(std::string_view run_id) {
  return "state." + std::string(run_id);
}

std::string encode(const state_advert& a);
caf::expected<state_advert> decode_state_advert(std::string_view bytes);

/// The holders among `records` (a get of state_key), best first. An advert
/// counts only when its subkey is the owner marker of the peer it names, so
/// nobody can advertise on another peer's behalf; unreachable ones
/// (client mode) are left out.
std::vector<state_advert> best_holders(const dht::dht_records& records);

} // namespace ttt::averaging
