#include "actors/dht/routing_table.hpp"

#include <algorithm>

namespace ttt::dht {

namespace {

void set_bit(node_id& id, int bit) {
  id.bytes[bit / 8] |= static_cast<uint8_t>(0x80u >> (bit % 8));
}

template <class Vec>
bool erase_id(Vec& nodes, const node_id& id) {
  auto it = std::find_if(nodes.begin(), nodes.end(), [&](const peer_info& p) { return p.id == id; });
  if (it == nodes.end())
    return false;
  nodes.erase(it);
  return true;
}

} // namespace

std::string subnet_of(const std::string& host) {
  if (host.rfind("127.", 0) == 0 || host == "::1" || host == "localhost")
    return {};
  if (host.find(':') != std::string::npos) {
    size_t pos = 0;
    for (int groups = 0; groups < 3 && pos != std::string::npos; ++groups)
      pos = host.find(':', pos == 0 ? 0 : pos + 1);
    return host.substr(0, pos);
  }
  auto last = host.rfind('.');
  bool numeric = last != std::string::npos &&
                 host.find_first_not_of("0123456789.") == std::string::npos;
  return numeric ? host.substr(0, last) : host;
}

routing_table::routing_table(node_id self, size_t bucket_size, int depth_modulo,
                             size_t max_per_subnet)
  : self_(self), bucket_size_(bucket_size), depth_modulo_(depth_modulo),
    max_per_subnet_(max_per_subnet) {
  buckets_.push_back(bucket{});
}

routing_table::bucket& routing_table::bucket_for(const node_id& id) {
  for (auto& b : buckets_)
    if (b.covers(id))
      return b;
  return buckets_.front(); // unreachable: the buckets partition the id space
}

void routing_table::split(size_t index) {
  bucket low = buckets_[index];
  bucket high = buckets_[index];
  low.depth += 1;
  high.depth += 1;
  set_bit(high.prefix, low.depth - 1);
  low.nodes.clear();
  low.replacements.clear();
  high.nodes.clear();
  high.replacements.clear();
  for (auto& p : buckets_[index].nodes)
    (high.covers(p.id) ? high : low).nodes.push_back(p);
  for (auto& p : buckets_[index].replacements)
    (high.covers(p.id) ? high : low).replacements.push_back(p);
  buckets_[index] = std::move(low);
  buckets_.insert(buckets_.begin() + static_cast<long>(index) + 1, std::move(high));
}

bool routing_table::moved(const peer_info& peer) const {
  auto known = find(peer.id);
  return known && (known->host != peer.host || known->port != peer.port);
}

bool routing_table::subnet_full(const bucket& b, const peer_info& peer) const {
  if (max_per_subnet_ == 0)
    return false;
  auto net = subnet_of(peer.host);
  if (net.empty())
    return false;
  size_t same = 0;
  for (const auto& p : b.nodes)
    same += p.id != peer.id && subnet_of(p.host) == net ? 1 : 0;
  return same >= max_per_subnet_;
}

std::optional<peer_info> routing_table::on_seen(const peer_info& peer, double now,
                                                bool address_checked) {
  if (peer.id == self_ || !peer.reachable())
    return std::nullopt;
  for (;;) {
    auto& b = bucket_for(peer.id);
    auto it = std::find_if(b.nodes.begin(), b.nodes.end(),
                           [&](const peer_info& p) { return p.id == peer.id; });
    if (it != b.nodes.end()) {
      bool same_address = it->host == peer.host && it->port == peer.port;
      if (!same_address && (!address_checked || subnet_full(b, peer)))
        return std::nullopt; // an unchecked new address changes nothing
      b.last_updated = std::max(b.last_updated, now);
      b.nodes.erase(it);
      b.nodes.push_back(peer); // most recently seen last
      return std::nullopt;
    }
    if (subnet_full(b, peer))
      return std::nullopt;
    b.last_updated = std::max(b.last_updated, now);
    if (b.nodes.size() < bucket_size_) {
      erase_id(b.replacements, peer.id);
      b.nodes.push_back(peer);
      return std::nullopt;
    }
    if ((b.covers(self_) || b.depth % depth_modulo_ != 0) && b.depth < 159) {
      split(static_cast<size_t>(&b - buckets_.data()));
      continue;
    }
    erase_id(b.replacements, peer.id);
    b.replacements.push_back(peer);
    if (b.replacements.size() > bucket_size_)
      b.replacements.erase(b.replacements.begin());
    return b.nodes.front();
  }
}

void routing_table::on_failure(const node_id& id) {
  auto& b = bucket_for(id);
  if (erase_id(b.nodes, id)) {
    if (!b.replacements.empty()) {
      b.nodes.push_back(b.replacements.back());
      b.replacements.pop_back();
    }
    return;
  }
  erase_id(b.replacements, id);
}

std::vector<peer_info> routing_table::nearest(const node_id& target, size_t count,
                                              const std::optional<node_id>& exclude) const {
  std::vector<std::pair<node_id, const peer_info*>> all;
  for (const auto& b : buckets_)
    for (const auto& p : b.nodes)
      if (!exclude || p.id != *exclude)
        all.emplace_back(p.id.distance(target), &p);
  size_t n = std::min(count, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<long>(n), all.end(),
                    [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<peer_info> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i)
    out.push_back(*all[i].second);
  return out;
}

bool routing_table::contains(const node_id& id) const {
  return find(id).has_value();
}

std::optional<peer_info> routing_table::find(const node_id& id) const {
  for (const auto& b : buckets_)
    if (b.covers(id)) {
      for (const auto& p : b.nodes)
        if (p.id == id)
          return p;
      return std::nullopt;
    }
  return std::nullopt;
}

size_t routing_table::size() const {
  size_t n = 0;
  for (const auto& b : buckets_)
    n += b.nodes.size();
  return n;
}

std::vector<peer_info> routing_table::all() const {
  std::vector<peer_info> out;
  for (const auto& b : buckets_)
    out.insert(out.end(), b.nodes.begin(), b.nodes.end());
  return out;
}

std::vector<node_id> routing_table::refresh_targets(double older_than,
                                                    std::mt19937_64& rng) const {
  std::vector<node_id> out;
  for (const auto& b : buckets_) {
    if (b.last_updated >= older_than)
      continue;
    node_id id;
    for (auto& byte : id.bytes)
      byte = static_cast<uint8_t>(rng());
    for (int bit = 0; bit < b.depth; ++bit) {
      uint8_t mask = static_cast<uint8_t>(0x80u >> (bit % 8));
      id.bytes[bit / 8] = static_cast<uint8_t>((id.bytes[bit / 8] & ~mask) |
                                               (b.prefix.bytes[bit / 8] & mask));
    }
    out.push_back(id);
  }
  return out;
}

} // namespace ttt::dht
