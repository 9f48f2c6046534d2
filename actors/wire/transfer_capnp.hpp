#pragma once
// A listing's Cap'n Proto form, for the two codecs that carry one: the
// wire's list response (transfer.cpp) and a seeder's DHT listing
// (actors/seeder/listing.cpp).

#include "actors/wire/transfer.hpp"
#include "schema/transfer.capnp.h"

namespace ttt::wire {

void write_entries(capnp::List<schema::ShardEntry>::Builder out,
                   const std::vector<shard_entry>& files);

/// The entries of `in`, checked as check_listing does; the count is checked
/// before anything is copied.
caf::expected<std::vector<shard_entry>> read_entries(capnp::List<schema::ShardEntry>::Reader in);

} // namespace ttt::wire
