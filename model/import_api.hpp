#pragma once
// `ttt data import`: real captioned images (img2dataset's WebDataset tars or
// a folder of images with .txt captions) to ttt's shards, each image's codes
// from a VQGAN and each caption's ids from a SentencePiece model. The
// torch-free face of model/data_import.cpp.

#include "model/result.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace ttt::model {

struct import_options {
  std::vector<std::string> webdataset; ///< tar files, each one output shard
  std::string images_dir;              ///< or: a folder of images and same-named .txt captions
  std::string vqgan_weights;           ///< safetensors, taming's names
  std::string vqgan_config;            ///< unless the weights carry it
  std::string tokenizer;    ///< SentencePiece .model (T5's spiece.model, or `ttt data tokenizer`'s)
  std::string model_config; ///< optional: text length, vocabulary and image grid checked against it
  std::string out_dir;
  int64_t text_seq_len = 256; ///< ids per caption; the model config's when it is given
  int64_t valid_count = 500;  ///< the first this many samples that pass the filters are held out
  int64_t folder_shard_size = 10000;          ///< images of a folder per output shard
  int64_t batch = 32;                         ///< images per VQGAN forward pass
  int64_t workers = 0;                        ///< decoding threads; 0: one per core (at most 8)
  int64_t max_file_bytes = int64_t{64} << 20; ///< an image or archive member over this is skipped
  std::string device = "auto";                ///< auto (a GPU when there is one), cpu, cuda, cuda:N
};

struct import_report {
  int64_t images =
      0; ///< samples looked at in this run (finished shards of an earlier run not counted)
  int64_t train = 0, valid = 0; ///< samples in the output, earlier runs' included
  int64_t skipped = 0;          ///< bad images, samples without an image or a caption
  int64_t short_captions = 0, too_wide = 0, nsfw = 0; ///< dropped by the 2021 filters
  int64_t shards_resumed = 0, shards_written = 0;
  int64_t grid = 0, codes = 0; ///< the VQGAN's
  double seconds = 0;
  std::string device;
};

/// Imports into `out_dir`: train-NNNNN.shard and valid-NNNNN.shard per input
/// shard (a tar, or `folder_shard_size` images), tokenizer.model,
/// image_coder.json, and import_state.json, which lists the finished shards
/// so that a rerun skips them. `progress` gets progress lines, `warn` each
/// skipped image. A bad image is never the end of an import; a failure is
/// (unreadable VQGAN or tokenizer, a full disk, settings that differ from
/// the earlier run's).
result<import_report> import_dataset(const import_options& options,
                                     const std::function<void(const std::string&)>& progress,
                                     const std::function<void(const std::string&)>& warn);

} // namespace ttt::model
