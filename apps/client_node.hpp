#pragma once
// A short-lived client-mode DHT node (it only dials out) for the commands
// that act on a swarm and leave: `ttt dht store|get`, `ttt run revoke`,
// `ttt data fetch`.

#include "actors/common/identity.hpp"
#include "actors/dht/interface.hpp"
#include "actors/wire/admission.hpp"
#include "apps/flags.hpp"

#include <caf/scoped_actor.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ttt::apps {

struct client_node_options {
  std::string run_id;
  identity self = identity::generate();
  /// Shown in the handshake (SignedCertificate bytes); empty: none, which a
  /// closed run's peers refuse.
  std::string certificate;
  /// The run's admission, applied to the peers this client reaches; null: none.
  std::shared_ptr<const wire::admission_policy> admission;
};

/// A client node's actors: its DHT node, and its wire for calls other than
/// the DHT's (data requests).
struct client_peer {
  dht::dht_actor dht;
  caf::actor wire;
};

/// Joins through `initial_peers` ([PEERID@]IP:PORT), runs `act` with the
/// node, leaves. 1 (after saying why on stderr, prefixed by `command`) when
/// no initial peer answers; otherwise what `act` returns.
int with_client_node(const client_node_options& options, const std::vector<std::string>& initial_peers,
                     const char* command, const std::function<int(caf::scoped_actor&, const client_peer&)>& act);
int with_client_node(const client_node_options& options, const std::vector<std::string>& initial_peers,
                     const char* command,
                     const std::function<int(caf::scoped_actor&, const dht::dht_actor&)>& act);

/// The flags every client command shares (--run, --manifest, --certificate,
/// --data-dir), after `own`.
std::vector<flag_spec> client_flags(std::vector<flag_spec> own);

/// The client's run, identity and certificate from those flags; nullopt
/// (after saying why on stderr) on bad input.
std::optional<client_node_options> client_options(const flag_parser& flags, const char* command);

/// The --initial-peer flags, resolved; nullopt (after saying why) when
/// missing or bad.
std::optional<std::vector<std::string>> check_peers(const flag_parser& flags, const char* command);

} // namespace ttt::apps
