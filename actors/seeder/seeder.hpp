#pragma once
// The seeder role: serves the run's data files from one directory to every
// peer of the run (chunks of at most 512 KiB, data requests through the
// wire) and keeps its listing (name, size, BLAKE2b-256 of every file, and
// its address) in the DHT under "shards.<run id>", republished well before
// it expires. It lists its files once, at start: a file added later is
// served after a restart.

#include "actors/common/identity.hpp"
#include "actors/dht/interface.hpp"
#include "actors/seeder/interface.hpp"
#include "actors/seeder/shard_server.hpp"

#include <caf/fwd.hpp>

#include <functional>
#include <string>

namespace ttt::seeder {

struct seeder_config {
  std::string dir; ///< where the data files lie
  std::string run_id;
  identity self = identity::generate();
  std::string host; ///< where peers reach this node's wire
  uint16_t port = 0;
  dht::dht_actor dht;
  /// Wall-clock Unix seconds (expirations are absolute).
  std::function<double()> clock;
  /// Seconds a published listing lives; it is republished every third of it.
  double listing_lifetime = 600;
  std::function<void(const std::string&)> log;
  /// The tests' model of a corrupted transfer (shard_server::tamper_fn);
  /// never set by ttt itself.
  shard_server::tamper_fn tamper;
};

/// Spawns the seeder on a thread of its own: hashing its files at start and
/// reading them for every chunk is blocking I/O, kept off the scheduler.
/// Requests that arrive while it hashes wait for it.
seeder_actor spawn_seeder(caf::actor_system& sys, seeder_config config);

} // namespace ttt::seeder
