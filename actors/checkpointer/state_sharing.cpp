#include "actors/checkpointer/state_sharing.hpp"

#include "actors/checkpointer/checkpoint_core.hpp"
#include "actors/common/capnp_io.hpp"
#include "actors/dht/validator.hpp"
#include "schema/checkpoint.capnp.h"

#include <algorithm>
#include <map>

#include <sodium.h>

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
                                                     const holder_resolver& resolve,
                                                     const std::set<node_id>& distrusted) {
  std::vector<averaging::state_holder> out;
  for (const auto& advert : averaging::best_holders(records)) {
    if (advert.peer == self || advert.epoch < min_epoch || distrusted.count(advert.peer) > 0)
      continue;
    auto handle = resolve ? resolve(advert) : averaging::averager_peer{};
    if (handle)
      out.push_back({handle, advert.epoch, advert.peer});
  }
  return out;
}

std::string state_digest(const training_state& state) {
  std::vector<const state_file*> vouched;
  for (const auto& f : state.files)
    if (f.name.rfind("peer.", 0) != 0)
      vouched.push_back(&f);
  std::sort(vouched.begin(), vouched.end(), [](auto* a, auto* b) { return a->name < b->name; });
  crypto_generichash_state h;
  crypto_generichash_init(&h, nullptr, 0, 32);
  auto add = [&h](std::string_view bytes) {
    crypto_generichash_update(&h, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  };
  auto add_number = [&add](uint64_t n) {
    char be[8];
    for (int i = 0; i < 8; ++i)
      be[i] = static_cast<char>(n >> (56 - 8 * i));
    add(std::string_view(be, 8));
  };
  add("ttt-state-digest:");
  add_number(state.epoch);
  for (const auto* f : vouched) {
    add_number(f->name.size());
    add(f->name);
    add_number(f->bytes.size());
    add(f->bytes);
  }
  unsigned char out[32];
  crypto_generichash_final(&h, out, sizeof(out));
  return std::string(reinterpret_cast<const char*>(out), sizeof(out));
}

std::string vouch_key(const std::string& run_id, uint64_t epoch) {
  return "vouch." + run_id + "." + std::to_string(epoch);
}

dht::dht_record vouch_record(const std::string& run_id, const identity& self, uint64_t epoch,
                             const std::string& digest, double now, double lifetime) {
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<schema::StateVouch>();
  root.setPeerId(capnp_io::as_data(self.id().raw()));
  root.setEpoch(epoch);
  root.setDigest(capnp_io::as_data(digest));
  dht::dht_record rec;
  rec.key = vouch_key(run_id, epoch);
  rec.subkey = dht::owner_marker(self.public_key());
  rec.has_subkey = true;
  rec.value = capnp_io::to_bytes(message);
  rec.expiration = now + lifetime;
  dht::sign_record(rec, self);
  return rec;
}

vouch_count count_vouches(const dht::dht_records& records, uint64_t epoch, const std::string& digest,
                          const node_id& holder) {
  // One vouch per signer (the DHT checked the signature against the subkey's
  // owner; the vouch must name that owner).
  std::map<node_id, std::string> by_peer;
  for (const auto& r : records) {
    auto owner = r.has_subkey ? dht::owner_of(r.subkey) : std::nullopt;
    if (!owner)
      continue;
    auto vouch = capnp_io::read<schema::StateVouch>(
      r.value, 1024, "state vouch",
      [](schema::StateVouch::Reader v) -> caf::expected<std::pair<std::string, std::pair<uint64_t, std::string>>> {
        return std::make_pair(std::string(capnp_io::as_view(v.getPeerId())),
                              std::make_pair(v.getEpoch(), std::string(capnp_io::as_view(v.getDigest()))));
      });
    if (!vouch || vouch->second.first != epoch)
      continue;
    auto peer = node_id::from_bytes(vouch->first);
    if (!peer || *peer != peer_id_of(*owner))
      continue;
    by_peer.emplace(*peer, vouch->second.second);
  }
  vouch_count c;
  std::map<std::string, size_t> per_digest;
  for (const auto& [peer, d] : by_peer) {
    c.total += 1;
    if (d == digest) {
      if (peer != holder)
        c.for_digest += 1;
    } else {
      per_digest[d] += 1;
    }
  }
  for (const auto& [_, n] : per_digest)
    c.best_other = std::max(c.best_other, n);
  return c;
}

} // namespace ttt::checkpoint
