#pragma once
// The steps both trainer actors (hivemind mode, DiLoCo) take alike, written
// once over their state: it has `cfg` (a collaborative_config), `local()`,
// `now()`, `signed_record(...)` and `next_report`. Internal to actors/trainer.

#include "actors/common/describe.hpp"
#include "actors/common/types.hpp"
#include "actors/trainer/collaborative.hpp"

#include <caf/event_based_actor.hpp>

namespace ttt::trainer {

/// The next micro-batch: at once, or after the configured pace.
template <class Self>
void schedule_tick(Self self) {
  auto& st = self->state;
  if (st.cfg.pace.count() > 0)
    self->delayed_send(self, st.cfg.pace, trn_tick_atom_v);
  else
    self->send(self, trn_tick_atom_v);
}

/// This peer's signed progress record into the DHT.
template <class Self>
void publish_progress(Self self) {
  auto& st = self->state;
  auto rec = st.signed_record(progress_key(st.cfg.run_id), encode(st.local()), st.cfg.progress.report_lifetime);
  self->request(st.cfg.dht, caf::infinite, dht_store_atom_v, rec).then([](bool) {}, [self](caf::error& err) {
    self->state.cfg.log("cannot publish progress: " + describe(err));
  });
  st.next_report = st.now() + st.cfg.progress.min_refresh_period;
}

} // namespace ttt::trainer
