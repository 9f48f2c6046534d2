#include "actors/trainer/clip_reports.hpp"

#include <algorithm>

namespace ttt::trainer {

void clip_reports::record(const std::vector<metrics::clipped_peer>& counts) {
  rounds_ += 1;
  for (const auto& c : counts) {
    if (c.clipped_rounds == 0 && !c.dropped)
      peers_.erase(c.peer); // its window holds no clipping any more
    else
      peers_[c.peer] = entry{c, rounds_};
  }
  for (auto it = peers_.begin(); it != peers_.end();) {
    bool stale = !it->second.counts.dropped &&
                 rounds_ - it->second.last_round > policy_.forget_after_rounds;
    it = stale ? peers_.erase(it) : std::next(it);
  }
  // Bounded memory: the longest unseen go first, peers still clipped before dropped ones.
  while (peers_.size() > policy_.max_kept) {
    auto victim = std::min_element(peers_.begin(), peers_.end(), [](const auto& a, const auto& b) {
      if (a.second.counts.dropped != b.second.counts.dropped)
        return !a.second.counts.dropped;
      return a.second.last_round < b.second.last_round;
    });
    peers_.erase(victim);
  }
}

std::vector<metrics::clipped_peer> clip_reports::report(size_t max_entries) const {
  std::vector<const entry*> ranked;
  for (const auto& [peer, e] : peers_)
    ranked.push_back(&e);
  std::sort(ranked.begin(), ranked.end(), [](const entry* a, const entry* b) {
    if (a->counts.clipped_rounds != b->counts.clipped_rounds)
      return a->counts.clipped_rounds > b->counts.clipped_rounds;
    if (a->counts.dropped != b->counts.dropped)
      return a->counts.dropped;
    if (a->last_round != b->last_round)
      return a->last_round > b->last_round;
    return a->counts.peer < b->counts.peer;
  });
  std::vector<metrics::clipped_peer> out;
  for (size_t i = 0; i < ranked.size() && i < max_entries; ++i)
    out.push_back(ranked[i]->counts);
  return out;
}

} // namespace ttt::trainer
