#pragma once
// RGB images, PNG files (libpng) and JPEG input (libjpeg, where the build
// found it). Torch-free.

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

/// Reads a PNG or, in builds with libjpeg, a JPEG (told apart by their
/// first bytes), as 8-bit RGB.
result<rgb_image> read_image(const std::string& path);

/// True when this build reads JPEG files.
bool jpeg_supported();

/// Tiles equally sized images `columns` wide with a 2-pixel grey gutter.
rgb_image tile(const std::vector<rgb_image>& images, int columns);

} // namespace ttt::model
