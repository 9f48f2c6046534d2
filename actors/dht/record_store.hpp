#pragma once
// A node's local records, indexed by key id (finds carry ids, not keys).
// Semantics (DESIGN.md): of two values for one key the later expiration wins;
// a dictionary key holds subkeys with their own expirations; a plain value and
// a dictionary replace each other only with a later expiration; expired
// records are never returned. Pure: `now` is an argument; persistence is an
// optional sink that sees every change.

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

class record_store {
public:
  enum class outcome {
    stored,     ///< new or replaced an older value
    superseded, ///< a value with the same or a later expiration is already here
    expired,    ///< the record's expiration has passed
  };

  explicit record_store(record_sink* sink = nullptr) : sink_(sink) {}

  /// Where changes go from now on (null: nowhere).
  void set_sink(record_sink* sink) { sink_ = sink; }

  outcome store(const dht_record& record, double now);

  /// The unexpired records under `key_id` (one plain record or the dictionary's entries).
  dht_records get(const node_id& key_id, double now) const;

  /// Drops everything expired at `now`; returns how many records were dropped.
  size_t purge(double now);

  /// Number of records (a dictionary counts its entries).
  size_t size() const;

  /// Visits every record, expired or not.
  void for_each(const std::function<void(const node_id&, const dht_record&)>& visit) const;

private:
  struct entry {
    std::optional<dht_record> plain;
    std::map<std::string, dht_record> dictionary; ///< by subkey

    double latest_expiration() const;
  };

  void erase_all(const node_id& key_id, entry& e);

  record_sink* sink_;
  std::unordered_map<node_id, entry> entries_;
};

const char* to_string(record_store::outcome o);

} // namespace ttt::dht
