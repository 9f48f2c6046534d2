#include "actors/checkpointer/checkpointer.hpp"

#include "actors/checkpointer/checkpoint_store.hpp"
#include "actors/common/describe.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <memory>

#include <set>

namespace ttt::checkpoint {

namespace {

struct checkpointer_state {
  static inline const char* name = "checkpointer";
  checkpointer_config cfg;
  std::unique_ptr<checkpoint_store> store;
  uint64_t held_epoch = 0; ///< follow mode: the epoch of the state served (0: none)
  bool has_state = false;
  bool fetching = false;
  distrust_list distrusted; ///< holders that served state nobody vouched for
};

using self_ptr = checkpointer_actor::stateful_pointer<checkpointer_state>;

bool write(self_ptr self, const checkpoint_request& req) {
  auto& st = self->state;
  checkpoint_meta meta;
  meta.epoch = req.state.epoch;
  meta.samples = req.samples;
  meta.loss = req.loss;
  meta.time = st.cfg.clock();
  auto saved = st.store->save(std::move(meta), req.state.files);
  if (!saved) {
    st.cfg.log("checkpoint of epoch " + std::to_string(req.state.epoch) + " failed: " +
               describe(saved.error()));
    return false;
  }
  st.cfg.log("checkpoint " + saved->path + " written (epoch " + std::to_string(saved->epoch) + ")");
  if (st.cfg.on_checkpoint)
    st.cfg.on_checkpoint(*saved);
  return true;
}

/// Follow mode: serve `blob` (state of `epoch`) and advertise it.
void serve(self_ptr self, uint64_t epoch, std::string blob) {
  auto& st = self->state;
  st.held_epoch = epoch;
  st.has_state = true;
  self->request(st.cfg.averager, caf::infinite, avg_serve_atom_v, epoch, std::move(blob))
    .then([](bool) {}, [](caf::error&) {});
  if (st.cfg.host.empty())
    return;
  auto rec = advert_record(st.cfg.run_id, st.cfg.self, st.cfg.host, st.cfg.port, epoch,
                           st.cfg.clock(), st.cfg.advert_lifetime);
  self->request(st.cfg.dht, caf::infinite, dht_store_atom_v, rec).then([](bool) {}, [](caf::error&) {});
}

void poll(self_ptr self) {
  auto& st = self->state;
  self->delayed_send(self, st.cfg.poll_interval, ckpt_poll_atom_v);
  if (st.has_state && !st.cfg.host.empty()) { // refresh the advert before it expires
    auto rec = advert_record(st.cfg.run_id, st.cfg.self, st.cfg.host, st.cfg.port, st.held_epoch,
                             st.cfg.clock(), st.cfg.advert_lifetime);
    self->request(st.cfg.dht, caf::infinite, dht_store_atom_v, rec).then([](bool) {}, [](caf::error&) {});
  }
  if (st.fetching)
    return;
  st.fetching = true;
  uint64_t wanted = st.has_state ? st.held_epoch + std::max<uint64_t>(st.cfg.every, 1) : 1;
  self->request(st.cfg.dht, caf::infinite, dht_get_atom_v, averaging::state_key(st.cfg.run_id), true)
    .then(
      [self, wanted](dht::dht_records& records) {
        auto& st = self->state;
        averaging::fetch_request req;
        req.holders = resolve_holders(records, st.cfg.self.id(), wanted, st.cfg.resolve,
                                      st.distrusted.at(st.cfg.clock()));
        // Who else is in the swarm, as far as an aux peer sees: the holders.
        std::set<node_id> advertisers;
        for (const auto& advert : averaging::best_holders(records))
          if (advert.peer != st.cfg.self.id())
            advertisers.insert(advert.peer);
        if (req.holders.empty()) {
          st.fetching = false;
          return;
        }
        auto holders = req.holders;
        self->request(st.cfg.averager, caf::infinite, avg_fetch_atom_v, std::move(req))
          .then(
            [self, holders, advertisers](averaging::fetched_state& fetched) {
              auto& st = self->state;
              auto state = decode_training_state(fetched.blob);
              if (!state || state->epoch != fetched.epoch) {
                st.fetching = false;
                st.cfg.log("downloaded state is unusable: " +
                           (state ? std::string("epoch disagrees with the advert")
                                  : describe(state.error())));
                return;
              }
              auto holder = holders.at(fetched.holder).peer;
              auto digest = state_digest(*state);
              // A checkpoint is never replaced by state nobody else vouches for.
              self->request(st.cfg.dht, caf::infinite, dht_get_atom_v, vouch_key(st.cfg.run_id, state->epoch), true)
                .then(
                  [self, holder, digest, advertisers, state = std::move(*state),
                   blob = std::move(fetched.blob)](dht::dht_records& vouches) {
                    auto& st = self->state;
                    st.fetching = false;
                    auto count = count_vouches(vouches, state.epoch, digest, holder);
                    auto quorum = quorum_among(st.cfg.vouch_quorum, advertisers.size() - 1);
                    if (!vouched(count, quorum)) {
                      st.distrusted.add(holder, st.cfg.clock() + 6 * std::chrono::duration<double>(
                                                                      st.cfg.poll_interval).count());
                      st.cfg.log("refused the state of epoch " + std::to_string(state.epoch) + " from " +
                                 holder.to_hex().substr(0, 12) + ": not vouched for (" +
                                 std::to_string(count.for_digest) + " other peers vouch for it, quorum " +
                                 std::to_string(quorum) + ")");
                      return;
                    }
                    st.cfg.log("downloaded the swarm's state of epoch " + std::to_string(state.epoch));
                    checkpoint_request req;
                    req.samples = 0;
                    req.loss = 0;
                    req.state = state;
                    if (due(req.state.epoch, st.cfg.every))
                      write(self, req);
                    serve(self, state.epoch, blob);
                  },
                  [self](caf::error&) { self->state.fetching = false; });
            },
            [self](caf::error& err) {
              self->state.fetching = false;
              self->state.cfg.log("cannot download the swarm's state: " + describe(err));
            });
      },
      [self](caf::error&) { self->state.fetching = false; });
}

checkpointer_actor::behavior_type checkpointer_impl(self_ptr self, checkpointer_config cfg) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  if (!st.cfg.log)
    st.cfg.log = [](const std::string&) {};
  st.store = std::make_unique<checkpoint_store>(st.cfg.db, st.cfg.root, st.cfg.keep, st.cfg.log);
  st.store->remove_unindexed();
  if (st.cfg.follow) {
    // Serve the newest own checkpoint at once: a restarted aux peer is a
    // holder again before anything new is downloaded.
    auto latest = st.store->latest_valid();
    if (latest.found) {
      st.cfg.log("serving checkpoint " + latest.meta.path + " (epoch " +
                 std::to_string(latest.meta.epoch) + ")");
      if (st.cfg.on_checkpoint)
        st.cfg.on_checkpoint(latest.meta);
      serve(self, latest.meta.epoch, encode(training_state{latest.meta.epoch, std::move(latest.files)}));
    }
    self->send(self, ckpt_poll_atom_v);
  }
  return {
    [self](ckpt_save_atom, const checkpoint_request& req) -> bool {
      if (!due(req.state.epoch, self->state.cfg.every))
        return false;
      return write(self, req);
    },
    [self](ckpt_load_atom) -> loaded_checkpoint { return self->state.store->latest_valid(); },
    [self](ckpt_poll_atom) { poll(self); },
  };
}

} // namespace

checkpointer_actor spawn_checkpointer(caf::actor_system& sys, checkpointer_config config) {
  if (config.detached)
    return sys.spawn<caf::detached>(checkpointer_impl, std::move(config));
  return sys.spawn(checkpointer_impl, std::move(config));
}

} // namespace ttt::checkpoint
