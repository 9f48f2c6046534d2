#include "actors/wire/limits.hpp"

#include <algorithm>
#include <map>

namespace ttt::wire {

void token_bucket::refill(double now) {
  if (now > last_)
    tokens_ = std::min(rate_, tokens_ + rate_ * (now - last_));
  last_ = std::max(last_, now);
}

bool token_bucket::spend(double amount, double now) {
  refill(now);
  tokens_ -= amount;
  return tokens_ >= 0;
}

bool token_bucket::available(double now) {
  refill(now);
  return tokens_ > 0;
}

admission admit(const std::vector<connection_view>& current, const std::string& ip, const wire_limits& limits) {
  size_t same_ip = 0;
  std::map<std::string, size_t> unauthenticated_per_ip;
  size_t unauthenticated = 0;
  for (const auto& c : current) {
    same_ip += c.ip == ip ? 1 : 0;
    if (!c.established && !c.outgoing) {
      ++unauthenticated;
      ++unauthenticated_per_ip[c.ip];
    }
  }
  admission out;
  if (same_ip >= limits.max_per_address) {
    out.reason = "connections refused: too many from " + ip;
    return out;
  }
  size_t total = current.size();
  if (unauthenticated >= limits.max_unauthenticated && !unauthenticated_per_ip.empty()) {
    auto busiest = std::max_element(unauthenticated_per_ip.begin(), unauthenticated_per_ip.end(),
                                    [](const auto& a, const auto& b) { return a.second < b.second; })->first;
    const connection_view* oldest = nullptr;
    for (const auto& c : current)
      if (!c.established && !c.outgoing && c.ip == busiest && (!oldest || c.opened < oldest->opened))
        oldest = &c;
    out.evict = oldest->key;
    out.reason = "connections still in their handshake evicted for newer ones (at the cap of " +
                 std::to_string(limits.max_unauthenticated) + ")";
    total -= 1;
  }
  if (total >= limits.max_connections) {
    out.evict.reset();
    out.reason = "connections refused: at the limit of " + std::to_string(limits.max_connections);
    return out;
  }
  out.accept = true;
  return out;
}

} // namespace ttt::wire
