#pragma once
// The project's one CAF type-ID block: every atom and every message type that
// an actor of ttt sends. Cross-peer payloads are Cap'n Proto bytes carried as
// std::string, so no peer ever drives CAF's deserializer with rich types.

#include <caf/type_id.hpp>
#include <caf/atom.hpp>

#include <string>
#include <vector>

CAF_BEGIN_TYPE_ID_BLOCK(ttt, caf::first_custom_type_id)

  // -- DHT (actors/dht) ------------------------------------------------------
  CAF_ADD_ATOM(ttt, ttt, dht_rpc_atom, "dhtrpc")     // cross-peer: DhtRequest bytes -> DhtResponse bytes
  CAF_ADD_ATOM(ttt, ttt, dht_store_atom, "dhtstore") // local API
  CAF_ADD_ATOM(ttt, ttt, dht_get_atom, "dhtget")     // local API
  CAF_ADD_ATOM(ttt, ttt, bootstrap_atom, "bootstrap")
  CAF_ADD_ATOM(ttt, ttt, refresh_atom, "refresh")
  CAF_ADD_ATOM(ttt, ttt, purge_atom, "purge")
  CAF_ADD_ATOM(ttt, ttt, info_atom, "info")

  // -- averaging (actors/averager) -------------------------------------------
  CAF_ADD_ATOM(ttt, ttt, avg_rpc_atom, "avgrpc")     // cross-peer: averaging message bytes

CAF_END_TYPE_ID_BLOCK(ttt)
