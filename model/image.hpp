#pragma once
// RGB images, PNG files (libpng), JPEG and WebP input (libjpeg-turbo and
// libwebp, where the build found them). Torch-free.

#include "model/result.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace ttt::model {

/// 8-bit RGB, row-major, 3 bytes a pixel.
struct rgb_image {
  int width = 0, height = 0;
  std::vector<uint8_t> pixels;

  rgb_image() = default;
  rgb_image(int w, int h, uint8_t fill = 0) : width(w), height(h), pixels(static_cast<size_t>(w) * h * 3, fill) {}
  uint8_t* at(int x, int y) { return &pixels[(static_cast<size_t>(y) * width + x) * 3]; }
  const uint8_t* at(int x, int y) const { return &pixels[(static_cast<size_t>(y) * width + x) * 3]; }
};

/// Writes an 8-bit RGB PNG; the failure names the file.
status write_png(const std::string& path, const rgb_image& image);

/// Reads an 8-bit RGB or RGBA PNG (alpha dropped).
result<rgb_image> read_png(const std::string& path);

/// Reads a PNG or, in builds with libjpeg and libwebp, a JPEG or a WebP
/// (told apart by their first bytes), as 8-bit RGB.
result<rgb_image> read_image(const std::string& path);

/// An image decoded from bytes, and the size its file declares.
struct decoded_image {
  rgb_image image;
  int file_width = 0, file_height = 0; ///< before any reduction while decoding
};

/// Pictures larger than this many pixels are refused before any pixel is
/// allocated: a few bytes of a hostile file can declare gigapixels.
inline constexpr int64_t max_image_pixels = int64_t{1} << 26;

/// Decodes a PNG, JPEG or WebP held in memory; `name` names it in messages.
/// With `shorter_side_at_least` > 0 a JPEG may come out reduced by libjpeg's
/// DCT scaling (1/2, 1/4, 1/8), its shorter side still at least that: the
/// cheap part of a later downscale.
result<decoded_image> decode_image(const std::string& bytes, const std::string& name, int shorter_side_at_least = 0);

/// True when this build reads JPEG files.
bool jpeg_supported();

/// True when this build reads WebP files.
bool webp_supported();

/// Tiles equally sized images `columns` wide with a 2-pixel grey gutter.
rgb_image tile(const std::vector<rgb_image>& images, int columns);

} // namespace ttt::model
