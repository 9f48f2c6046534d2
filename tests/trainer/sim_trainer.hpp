#pragma once
// One trainer's wiring on the simulated network, as the trainer tests share
// it: its DHT node, averager and matchmaker, and a collaborative_config that
// reaches the other trainers' averagers through `handles`. Training settings
// (batch, epochs, pace, matchmaking) stay with the caller.
#include "actors/averager/interface.hpp"
#include "actors/averager/matchmaker.hpp"
#include "actors/trainer/collaborative.hpp"
#include "tests/dht/sim_network.hpp"

#include <map>
#include <memory>

namespace ttt::test {

using averager_handles = std::map<node_id, averaging::averager_peer>;

/// The peer at 10.0.0.1:`port` whose identity comes from `seed`.
inline trainer::collaborative_config sim_trainer_config(sim_network& net, uint16_t port, uint64_t seed,
                                                        std::shared_ptr<trainer::local_model> model,
                                                        const std::shared_ptr<averager_handles>& handles) {
  auto cfg = net.config(port, seed);
  auto node = net.spawn(cfg);
  net.bootstrap(node, {"10.0.0.1:1"});
  auto averager = net.adopt(averaging::spawn_averager(net.system(), std::string(cfg.self.id().raw())));
  (*handles)[cfg.self.id()] = caf::actor_cast<averaging::averager_peer>(averager);
  averaging::matchmaker_config mc;
  mc.dht = node;
  mc.self = cfg.self;
  mc.clock = [&net] { return net.now; };
  mc.poll_interval = std::chrono::milliseconds(200);
  auto matchmaker = net.adopt(averaging::spawn_matchmaker(net.system(), mc));
  trainer::collaborative_config tc;
  tc.model = std::move(model);
  tc.dht = node;
  tc.matchmaker = matchmaker;
  tc.averager = averager;
  tc.self = cfg.self;
  tc.declaration.host = "10.0.0.1";
  tc.declaration.port = port;
  tc.resolve = [handles](const averaging::declaration& d) { return handles->at(d.peer); };
  tc.clock = [&net] { return net.now; };
  return tc;
}

} // namespace ttt::test
