#pragma once
// Many dht_node actors in one actor system under CAF's test coordinator,
// joined by a simulated network: each node's transport answers its
// (dht_call_atom, address, expected id, request) like the wire does, from a
// table of addresses, with the caller's key as the proved sender.
// Deterministic: no threads, no sockets, simulated time.

#include "actors/dht/dht_node.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/send.hpp>

#include <map>
#include <memory>
#include <optional>
#include <set>

namespace ttt::test {

struct sim_config : caf::actor_system_config {
  sim_config() {
    set("scheduler.policy", caf::atom("testing"));
    set("logger.verbosity", caf::atom("quiet"));
    add_message_types<caf::id_block::ttt>();
  }
};

class sim_network {
public:
  /// A node reachable at an address: its actor and its public key.
  struct sim_peer {
    caf::actor node;
    std::string public_key;
  };
  using peer_table = std::map<std::string, sim_peer>;

  sim_network()
    : sys_(cfg_), sched_(dynamic_cast<caf::scheduler::test_coordinator&>(sys_.scheduler())),
      peers_(std::make_shared<peer_table>()) {
    settle();
  }

  ~sim_network() {
    for (auto& node : all_)
      caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
    settle();
  }

  /// The transport of the node whose key is `caller_key`: delivers its
  /// requests to the node at the address, as the wire would.
  caf::actor transport(std::string caller_key) {
    auto peers = peers_;
    auto t = sys_.spawn([peers, caller_key](caf::event_based_actor* self) -> caf::behavior {
      return {
        [self, peers, caller_key](dht_call_atom, const std::string& address, const std::string& expected,
                                  const std::string& bytes) -> caf::result<std::string, std::string> {
          auto it = peers->find(address);
          if (it == peers->end())
            return caf::make_error(caf::sec::cannot_connect_to_node);
          auto target = it->second;
          if (!expected.empty() && peer_id_of(target.public_key).raw() != expected)
            return caf::make_error(caf::sec::invalid_argument, std::string("a different peer answered"));
          auto rp = self->make_response_promise<std::string, std::string>();
          self->request(target.node, caf::infinite, dht_rpc_atom_v, caller_key, bytes)
            .then([rp, target](std::string& reply) mutable { rp.deliver(target.public_key, reply); },
                  [rp](caf::error& err) mutable { rp.deliver(err); });
          return rp;
        },
      };
    });
    all_.push_back(t);
    return t;
  }

  /// Simulated wall clock, in seconds.
  double now = 1'700'000'000.0;

  /// A node config wired to this network; `port` 0 makes a client-mode node.
  dht::dht_config config(uint16_t port, uint64_t seed) {
    dht::dht_config c;
    std::string s(32, '\0');
    for (size_t i = 0; i < 8; ++i)
      s[i] = static_cast<char>(seed >> (8 * i));
    c.self = identity::from_seed(s);
    c.client_mode = port == 0;
    c.host = c.client_mode ? "" : "10.0.0.1";
    c.port = port;
    c.max_peers_per_subnet = 0; // every simulated node shares one host
    c.clock = [this] { return now; };
    c.seed = seed;
    c.log = [this](const std::string& line) { log.push_back(line); };
    return c;
  }

  /// Spawns a node; its transport (unless the test gave one) speaks with
  /// the node's final identity.
  dht::dht_actor spawn(dht::dht_config c) {
    if (!c.transport)
      c.transport = transport(c.self.public_key());
    auto node = dht::spawn_dht_node(sys_, c);
    all_.push_back(caf::actor_cast<caf::actor>(node));
    if (!c.client_mode)
      (*peers_)[c.host + ":" + std::to_string(c.port)] = {caf::actor_cast<caf::actor>(node),
                                                          c.self.public_key()};
    settle();
    return node;
  }

  /// Stops `actor` with the network (actors the test spawned itself).
  template <class Handle>
  Handle adopt(Handle actor) {
    all_.push_back(caf::actor_cast<caf::actor>(actor));
    return actor;
  }

  void kill(const dht::dht_actor& node) {
    caf::anon_send_exit(node, caf::exit_reason::kill);
    settle();
  }

  /// Runs every ready message; with `fire_timeouts`, also fires pending
  /// timeouts (request timeouts, periodic timers) until nothing is left to do.
  void settle(bool fire_timeouts = false) {
    for (int round = 0; round < 100; ++round) {
      sched_.run();
      if (!fire_timeouts || !sched_.trigger_timeouts())
        return;
    }
  }

  /// Sends a request from a throwaway actor and returns the answer (or the
  /// error) once the system settled; nullopt if no answer came.
  template <class Result, class Handle, class... Ts>
  std::optional<caf::expected<Result>> ask(const Handle& dest, Ts... xs) {
    auto out = std::make_shared<std::optional<caf::expected<Result>>>();
    auto target = caf::actor_cast<caf::actor>(dest);
    sys_.spawn([=](caf::event_based_actor* self) {
      self->request(target, caf::infinite, xs...)
        .then([=](Result& r) { *out = std::move(r); }, [=](caf::error& e) { *out = std::move(e); });
    });
    settle();
    return *out;
  }

  std::optional<caf::expected<bool>> store(const dht::dht_actor& node, const dht::dht_record& r) {
    return ask<bool>(node, dht_store_atom_v, r);
  }

  dht::dht_records get(const dht::dht_actor& node, const std::string& key, bool latest = false) {
    auto r = ask<dht::dht_records>(node, dht_get_atom_v, key, latest);
    if (!r || !*r)
      return {};
    return **r;
  }

  size_t bootstrap(const dht::dht_actor& node, std::vector<std::string> addresses) {
    auto r = ask<size_t>(node, bootstrap_atom_v, std::move(addresses));
    return r && *r ? **r : 0;
  }

  caf::actor_system& system() { return sys_; }
  caf::scheduler::test_coordinator& sched() { return sched_; }

  std::vector<std::string> log;

private:
  sim_config cfg_;
  caf::actor_system sys_;
  caf::scheduler::test_coordinator& sched_;
  std::shared_ptr<peer_table> peers_;
  std::vector<caf::actor> all_; ///< every node spawned, stopped at the end
};

} // namespace ttt::test
