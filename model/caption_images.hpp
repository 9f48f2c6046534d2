#pragma once
// Where `ttt data import` finds captioned images: WebDataset tar shards as
// img2dataset writes them (KEY.jpg|png|webp, KEY.txt, optional KEY.json,
// one sample's files next to each other), or a folder of images with
// same-named .txt captions. Yields each sample's undecoded bytes. Torch-free.

#include "model/result.hpp"
#include "model/tar_reader.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ttt::model {

/// One sample as it came: the image's bytes, the caption's text. What is
/// missing is empty and named by the flags.
struct captioned_image {
  std::string key;        ///< KEY in the archive, or the image's path in a folder
  std::string image_name; ///< names the image in warnings: the archive's member or the file
  std::string image;      ///< the encoded image (JPEG, PNG or WebP), empty when there was none
  std::string caption;    ///< trimmed of surrounding white space
  bool has_image = false, has_caption = false;
  bool nsfw = false; ///< img2dataset's KEY.json says "NSFW": "NSFW"
};

/// True for the extensions of the images an import reads: jpg, jpeg, png, webp (any case).
bool is_image_extension(const std::string& extension);

/// Groups a WebDataset tar's members into samples by KEY: the member's path
/// up to the first dot of its file name (webdataset's rule).
class webdataset_reader {
public:
  static result<webdataset_reader> open(const std::string& path, int64_t max_member_bytes);
  /// The next sample, nullopt at the end; a failure ends the archive (what
  /// came before it was already given).
  result<std::optional<captioned_image>> next();
  /// Skipped members, in words, since the last call.
  std::vector<std::string> take_warnings() { return tar_.take_warnings(); }
  /// Bytes of the archive read so far.
  int64_t offset() const { return tar_.offset(); }

private:
  explicit webdataset_reader(tar_reader tar) : tar_(std::move(tar)) {}
  tar_reader tar_;
  std::optional<tar_member> pending_;
  bool ended_ = false;
  std::string failure_; ///< the archive's failure, given after the samples before it
};

/// The images under `dir` (recursively), sorted by path; their captions are
/// the same path with .txt for the extension.
result<std::vector<std::string>> list_image_folder(const std::string& dir);

/// An image file and its caption file, read; a file over `max_bytes` is not
/// read (has_image stays false, and the failure says why).
result<captioned_image> read_folder_sample(const std::string& image_path, int64_t max_bytes);

} // namespace ttt::model
