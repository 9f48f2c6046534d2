#include "actors/dht/lookup.hpp"

namespace ttt::dht {

lookup::lookup(node_id self, node_id target, const std::vector<peer_info>& seeds, options opts)
  : self_(self), target_(target), opts_(opts), records_store_(nullptr, merge_limits(opts.k)) {
  for (const auto& p : seeds)
    add(p);
}

void lookup::add(const peer_info& p) {
  if (p.id == self_ || !p.reachable())
    return;
  candidates_.try_emplace(p.id.distance(target_), candidate{p});
}

std::vector<peer_info> lookup::next_queries() {
  std::vector<peer_info> out;
  if (done())
    return out;
  size_t considered = 0;
  for (auto& [_, c] : candidates_) {
    if (in_flight_ >= opts_.alpha || considered >= opts_.k)
      break;
    if (c.st == state::failed)
      continue;
    ++considered;
    if (c.st == state::fresh) {
      c.st = state::in_flight;
      ++in_flight_;
      out.push_back(c.peer);
    }
  }
  return out;
}

void lookup::on_response(const node_id& from, const find_result& result, double now) {
  auto it = candidates_.find(from.distance(target_));
  if (it == candidates_.end() || it->second.st != state::in_flight)
    return; // a late or unsolicited answer changes nothing
  it->second.st = state::responded;
  --in_flight_;
  if (opts_.find_value) {
    for (const auto& rec : result.records) {
      if (node_id::of_key(rec.key) != target_)
        continue; // an answer for another key: ignore, never merge
      auto outcome = records_store_.store(rec, now, from);
      if (outcome == record_store::outcome::stored || outcome == record_store::outcome::superseded) {
        it->second.had_value = true;
        records_.push_back(rec);
      }
    }
  }
  for (const auto& p : result.nearest)
    add(p);
}

void lookup::on_failure(const node_id& from) {
  auto it = candidates_.find(from.distance(target_));
  if (it == candidates_.end() || it->second.st != state::in_flight)
    return;
  it->second.st = state::failed;
  --in_flight_;
  failed_.push_back(from);
}

bool lookup::done() const {
  if (opts_.find_value && !opts_.latest && !records_.empty())
    return true;
  // Done when the k closest peers not known to have failed have all answered.
  size_t considered = 0;
  for (const auto& [_, c] : candidates_) {
    if (considered >= opts_.k)
      break;
    if (c.st == state::failed)
      continue;
    ++considered;
    if (c.st != state::responded)
      return false;
  }
  return true;
}

std::vector<peer_info> lookup::closest_responders(size_t count) const {
  std::vector<peer_info> out;
  for (const auto& [_, c] : candidates_) {
    if (out.size() >= count)
      break;
    if (c.st == state::responded)
      out.push_back(c.peer);
  }
  return out;
}

std::vector<peer_info> lookup::responders_without_value(size_t count) const {
  std::vector<peer_info> out;
  for (const auto& [_, c] : candidates_) {
    if (out.size() >= count)
      break;
    if (c.st == state::responded && !c.had_value)
      out.push_back(c.peer);
  }
  return out;
}

dht_records lookup::records(double now) const {
  return records_store_.get(target_, now);
}

} // namespace ttt::dht
