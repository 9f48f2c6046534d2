#pragma once
// The steps both trainer actors (hivemind mode, DiLoCo) take alike, written
// once over their state: it has `cfg` (a collaborative_config), `local()`,
// `now()`, `signed_record(...)` and `next_report`. Internal to actors/trainer.

#include "actors/common/describe.hpp"
#include "actors/common/types.hpp"
#include "actors/trainer/clip_reports.hpp"
#include "actors/trainer/collaborative.hpp"

#include <caf/event_based_actor.hpp>

#include <cstdio>
#include <limits>
#include <optional>
#include <vector>

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

/// The model's score after `epoch` (counted from 0) when one is due every
/// `cfg.eval_every` epochs, logged; NaN otherwise or when its data has no test.
inline double evaluate_if_due(const collaborative_config& cfg, uint64_t epoch) {
  if (cfg.eval_every == 0 || (epoch + 1) % cfg.eval_every != 0)
    return std::numeric_limits<double>::quiet_NaN();
  auto score = cfg.model->evaluate();
  if (!score)
    return std::numeric_limits<double>::quiet_NaN();
  char line[96];
  std::snprintf(line, sizeof(line), "epoch %llu: eval score %.3f", static_cast<unsigned long long>(epoch), *score);
  cfg.log(line);
  return *score;
}

/// A round with `group` (values, weight and codecs left to the caller); none
/// when the group does not list this peer.
inline std::optional<averaging::round_request> group_round(const collaborative_config& cfg,
                                                           const averaging::announcement& group) {
  auto me = group.index_of(cfg.self.id());
  if (!me)
    return std::nullopt;
  averaging::round_request req;
  req.group = group.group();
  req.self_index = *me;
  bool client = cfg.declaration.host.empty();
  for (size_t i = 0; i < group.members.size(); ++i) {
    // Connect only to members before us (a client to everyone): the others
    // connect to us, so two peers never open crossing connections.
    bool connect = i != *me && (client || i < *me);
    req.handles.push_back(connect ? cfg.resolve(group.members[i]) : averaging::averager_peer{});
  }
  req.config = cfg.round;
  return req;
}

/// The clip counts a round came back with (the averager's tally, by member
/// index of `group`), by peer id.
inline std::vector<metrics::clipped_peer> clip_counts_of(const averaging::announcement& group,
                                                          const averaging::round_result& result) {
  std::vector<metrics::clipped_peer> out;
  for (const auto& c : result.clip_counts)
    if (c.member < group.members.size())
      out.push_back({group.members[c.member].peer, c.clipped, c.rounds, c.dropped});
  return out;
}

} // namespace ttt::trainer
