#include "actors/averager/clip_tally.hpp"

#include <algorithm>
#include <cctype>

namespace ttt::averaging {

std::vector<std::string> clip_tally::record(const std::vector<std::string>& judged,
                                            const std::vector<std::string>& clipped) {
  std::vector<std::string> newly_dropped;
  rounds_ += 1;
  std::set<std::string> seen(judged.begin(), judged.end());
  std::set<std::string> cut(clipped.begin(), clipped.end());
  for (const auto& peer : seen) {
    auto& h = peers_[peer];
    h.last_seen = rounds_;
    h.clipped.push_back(cut.count(peer) > 0);
    while (h.clipped.size() > std::max<uint32_t>(1, policy_.window_rounds))
      h.clipped.pop_front();
    auto times = static_cast<uint32_t>(std::count(h.clipped.begin(), h.clipped.end(), true));
    if (policy_.drop_after > 0 && times >= policy_.drop_after && dropped_.insert(peer).second)
      newly_dropped.push_back(peer);
  }
  // Bounded memory: forget the longest unseen peers that were not dropped.
  while (peers_.size() > policy_.max_peers) {
    auto oldest = peers_.end();
    for (auto it = peers_.begin(); it != peers_.end(); ++it)
      if (!dropped_.count(it->first) && (oldest == peers_.end() || it->second.last_seen < oldest->second.last_seen))
        oldest = it;
    if (oldest == peers_.end())
      break;
    peers_.erase(oldest);
  }
  return newly_dropped;
}

std::optional<clip_tally::count> clip_tally::counts(std::string_view peer) const {
  auto it = peers_.find(peer);
  if (it == peers_.end())
    return std::nullopt;
  count c;
  c.rounds = static_cast<uint32_t>(it->second.clipped.size());
  c.clipped = static_cast<uint32_t>(std::count(it->second.clipped.begin(), it->second.clipped.end(), true));
  return c;
}

std::string clip_tally::drop_message(std::string_view peer) const {
  auto c = counts(peer).value_or(count{});
  return "peer " + printable_peer(peer) + " clipped in " + std::to_string(c.clipped) + " of the last "
         + std::to_string(c.rounds) + " rounds: dropped from this peer's groups";
}

std::string printable_peer(std::string_view peer) {
  bool printable = !peer.empty() && std::all_of(peer.begin(), peer.end(), [](char ch) {
    return std::isprint(static_cast<unsigned char>(ch)) != 0;
  });
  if (printable)
    return std::string(peer);
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (char ch : peer) {
    auto b = static_cast<unsigned char>(ch);
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

} // namespace ttt::averaging
