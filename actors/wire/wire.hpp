#pragma once
// The wire broker: the one actor of a peer that owns sockets. It listens
// (unless the node is in client mode), dials peers without blocking, runs
// each connection's session (actors/wire/session.hpp), enforces the limits
// below, and hands every authenticated frame to the local actor that owns
// its kind, with the peer id proved in the handshake as its sender:
//
//   dht-request   -> the dht_node: (dht_rpc_atom, sender's public key, bytes),
//                    its answer goes back on the same connection
//   averaging     -> the averager: (avg_rpc_atom, sender's peer id, bytes),
//                    sent by the peer's proxy actor (below)
//   data-request  -> the seeder: (data_rpc_atom, sender's public key, bytes),
//                    its answer goes back on the same connection; a node
//                    without a seeder answers with an error response
//
// Nothing from the network is ever a CAF message: a peer reaches nothing
// but these three entry points, and only as itself.
//
// Local API (messages from this process's actors only):
//   (dht_call_atom, "HOST:PORT", expected peer id (20 raw bytes or empty),
//    DhtRequest bytes) -> (responder's Ed25519 key, DhtResponse bytes)
//   (data_call_atom, "HOST:PORT", expected peer id, DataRequest bytes)
//    -> (responder's Ed25519 key, DataResponse bytes), as dht_call
//   (wire_peer_atom, peer id (20 raw bytes), "HOST:PORT" or "")
//    -> averager_peer: the proxy that stands for that peer's averager. The
//       proxy forwards what the averager sends it to the peer (dialling its
//       address when there is no connection), delivers what the peer sends,
//       and exits when the last connection to the peer closes or cannot be
//       made, so that the averager's monitor sees the peer go.
//   (wire_connect_atom, peer id, "HOST:PORT") -> true once a session with
//    that peer is established (dialling it unless one exists): a benchmark
//    connects before it starts its clock.
//   (wire_routes_atom, dht actor, averager actor): where frames go.
//   (wire_seeder_atom, seeder actor): where data requests go.
//   (wire_stats_atom) -> (connections, authenticated, unauthenticated)
//   (wire_revoke_atom, SignedRevocation bytes) -> true when it revokes a key
//    not revoked before; an error when it is not the run authority's. In a
//    closed run the revoked peer's connections close and its handshakes
//    are refused from then on.
//   (wire_names_atom) -> map of peer id (40 hex digits) -> the name its
//    certificate proved, for every peer that showed a valid one

#include "actors/common/identity.hpp"
#include "actors/wire/admission.hpp"
#include "actors/wire/limits.hpp"

#include <caf/actor.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

namespace ttt::wire {

struct wire_config {
  identity self = identity::generate();
  std::string run_id;
  wire_limits limits;
  /// A listening socket from listen(); -1 in client mode (dials only).
  int listen_fd = -1;
  /// One line per notable event (refusals are rate-limited).
  std::function<void(const std::string&)> log;
  /// The run's admission (actors/wire/admission.hpp); null admits every
  /// authenticated peer of the run, as an open run does.
  std::shared_ptr<const admission_policy> admission;
  /// This node's certificate of the run (SignedCertificate bytes), shown in
  /// every handshake; empty: none.
  std::string certificate;
  /// Wall-clock Unix seconds, which certificates are checked against; the
  /// system clock when not given.
  std::function<double()> clock;
};

/// Opens a non-blocking listening TCP socket on host:port (port 0: any);
/// (socket, port) or an error.
caf::expected<std::pair<int, uint16_t>> listen(const std::string& host, uint16_t port);

/// "HOST:PORT" with a numeric IPv4 or IPv6 host -> (host, port).
caf::expected<std::pair<std::string, uint16_t>> split_address(const std::string& address);

/// Spawns the broker (on the middleman's I/O thread).
caf::actor spawn_wire(caf::actor_system& sys, wire_config config);

} // namespace ttt::wire
