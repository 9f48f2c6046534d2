#pragma once
// Many dht_node actors in one actor system under CAF's test coordinator,
// joined by a simulated network: a connector actor that answers
// (connect_atom, host, port) like the middleman does, from a table of
// addresses. Deterministic: no threads, no sockets, simulated time.

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
  sim_network()
    : sys_(cfg_), sched_(dynamic_cast<caf::scheduler::test_coordinator&>(sys_.scheduler())),
      peers_(std::make_shared<std::map<std::string, caf::actor>>()) {
    auto peers = peers_;
    connector_ = sys_.spawn([peers](caf::event_based_actor*) -> caf::behavior {
      return {
        [peers](caf::connect_atom, const std::string& host, uint16_t port)
          -> caf::result<caf::node_id, caf::strong_actor_ptr, std::set<std::string>> {
          auto it = peers->find(host + ":" + std::to_string(port));
          if (it == peers->end())
            return caf::make_error(caf::sec::cannot_connect_to_node);
          return {caf::node_id{}, caf::actor_cast<caf::strong_actor_ptr>(it->second),
                  std::set<std::string>{}};
        },
      };
    });
    settle();
  }

  ~sim_network() {
    for (auto& node : all_)
      caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(connector_, caf::exit_reason::user_shutdown);
    settle();
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
    c.connector = connector_;
    c.clock = [this] { return now; };
    c.seed = seed;
    c.log = [this](const std::string& line) { log.push_back(line); };
    return c;
  }

  dht::dht_actor spawn(dht::dht_config c) {
    auto node = dht::spawn_dht_node(sys_, c);
    all_.push_back(caf::actor_cast<caf::actor>(node));
    if (!c.client_mode)
      (*peers_)[c.host + ":" + std::to_string(c.port)] = caf::actor_cast<caf::actor>(node);
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
  caf::actor connector_;
  std::shared_ptr<std::map<std::string, caf::actor>> peers_;
  std::vector<caf::actor> all_; ///< every node spawned, stopped at the end
};

} // namespace ttt::test
