#include "actors/dht/record_store.hpp"

#include <algorithm>

namespace ttt::dht {

const char* to_string(record_store::outcome o) {
  switch (o) {
    case record_store::outcome::stored:
      return "stored";
    case record_store::outcome::superseded:
      return "a value with the same or a later expiration is already stored";
    case record_store::outcome::expired:
      return "record has expired";
  }
  return "?";
}

double record_store::entry::latest_expiration() const {
  double latest = plain ? plain->expiration : 0;
  for (const auto& [_, rec] : dictionary)
    latest = std::max(latest, rec.expiration);
  return latest;
}

void record_store::erase_all(const node_id& key_id, entry& e) {
  if (sink_) {
    if (e.plain)
      sink_->erased(key_id, *e.plain);
    for (const auto& [_, rec] : e.dictionary)
      sink_->erased(key_id, rec);
  }
  e.plain.reset();
  e.dictionary.clear();
}

record_store::outcome record_store::store(const dht_record& record, double now) {
  if (record.expiration <= now)
    return outcome::expired;
  auto key_id = node_id::of_key(record.key);
  auto& e = entries_[key_id];
  if (!record.has_subkey) {
    // A plain value replaces a plain value or a whole dictionary only if it
    // outlives all of it.
    if (record.expiration <= e.latest_expiration())
      return outcome::superseded;
    erase_all(key_id, e);
    e.plain = record;
  } else {
    if (e.plain) {
      if (record.expiration <= e.plain->expiration)
        return outcome::superseded;
      erase_all(key_id, e);
    }
    auto it = e.dictionary.find(record.subkey);
    if (it != e.dictionary.end() && record.expiration <= it->second.expiration)
      return outcome::superseded;
    e.dictionary[record.subkey] = record;
  }
  if (sink_)
    sink_->saved(key_id, record);
  return outcome::stored;
}

dht_records record_store::get(const node_id& key_id, double now) const {
  dht_records out;
  auto it = entries_.find(key_id);
  if (it == entries_.end())
    return out;
  const auto& e = it->second;
  if (e.plain && e.plain->expiration > now)
    out.push_back(*e.plain);
  for (const auto& [_, rec] : e.dictionary)
    if (rec.expiration > now)
      out.push_back(rec);
  return out;
}

size_t record_store::purge(double now) {
  size_t dropped = 0;
  for (auto it = entries_.begin(); it != entries_.end();) {
    auto& e = it->second;
    if (e.plain && e.plain->expiration <= now) {
      if (sink_)
        sink_->erased(it->first, *e.plain);
      e.plain.reset();
      ++dropped;
    }
    for (auto d = e.dictionary.begin(); d != e.dictionary.end();) {
      if (d->second.expiration <= now) {
        if (sink_)
          sink_->erased(it->first, d->second);
        d = e.dictionary.erase(d);
        ++dropped;
      } else {
        ++d;
      }
    }
    if (!e.plain && e.dictionary.empty())
      it = entries_.erase(it);
    else
      ++it;
  }
  return dropped;
}

size_t record_store::size() const {
  size_t n = 0;
  for (const auto& [_, e] : entries_)
    n += (e.plain ? 1 : 0) + e.dictionary.size();
  return n;
}

void record_store::for_each(
  const std::function<void(const node_id&, const dht_record&)>& visit) const {
  for (const auto& [id, e] : entries_) {
    if (e.plain)
      visit(id, *e.plain);
    for (const auto& [_, rec] : e.dictionary)
      visit(id, rec);
  }
}

} // namespace ttt::dht
