#include "actors/averager/state_advert.hpp"

#include "actors/common/capnp_io.hpp"
#include "actors/common/identity.hpp"
#include "actors/dht/validator.hpp"
#include "schema/matchmaking.capnp.h"

#include <algorithm>

namespace ttt::averaging {

std::string encode(const state_advert& a) {
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<schema::StateAdvert>();
  root.setPeerId(capnp_io::as_data(a.peer.raw()));
  root.setHost(a.host);
  root.setPort(a.port);
  root.setEpoch(a.epoch);
  return capnp_io::to_bytes(message);
}

caf::expected<state_advert> decode_state_advert(std::string_view bytes) {
  return capnp_io::read<schema::StateAdvert>(
    bytes, 1024, "state advert", [](schema::StateAdvert::Reader r) -> caf::expected<state_advert> {
      auto id = node_id::from_bytes(capnp_io::as_view(r.getPeerId()));
      if (!id)
        return capnp_io::invalid("state advert: peer id must be 20 bytes");
      if (r.getHost().size() > 255)
        return capnp_io::invalid("state advert: host too long");
      return state_advert{*id, r.getHost().cStr(), r.getPort(), r.getEpoch()};
    });
}

std::vector<state_advert> best_holders(const dht::dht_records& records) {
  struct ranked {
    state_advert advert;
    double expiration;
  };
  std::vector<ranked> found;
  for (const auto& r : records) {
    auto a = decode_state_advert(r.value);
    auto owner = r.has_subkey ? dht::owner_of(r.subkey) : std::nullopt;
    if (!a || !owner || peer_id_of(*owner) != a->peer || a->host.empty() || a->port == 0)
      continue;
    found.push_back({std::move(*a), r.expiration});
  }
  // Highest epoch first; among equals, the advert written earliest (it has
  // served longest), then by id so that every newcomer agrees.
  std::sort(found.begin(), found.end(), [](const ranked& x, const ranked& y) {
    if (x.advert.epoch != y.advert.epoch)
      return x.advert.epoch > y.advert.epoch;
    if (x.expiration != y.expiration)
      return x.expiration < y.expiration;
    return x.advert.peer < y.advert.peer;
  });
  std::vector<state_advert> out;
  for (auto& f : found)
    out.push_back(std::move(f.advert));
  return out;
}

} // namespace ttt::averaging
