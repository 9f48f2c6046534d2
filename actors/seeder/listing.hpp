#pragma once
// A seeder's listing in the DHT: under "shards.<run id>", one dictionary
// entry per seeder whose subkey is its owner marker, signed by it, holding
// where it listens and the files it serves (name, size, BLAKE2b-256). The
// DHT refuses an entry that is not a ShardListing or not signed by the
// owner its subkey names; a reader also checks that the listing names the
// same peer, so nobody advertises files on another seeder's behalf.

#include "actors/common/identity.hpp"
#include "actors/common/node_id.hpp"
#include "actors/dht/types.hpp"
#include "actors/wire/transfer.hpp"

#include <caf/expected.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace ttt::seeder {

using wire::shard_entry;

struct shard_listing {
  node_id peer;
  std::string host;
  uint16_t port = 0;
  std::vector<shard_entry> files;

  std::string address() const { return host + ":" + std::to_string(port); }
};

/// The DHT key of a run's listings.
inline std::string shards_key(std::string_view run_id) {
  return "shards." + std::string(run_id);
}

std::string encode(const shard_listing& listing);
/// A listing within bounds (wire::check_listing; a host of at most 255 bytes).
caf::expected<shard_listing> decode_listing(std::string_view bytes);

/// `listing` as the DHT entry of its seeder `self`, signed, expiring at `expiration`.
dht::dht_record listing_record(const identity& self, std::string_view run_id,
                               const shard_listing& listing, double expiration);

/// The listings among `records` (a get of shards_key) that decode, name the
/// peer whose owner marker is their subkey and are reachable; the rest are
/// left out.
std::vector<shard_listing> read_listings(const dht::dht_records& records);

} // namespace ttt::seeder
