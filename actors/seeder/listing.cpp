#include "actors/seeder/listing.hpp"

#include "actors/common/capnp_io.hpp"
#include "actors/dht/protocol.hpp"
#include "actors/dht/validator.hpp"
#include "actors/wire/transfer_capnp.hpp"

namespace ttt::seeder {

namespace {

constexpr size_t max_host_bytes = 255;

} // namespace

std::string encode(const shard_listing& listing) {
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<schema::ShardListing>();
  root.setPeerId(capnp_io::as_data(listing.peer.raw()));
  root.setHost(listing.host);
  root.setPort(listing.port);
  wire::write_entries(root.initFiles(static_cast<unsigned>(listing.files.size())), listing.files);
  return capnp_io::to_bytes(message);
}

caf::expected<shard_listing> decode_listing(std::string_view bytes) {
  return capnp_io::read<schema::ShardListing>(
      bytes, dht::protocol_limits::max_value_bytes, "shard listing",
      [](schema::ShardListing::Reader r) -> caf::expected<shard_listing> {
        auto id = node_id::from_bytes(capnp_io::as_view(r.getPeerId()));
        if (!id)
          return capnp_io::invalid("shard listing: peer id must be 20 bytes");
        if (r.getHost().size() > max_host_bytes)
          return capnp_io::invalid("shard listing: host too long");
        auto files = wire::read_entries(r.getFiles());
        if (!files)
          return files.error();
        return shard_listing{*id, std::string(r.getHost().begin(), r.getHost().size()), r.getPort(),
                             std::move(*files)};
      });
}

dht::dht_record listing_record(const identity& self, std::string_view run_id,
                               const shard_listing& listing, double expiration) {
  dht::dht_record rec;
  rec.key = shards_key(run_id);
  rec.subkey = dht::owner_marker(self.public_key());
  rec.has_subkey = true;
  rec.value = encode(listing);
  rec.expiration = expiration;
  dht::sign_record(rec, self);
  return rec;
}

std::vector<shard_listing> read_listings(const dht::dht_records& records) {
  std::vector<shard_listing> out;
  for (const auto& r : records) {
    auto owner = r.has_subkey ? dht::owner_of(r.subkey) : std::nullopt;
    if (!owner || !verify_signature(*owner, dht::signed_bytes(r), r.signature))
      continue;
    auto listing = decode_listing(r.value);
    if (!listing || peer_id_of(*owner) != listing->peer || listing->host.empty() ||
        listing->port == 0)
      continue;
    out.push_back(std::move(*listing));
  }
  return out;
}

} // namespace ttt::seeder
