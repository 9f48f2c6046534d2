#pragma once
// The dht_node actor: a thin shell around routing_table, record_store,
// lookup and validator that talks to other peers through its transport.

#include "actors/common/identity.hpp"
#include "actors/common/node_metrics.hpp"
#include "actors/dht/interface.hpp"
#include "actors/dht/record_store.hpp"
#include "actors/dht/validator.hpp"

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace ttt::storage {
class database;
}

namespace ttt::dht {

struct dht_config {
  identity self = identity::generate();
  std::string host; ///< advertised host; empty in client mode
  uint16_t port = 0;
  bool client_mode = false;
  size_t bucket_size = 20;  ///< k
  size_t alpha = 3;         ///< parallel requests per lookup
  size_t num_replicas = 5;  ///< nearest nodes a value is stored on
  caf::timespan rpc_timeout = std::chrono::seconds(3);
  caf::timespan refresh_interval = std::chrono::seconds(60); ///< bucket refresh and routing snapshot
  caf::timespan purge_interval = std::chrono::seconds(30);
  double bucket_stale_after = 600; ///< seconds without news before a bucket is refreshed
  /// Wall-clock seconds since the Unix epoch (expirations are absolute).
  std::function<double()> clock;
  /// Carries requests to other peers: answers (dht_call_atom, "HOST:PORT",
  /// expected peer id (20 raw bytes, or empty to trust whoever answers),
  /// request bytes) with (the responder's proved Ed25519 key, response
  /// bytes). The wire broker in a node, a simulated network in tests.
  caf::actor transport;
  /// Where records and known peers persist; null keeps everything in memory.
  storage::database* db = nullptr;
  validator rules = default_validator();
  /// Bounds on what this node stores for others (per key, per sender, in all).
  store_limits storage_limits;
  /// Routing-table entries per bucket from one /24 (IPv4) or /48 (IPv6)
  /// network; 0: no bound. Loopback addresses are exempt. An attacker's
  /// many identities from one network cannot fill a bucket (eclipse).
  size_t max_peers_per_subnet = 4;
  uint64_t seed = 0;
  /// One line per notable event.
  std::function<void(const std::string&)> log;
  /// This node's Prometheus figures (requests answered, operations started,
  /// routing table size); null: none kept.
  std::shared_ptr<node_metrics> metrics;
};

/// Spawns a dht_node. Loads records and known peers from `config.db`.
dht_actor spawn_dht_node(caf::actor_system& sys, dht_config config);

/// The wall clock that nodes use outside tests.
double wall_clock_seconds();

} // namespace ttt::dht
