#pragma once
// A peer's RocksDB database: one per data directory, one column family per
// concern. The only place in ttt that includes RocksDB is database.cpp; every
// RocksDB status is looked at and turned into a caf::error.

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace ttt::storage {

/// The column families of a peer's database (DESIGN.md, "Storage").
enum class column {
  dht_records,     ///< DHT records with their expirations
  routing,         ///< last known peers, for a fast rejoin
  checkpoints,     ///< checkpoint metadata
  metrics_history, ///< the monitor's swarm-wide history
  contributions,   ///< the monitor's credit per volunteer (the leaderboard)
};

const char* to_string(column c);

/// Owns an open RocksDB database. Resource type: not copyable.
class database {
public:
  /// Opens (creating if needed) the database in `dir`, with every column
  /// family; a database from before a family was added gets it empty.
  static caf::expected<std::unique_ptr<database>> open(const std::string& dir);

  ~database();
  database(const database&) = delete;
  database& operator=(const database&) = delete;

  caf::error put(column c, std::string_view key, std::string_view value);
  caf::error erase(column c, std::string_view key);
  /// The value under `key`, nullopt when absent, an error when the read failed.
  caf::expected<std::optional<std::string>> get(column c, std::string_view key);
  /// Visits every entry of `c` in key order; stops early when `visit` returns false.
  caf::error for_each(column c,
                      const std::function<bool(std::string_view key, std::string_view value)>& visit);
  /// Forces the write-ahead log to disk (used on clean shutdown).
  caf::error flush();

  const std::string& dir() const { return dir_; }

private:
  struct impl;
  database(std::string dir, std::unique_ptr<impl> impl);

  std::string dir_;
  std::unique_ptr<impl> impl_;
};

} // namespace ttt::storage
