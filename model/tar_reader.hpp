#pragma once
// Reads the regular files of a tar archive one at a time (POSIX ustar, with
// GNU long names and pax `path` records), as img2dataset's WebDataset shards
// are written. Every byte of an archive from the internet is hostile: a
// size is believed only up to the bytes the file really has, a member over
// the bound is skipped unread, and a header whose checksum fails ends the
// archive, since nothing after it can be found again. Torch-free.

#include "model/result.hpp"

#include <cstdint>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ttt::model {

/// One regular file of the archive.
struct tar_member {
  std::string name;  ///< its path inside the archive
  std::string bytes; ///< its contents
};

class tar_reader {
public:
  /// Opens `path`; members larger than `max_member_bytes` are skipped with a warning.
  static result<tar_reader> open(const std::string& path,
                                 int64_t max_member_bytes = int64_t{64} << 20);

  /// The next regular file, nullopt at the end of the archive. A failure
  /// (a corrupt header, a member cut short by the end of the file) names the
  /// archive and the offset; the archive has nothing more to give after it.
  result<std::optional<tar_member>> next();

  /// What was skipped since the last call (a member too large, a link), in words.
  std::vector<std::string> take_warnings();

  const std::string& path() const { return path_; }
  /// Bytes of the archive read or skipped so far, and its size: progress.
  int64_t offset() const { return offset_; }
  int64_t size() const { return file_size_; }

private:
  status read_block(char* block);
  status skip(int64_t bytes);

  std::string path_;
  std::unique_ptr<std::ifstream> in_;
  int64_t file_size_ = 0, offset_ = 0, max_member_bytes_ = 0;
  bool ended_ = false;
  std::vector<std::string> warnings_;
};

} // namespace ttt::model
