#pragma once
// The checkpointer's pure core: what a checkpoint is (metadata, files and
// their checksums), when one is due, which ones to keep, the order to try
// them in when resuming, and the Cap'n Proto codecs of schema/checkpoint.capnp
// (the RocksDB record and the bundle of state files peers serve). No I/O.

#include "actors/trainer/local_model.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ttt::checkpoint {

using trainer::state_file;

/// One file of a checkpoint as its metadata lists it.
struct file_meta {
  std::string name;
  uint64_t size = 0;
  std::string checksum; ///< BLAKE2b-256, 32 raw bytes

  friend bool operator==(const file_meta& x, const file_meta& y) {
    return x.name == y.name && x.size == y.size && x.checksum == y.checksum;
  }
};

/// Metadata of one checkpoint (a CheckpointRecord in RocksDB).
struct checkpoint_meta {
  uint64_t epoch = 0;   ///< epochs completed: the state trains epoch `epoch` next
  uint64_t samples = 0; ///< this peer's samples in the epoch that ended
  double loss = 0;      ///< this peer's mean loss in it
  double time = 0;      ///< when written (Unix seconds)
  std::string path;     ///< the checkpoint directory
  std::vector<file_meta> files;
};

/// A checkpoint's files read back and checked against their metadata.
struct loaded_checkpoint {
  bool found = false; ///< false: no valid checkpoint (a fresh start)
  checkpoint_meta meta;
  std::vector<state_file> files;
};

/// BLAKE2b-256 of `bytes` (32 raw bytes).
std::string checksum(std::string_view bytes);

/// Hex of raw bytes (logs).
std::string to_hex(std::string_view bytes);

/// Metadata of `files` (sizes, checksums).
std::vector<file_meta> describe_files(const std::vector<state_file>& files);

/// Why `files` do not match `expected` (a file missing, another size or
/// checksum); empty when they match. Extra files are ignored.
std::string mismatch(const std::vector<file_meta>& expected, const std::vector<state_file>& files);

/// A file name a checkpoint may hold: plain, no separators, no dot-files.
bool valid_file_name(std::string_view name);

/// "epoch-NNNNNNNN": names sort by epoch.
std::string directory_name(uint64_t epoch);

/// RocksDB key of a checkpoint's record: the big-endian epoch (key order =
/// epoch order).
std::string record_key(uint64_t epoch);

/// True when the epoch that just ended (`completed` epochs done) should be
/// checkpointed: every `every` epochs (0: never), counted from epoch 0.
bool due(uint64_t completed, uint64_t every);

/// The epochs to delete so that only the newest `keep` remain (0: keep all).
std::vector<uint64_t> to_remove(std::vector<uint64_t> epochs, size_t keep);

/// `all` newest first: the order in which a restarting peer tries them.
std::vector<checkpoint_meta> newest_first(std::vector<checkpoint_meta> all);

std::string encode(const checkpoint_meta& m);
caf::expected<checkpoint_meta> decode_checkpoint_meta(std::string_view bytes);

/// The bundle a holder serves: `epoch` (completed) and the state's files.
struct training_state {
  uint64_t epoch = 0;
  std::vector<state_file> files;
};

std::string encode(const training_state& s);
/// `max_bytes` bounds what a peer's bytes may make us allocate.
caf::expected<training_state> decode_training_state(std::string_view bytes,
                                                   uint64_t max_bytes = uint64_t{16} << 30);

} // namespace ttt::checkpoint
