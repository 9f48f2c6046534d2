#pragma once
// The checkpointer's I/O: checkpoint directories under a root
// (<data_dir>/checkpoints/epoch-NNNNNNNN/), each file written to a temporary
// name, fsynced and renamed, the directory fsynced, and only then the
// metadata record put into RocksDB's `checkpoints` column family, so a
// record never names files that were not completely written. Reading back
// checks every file against the record; a restarting peer resumes from the
// newest checkpoint that passes, skipping (and logging) the others.

#include "actors/checkpointer/checkpoint_core.hpp"
#include "storage/database.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <functional>
#include <string>
#include <vector>

namespace ttt::checkpoint {

/// Writes `bytes` to `path` atomically: `path.tmp`, fsync, rename, fsync of
/// the directory. A crash leaves either the old file or the new one.
caf::error write_file_atomically(const std::string& path, std::string_view bytes);

/// Writes a model's state files into `dir` (created if needed), each atomically.
caf::error save_state(const std::string& dir, const std::vector<state_file>& files);

/// Reads the files `names` from `dir` (every regular file when `names` is empty).
caf::expected<std::vector<state_file>> load_state(const std::string& dir,
                                                  const std::vector<std::string>& names = {});

class checkpoint_store {
public:
  /// `db` outlives the store; `root` is the directory of checkpoint
  /// directories; `keep` the newest checkpoints kept (0: all).
  checkpoint_store(storage::database* db, std::string root, size_t keep,
                   std::function<void(const std::string&)> log = {});

  /// Writes the checkpoint of `meta.epoch` (meta's path and files are filled
  /// in), records it, then deletes the checkpoints beyond the newest `keep`.
  caf::expected<checkpoint_meta> save(checkpoint_meta meta, const std::vector<state_file>& files);

  /// Every checkpoint record, oldest first; undecodable records are logged and left out.
  caf::expected<std::vector<checkpoint_meta>> list() const;

  /// Reads a checkpoint's files and checks them against its record.
  caf::expected<std::vector<state_file>> read(const checkpoint_meta& meta) const;

  /// The newest checkpoint whose files pass their checks (found = false: none).
  loaded_checkpoint latest_valid() const;

  /// Deletes the checkpoint of `epoch`: record first, then its directory.
  caf::error remove(uint64_t epoch);

  /// Deletes what a crash mid-save left behind: epoch-* directories no
  /// record names, and temporary files. Returns how many entries went.
  size_t remove_unindexed();

  const std::string& root() const { return root_; }

private:
  void log(const std::string& line) const {
    if (log_)
      log_(line);
  }

  storage::database* db_;
  std::string root_;
  size_t keep_;
  std::function<void(const std::string&)> log_;
};

} // namespace ttt::checkpoint
