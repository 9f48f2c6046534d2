#pragma once
// The torch-free face of the VQGAN (vqgan.hpp): what `ttt vqgan` and `ttt
// bench vqgan` call. Codes travel as JSON: an array with one array of codes
// per image, each a row-major square grid, e.g. [[12, 7, ...], [...]].

#include "model/result.hpp"
#include "model/vqgan_config.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace ttt::model {

/// Where a VQGAN comes from: its config and safetensors weights under
/// taming's state_dict names. The config may be left empty for weights that
/// carry it in their metadata (`ttt vqgan init`, the README's conversion).
struct vqgan_source {
  std::string config;
  std::string weights;
};

/// How encode and decode run.
struct vqgan_run_options {
  std::string device = "auto"; ///< auto, cpu, cuda, cuda:N
  int64_t batch = 8;           ///< images per forward pass
  bool sample = false;         ///< encode: Gumbel noise before the argmax (the 2021 code), else the argmax
  uint64_t seed = 0;           ///< of the Gumbel noise
};

/// `ttt vqgan info`.
struct vqgan_summary {
  std::string description; ///< the config, one "key = value" a line
  int64_t parameters = 0;  ///< of the built model (on the meta device: no memory)
};
result<vqgan_summary> summarize_vqgan(const std::string& config_path);

/// `ttt vqgan init`: seeded random weights under taming's names, the config
/// in the file's metadata. Returns the tensors written.
result<int64_t> init_vqgan(const std::string& config_path, uint64_t seed, const std::string& out_path);

struct vqgan_encode_report {
  int64_t images = 0;
  int64_t grid = 0; ///< codes per side
  std::string device;
};
/// `ttt vqgan encode`: PNG or JPEG files, each scaled so that its shorter
/// side is the config's resolution and centre-cropped, to codes in `out_json`.
result<vqgan_encode_report> encode_image_files(const vqgan_source& source, const std::vector<std::string>& images,
                                               const vqgan_run_options& options, const std::string& out_json);

struct vqgan_decode_report {
  int64_t images = 0;
  int64_t width = 0, height = 0; ///< of the PNG written
  std::string device;
};
/// `ttt vqgan decode`: the codes of `codes_json` to pixels; one image is
/// written as it is, several as a grid (2-pixel gutters).
result<vqgan_decode_report> decode_code_file(const vqgan_source& source, const std::string& codes_json,
                                             const vqgan_run_options& options, const std::string& out_png);

/// `ttt bench vqgan`: images per second through encode and decode of a
/// config's model with random weights (seed 0), after one warm-up batch.
/// `threads` > 0 sets libtorch's CPU threads (else its own choice).
struct vqgan_throughput {
  double encode_images_per_second = 0;
  double decode_images_per_second = 0;
  int64_t parameters = 0;
  int64_t threads = 0; ///< the CPU threads libtorch uses
  std::string device;  ///< where it ran, in words
};
result<vqgan_throughput> measure_vqgan_throughput(const std::string& config_path, int64_t batch, int64_t repeat,
                                                  const std::string& device, int64_t threads = 0);

} // namespace ttt::model
