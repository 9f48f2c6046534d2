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
    case record_store::outcome::wrong_kind:
      return "the key holds the other kind of value (plain vs dictionary) until it expires";
    case record_store::outcome::key_full:
      return "the key holds as many entries or bytes as it may";
    case record_store::outcome::origin_quota:
      return "the sender's quota on this node is used up";
    case record_store::outcome::store_full:
      return "this node's store is full";
  }
  return "?";
}

size_t record_bytes(const dht_record& record) {
  return record.key.size() + record.subkey.size() + record.value.size() + record.signature.size();
}

record_store::outcome record_store::fits(const entry& e, const dht_record& record,
                                         const std::optional<node_id>& origin,
                                         const held* old) const {
  size_t bytes = record_bytes(record);
  size_t old_bytes = old ? record_bytes(old->record) : 0;
  bool same_origin = old && old->origin == origin;
  if (record.has_subkey) {
    if (!old && e.dictionary.size() >= limits_.max_entries_per_key)
      return outcome::key_full;
    if (origin && !same_origin) {
      size_t mine = 0;
      for (const auto& [_, h] : e.dictionary)
        mine += h.origin == origin ? 1 : 0;
      if (mine >= limits_.max_entries_per_origin_per_key)
        return outcome::origin_quota;
    }
  }
  if (e.bytes - old_bytes + bytes > limits_.max_bytes_per_key)
    return outcome::key_full;
  if (origin) {
    auto it = by_origin_.find(*origin);
    usage u = it == by_origin_.end() ? usage{} : it->second;
    size_t records = u.records + (same_origin ? 0 : 1);
    size_t held_bytes = u.bytes - (same_origin ? old_bytes : 0) + bytes;
    if (records > limits_.max_records_per_origin || held_bytes > limits_.max_bytes_per_origin)
      return outcome::origin_quota;
  }
  if (total_.records + (old ? 0 : 1) > limits_.max_records ||
      total_.bytes - old_bytes + bytes > limits_.max_bytes)
    return outcome::store_full;
  return outcome::stored;
}

void record_store::charge(const held& h) {
  size_t bytes = record_bytes(h.record);
  total_.records += 1;
  total_.bytes += bytes;
  if (h.origin) {
    auto& u = by_origin_[*h.origin];
    u.records += 1;
    u.bytes += bytes;
  }
}

void record_store::release(const node_id& key_id, entry& e, const held& h) {
  size_t bytes = record_bytes(h.record);
  e.bytes -= bytes;
  total_.records -= 1;
  total_.bytes -= bytes;
  if (h.origin) {
    auto it = by_origin_.find(*h.origin);
    if (it != by_origin_.end()) {
      it->second.records -= 1;
      it->second.bytes -= bytes;
      if (it->second.records == 0)
        by_origin_.erase(it);
    }
  }
  if (sink_)
    sink_->erased(key_id, h.record);
}

record_store::outcome record_store::store(const dht_record& record, double now,
                                          const std::optional<node_id>& origin) {
  if (record.expiration <= now)
    return outcome::expired;
  auto key_id = node_id::of_key(record.key);
  auto found = entries_.find(key_id);
  entry fresh;
  entry& e = found == entries_.end() ? fresh : found->second;
  // Expired records of the other kind no longer hold the key.
  if (record.has_subkey && e.plain && e.plain->record.expiration <= now) {
    release(key_id, e, *e.plain);
    e.plain.reset();
  }
  if (!record.has_subkey) {
    for (auto it = e.dictionary.begin(); it != e.dictionary.end();) {
      if (it->second.record.expiration <= now) {
        release(key_id, e, it->second);
        it = e.dictionary.erase(it);
      } else {
        ++it;
      }
    }
  }
  if (record.has_subkey ? e.plain.has_value() : !e.dictionary.empty())
    return outcome::wrong_kind;
  const held* old = nullptr;
  if (record.has_subkey) {
    auto it = e.dictionary.find(record.subkey);
    if (it != e.dictionary.end())
      old = &it->second;
  } else if (e.plain) {
    old = &*e.plain;
  }
  if (old && record.expiration <= old->record.expiration)
    return outcome::superseded;
  if (auto verdict = fits(e, record, origin, old); verdict != outcome::stored)
    return verdict;
  if (old) {
    // Replaced in place: its charge goes, the newcomer's comes.
    held gone = *old;
    release(key_id, e, gone);
  }
  held h{record, origin};
  charge(h);
  e.bytes += record_bytes(record);
  if (record.has_subkey)
    e.dictionary[record.subkey] = h;
  else
    e.plain = h;
  if (found == entries_.end())
    entries_.emplace(key_id, std::move(fresh));
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
  if (e.plain && e.plain->record.expiration > now)
    out.push_back(e.plain->record);
  for (const auto& [_, h] : e.dictionary)
    if (h.record.expiration > now)
      out.push_back(h.record);
  return out;
}

size_t record_store::purge(double now) {
  size_t dropped = 0;
  for (auto it = entries_.begin(); it != entries_.end();) {
    auto& e = it->second;
    if (e.plain && e.plain->record.expiration <= now) {
      release(it->first, e, *e.plain);
      e.plain.reset();
      ++dropped;
    }
    for (auto d = e.dictionary.begin(); d != e.dictionary.end();) {
      if (d->second.record.expiration <= now) {
        release(it->first, e, d->second);
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
  return total_.records;
}

std::pair<size_t, size_t> record_store::usage_of(const node_id& origin) const {
  auto it = by_origin_.find(origin);
  if (it == by_origin_.end())
    return {0, 0};
  return {it->second.records, it->second.bytes};
}

void record_store::for_each(
  const std::function<void(const node_id&, const dht_record&)>& visit) const {
  for (const auto& [id, e] : entries_) {
    if (e.plain)
      visit(id, e.plain->record);
    for (const auto& [_, h] : e.dictionary)
      visit(id, h.record);
  }
}

} // namespace ttt::dht
