#include "actors/checkpointer/state_sharing.hpp"

#include "actors/dht/validator.hpp"

namespace ttt::checkpoint {

dht::dht_record advert_record(const std::string& run_id, const identity& self, const std::string& host,
                              uint16_t port, uint64_t epoch, double now, double lifetime) {
  averaging::state_advert advert{self.id(), host, port, epoch};
  dht::dht_record rec;
  rec.key = averaging::state_key(run_id);
  rec.subkey = dht::owner_marker(self.public_key());
  rec.has_subkey = true;
  rec.value = averaging::encode(advert);
  rec.expiration = now + lifetime;
  dht::sign_record(rec, self);
  return rec;
}

std::vector<averaging::state_holder> resolve_holders(const dht::dht_records& records,
                                                     const node_id& self, uint64_t min_epoch,
                                                     const holder_resolver& resolve) {
  std::vector<averaging::state_holder> out;
  for (const auto& advert : averaging::best_holders(records)) {
    if (advert.peer == self || advert.epoch < min_epoch)
      continue;
    auto handle = resolve ? resolve(advert) : averaging::averager_peer{};
    if (handle)
      out.push_back({handle, advert.epoch});
  }
  return out;
}

} // namespace ttt::checkpoint
