#pragma once
// A node's local records, indexed by key id (finds carry ids, not keys).
// Semantics (DESIGN.md): of two values for one key the later expiration wins;
// a dictionary key holds subkeys with their own expirations; expired records
// are never returned. A key is either a plain value or a dictionary for as
// long as any of its records lives: neither kind replaces the other, so a
// stranger's plain value cannot wipe a dictionary of other peers' entries.
// Every record is charged to the peer that stored it (its origin), and
// stores past a bound are refused: entries per key (what a reader accepts),
// bytes per key (a whole key fits one find answer), records and bytes per
// origin, records and bytes in all. Pure: `now` is an argument; persistence
// is an optional sink that sees every change.

#include "actors/dht/types.hpp"

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>

namespace ttt::dht {

/// Receives every change so that it can be made durable (RocksDB in a node).
class record_sink {
public:
  virtual ~record_sink() = default;
  virtual void saved(const node_id& key_id, const dht_record& record) = 0;
  virtual void erased(const node_id& key_id, const dht_record& record) = 0;
};

/// What one store holds at most. A record's size is its key, subkey, value
/// and signature.
struct store_limits {
  size_t max_entries_per_key = 256;            ///< protocol_limits::max_records_per_message
  size_t max_bytes_per_key = 768 << 10;        ///< a whole key fits one 1 MiB answer
  size_t max_entries_per_origin_per_key = 16;  ///< one peer cannot crowd out a shared key
  size_t max_records_per_origin = 4096;
  size_t max_bytes_per_origin = 16 << 20;
  size_t max_records = 1 << 20;
  size_t max_bytes = 512 << 20;
};

/// Limits for merging the answers of `sources` peers (a lookup, a get):
/// each source may fill the key, so that one liar's answer of entries of
/// its own making cannot crowd out the others' (readers judge the entries).
inline store_limits merge_limits(size_t sources) {
  store_limits l;
  l.max_entries_per_key *= sources;
  l.max_bytes_per_key = sources << 20;
  l.max_entries_per_origin_per_key = l.max_entries_per_key;
  return l;
}

class record_store {
public:
  enum class outcome {
    stored,       ///< new or replaced an older value
    superseded,   ///< a value with the same or a later expiration is already here
    expired,      ///< the record's expiration has passed
    wrong_kind,   ///< a plain value for a dictionary key, or an entry for a plain key
    key_full,     ///< the key holds as many entries or bytes as it may
    origin_quota, ///< the storing peer holds as much here as it may
    store_full,   ///< this store holds as much as it may
  };

  explicit record_store(record_sink* sink = nullptr, store_limits limits = {})
    : sink_(sink), limits_(limits) {}

  /// Where changes go from now on (null: nowhere).
  void set_sink(record_sink* sink) { sink_ = sink; }

  /// Stores `record` on behalf of `origin` (the peer that sent it; none for
  /// this node's own records and those loaded from its database).
  outcome store(const dht_record& record, double now, const std::optional<node_id>& origin = {});

  /// The unexpired records under `key_id` (one plain record or the dictionary's entries).
  dht_records get(const node_id& key_id, double now) const;

  /// Drops everything expired at `now`; returns how many records were dropped.
  size_t purge(double now);

  /// Number of records (a dictionary counts its entries).
  size_t size() const;

  /// Records and bytes charged to `origin`.
  std::pair<size_t, size_t> usage_of(const node_id& origin) const;

  /// Visits every record, expired or not.
  void for_each(const std::function<void(const node_id&, const dht_record&)>& visit) const;

private:
  struct held {
    dht_record record;
    std::optional<node_id> origin;
  };
  struct entry {
    std::optional<held> plain;
    std::map<std::string, held> dictionary; ///< by subkey
    size_t bytes = 0;
  };
  struct usage {
    size_t records = 0;
    size_t bytes = 0;
  };

  /// Whether `record` from `origin` fits, given that it replaces `old` (if any).
  outcome fits(const entry& e, const dht_record& record, const std::optional<node_id>& origin,
               const held* old) const;
  void charge(const held& h);
  void release(const node_id& key_id, entry& e, const held& h);

  record_sink* sink_;
  store_limits limits_;
  std::unordered_map<node_id, entry> entries_;
  std::unordered_map<node_id, usage> by_origin_;
  usage total_;
};

const char* to_string(record_store::outcome o);

/// What a record costs a store.
size_t record_bytes(const dht_record& record);

} // namespace ttt::dht
