#pragma once
// The dht_node actor's typed interface.

#include "actors/common/types.hpp"
#include "actors/dht/types.hpp"

#include <caf/typed_actor.hpp>
#include <caf/replies_to.hpp>

#include <string>
#include <vector>

namespace ttt::dht {

using dht_actor = caf::typed_actor<
  // From other peers, through the wire: (the sender's Ed25519 key as proved
  // in its handshake, DhtRequest bytes) -> DhtResponse bytes.
  caf::replies_to<dht_rpc_atom, std::string, std::string>::with<std::string>,
  // Local API. store: true when at least one replica accepted the record; an
  // error when the record is invalid (bad signature, schema, expired).
  caf::replies_to<dht_store_atom, dht_record>::with<bool>,
  // get(key, latest): the unexpired records found; empty when none.
  caf::replies_to<dht_get_atom, std::string, bool>::with<dht_records>,
  // Joins through these [PEERID@]HOST:PORT addresses (and the peers saved in the
  // database); replies with the number of peers in the routing table.
  caf::replies_to<bootstrap_atom, std::vector<std::string>>::with<size_t>,
  // (own peer info, routing-table size, stored records)
  caf::replies_to<info_atom>::with<peer_info, size_t, size_t>,
  caf::reacts_to<refresh_atom>, caf::reacts_to<purge_atom>, caf::reacts_to<persist_atom>>;

} // namespace ttt::dht
