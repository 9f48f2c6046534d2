#pragma once
// The seeder actor's typed interface.

#include "actors/common/types.hpp"

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <string>

namespace ttt::seeder {

using seeder_actor = caf::typed_actor<
    // From other peers, through the wire: (the sender's Ed25519 key as proved
    // in its handshake, DataRequest bytes) -> DataResponse bytes.
    caf::replies_to<data_rpc_atom, std::string, std::string>::with<std::string>,
    // Internal: lists the files (the first time) and publishes the listing.
    caf::reacts_to<seed_publish_atom>>;

} // namespace ttt::seeder
