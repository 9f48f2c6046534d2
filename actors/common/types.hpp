#pragma once
// The project's one CAF type-ID block: every atom and every message type that
// an actor of ttt sends. No CAF message ever crosses machines: peers speak
// ttt's wire protocol (actors/wire, docs/PROTOCOL.md), whose broker hands
// each authenticated frame's Cap'n Proto bytes to the local actor that owns
// its kind.

#include "actors/dht/types.hpp"

#include <caf/atom.hpp>
#include <caf/type_id.hpp>

#include <map>
#include <string>
#include <vector>

CAF_BEGIN_TYPE_ID_BLOCK(ttt, caf::first_custom_type_id)

  // -- DHT (actors/dht) ------------------------------------------------------
  CAF_ADD_TYPE_ID(ttt, (ttt::dht::peer_info))
  CAF_ADD_TYPE_ID(ttt, (ttt::dht::dht_record))
  CAF_ADD_TYPE_ID(ttt, (std::vector<ttt::dht::dht_record>))
  CAF_ADD_ATOM(ttt, ttt, dht_rpc_atom, "dhtrpc")     // from the wire: (sender key, DhtRequest bytes) -> DhtResponse bytes
  CAF_ADD_ATOM(ttt, ttt, dht_call_atom, "dhtcall")   // to the wire: a DHT request to a peer -> (its key, response bytes)
  CAF_ADD_ATOM(ttt, ttt, dht_store_atom, "dhtstore") // local API
  CAF_ADD_ATOM(ttt, ttt, dht_get_atom, "dhtget")     // local API
  CAF_ADD_ATOM(ttt, ttt, bootstrap_atom, "bootstrap")
  CAF_ADD_ATOM(ttt, ttt, refresh_atom, "refresh")
  CAF_ADD_ATOM(ttt, ttt, purge_atom, "purge")
  CAF_ADD_ATOM(ttt, ttt, info_atom, "info")
  CAF_ADD_ATOM(ttt, ttt, persist_atom, "persist")

  // -- averaging (actors/averager) -------------------------------------------
  CAF_ADD_ATOM(ttt, ttt, avg_rpc_atom, "avgrpc")     // cross-peer: averaging message bytes
  CAF_ADD_ATOM(ttt, ttt, avg_run_atom, "avgrun")     // local API: run one all-reduce round
  CAF_ADD_ATOM(ttt, ttt, avg_serve_atom, "avgserve") // local API: hold state to serve to newcomers
  CAF_ADD_ATOM(ttt, ttt, avg_fetch_atom, "avgfetch") // local API: download state from holders
  CAF_ADD_ATOM(ttt, ttt, avg_tick_atom, "avgtick")   // internal: timeouts of one round / download
  CAF_ADD_ATOM(ttt, ttt, avg_pump_atom, "avgpump")   // internal: send a round's next parts

  // -- the wire (actors/wire): local only, nothing here crosses machines ----
  CAF_ADD_ATOM(ttt, ttt, wire_peer_atom, "wirepeer")   // local API: the proxy of a peer's averager
  CAF_ADD_ATOM(ttt, ttt, wire_routes_atom, "wireroute") // local API: the actors that own each frame kind
  CAF_ADD_ATOM(ttt, ttt, wire_connect_atom, "wireconn") // local API: connect to a peer now
  CAF_ADD_ATOM(ttt, ttt, wire_stats_atom, "wirestats") // local API: connection counts
  CAF_ADD_ATOM(ttt, ttt, wire_send_atom, "wiresend")   // internal: a proxy's bytes to its peer
  CAF_ADD_ATOM(ttt, ttt, wire_in_atom, "wirein")       // internal: a peer's bytes to its proxy
  CAF_ADD_ATOM(ttt, ttt, wire_ack_atom, "wireack")     // internal: the averager took a peer's bytes
  CAF_ADD_ATOM(ttt, ttt, wire_tick_atom, "wiretick")   // internal: timeouts and budgets
  CAF_ADD_ATOM(ttt, ttt, wire_revoke_atom, "wirerevoke") // local API: a signed revocation of the run's authority
  CAF_ADD_ATOM(ttt, ttt, wire_names_atom, "wirenames")   // local API: peer id (hex) -> name its certificate proved
  CAF_ADD_ATOM(ttt, ttt, wire_seeder_atom, "wireseed")   // local API: the seeder that answers data requests
  CAF_ADD_TYPE_ID(ttt, (std::map<std::string, std::string>))

  // -- admission (apps/run_admission) ---------------------------------------
  CAF_ADD_ATOM(ttt, ttt, revoke_poll_atom, "rvkpoll")  // internal: read the run's revocations from the DHT again

  // -- matchmaking (actors/averager/matchmaker) -----------------------------
  CAF_ADD_ATOM(ttt, ttt, avg_match_atom, "avgmatch")  // local API: find a group for a round
  CAF_ADD_ATOM(ttt, ttt, avg_mtick_atom, "avgmtick")  // internal: look at the DHT again

  // -- metrics (actors/metrics) ----------------------------------------------
  CAF_ADD_ATOM(ttt, ttt, mon_poll_atom, "monpoll")    // internal: aggregate the swarm's metrics now

  // -- trainer (actors/trainer) ----------------------------------------------
  CAF_ADD_ATOM(ttt, ttt, trn_tick_atom, "trntick")    // internal: run the next micro-batch

  // -- data (actors/seeder) -------------------------------------------------
  CAF_ADD_ATOM(ttt, ttt, data_rpc_atom, "datarpc")    // from the wire: (sender key, DataRequest bytes) -> DataResponse bytes
  CAF_ADD_ATOM(ttt, ttt, data_call_atom, "datacall")  // to the wire: a data request to a peer -> (its key, response bytes)
  CAF_ADD_ATOM(ttt, ttt, seed_publish_atom, "seedpub") // internal: list the files (once) and publish the listing

  // -- checkpointer (actors/checkpointer) ------------------------------------
  CAF_ADD_ATOM(ttt, ttt, ckpt_save_atom, "ckptsave")  // local API: checkpoint this state if due
  CAF_ADD_ATOM(ttt, ttt, ckpt_load_atom, "ckptload")  // local API: the newest valid checkpoint
  CAF_ADD_ATOM(ttt, ttt, ckpt_poll_atom, "ckptpoll")  // internal: follow the swarm's state adverts

CAF_END_TYPE_ID_BLOCK(ttt)
