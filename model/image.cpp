#include "model/image.hpp"

#include <png.h>
#ifdef TTT_WITH_JPEG
#include <csetjmp>
#include <jpeglib.h>
#endif

#include <cstdio>
#include <memory>

namespace ttt::model {

status write_png(const std::string& path, const rgb_image& image) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "wb"), &std::fclose);
  if (!file)
    return failure{"cannot write PNG '" + path + "'"};
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!info) {
    png_destroy_write_struct(&png, nullptr);
    return failure{"libpng could not start writing '" + path + "'"};
  }
  if (setjmp(png_jmpbuf(png))) { // libpng reports errors by longjmp
    png_destroy_write_struct(&png, &info);
    return failure{"writing PNG '" + path + "' failed"};
  }
  png_init_io(png, file.get());
  png_set_IHDR(png, info, image.width, image.height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < image.height; ++y)
    png_write_row(png, const_cast<png_bytep>(image.at(0, y)));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return ok();
}

result<rgb_image> read_png(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file)
    return failure{"cannot read PNG '" + path + "'"};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!info) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    return failure{"libpng could not start reading '" + path + "'"};
  }
  rgb_image image;
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    return failure{"'" + path + "' is not a readable PNG"};
  }
  png_init_io(png, file.get());
  png_read_info(png, info);
  png_set_expand(png);
  png_set_strip_16(png);
  png_set_strip_alpha(png);
  png_set_gray_to_rgb(png);
  png_read_update_info(png, info);
  image = rgb_image(static_cast<int>(png_get_image_width(png, info)), static_cast<int>(png_get_image_height(png, info)));
  for (int y = 0; y < image.height; ++y)
    png_read_row(png, image.at(0, y), nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  return image;
}

#ifdef TTT_WITH_JPEG
namespace {

struct jpeg_failure {
  jpeg_error_mgr manager;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX] = {};
};

// libjpeg's default error handler exits the process; this one jumps back.
void on_jpeg_error(j_common_ptr info) {
  auto* failure = reinterpret_cast<jpeg_failure*>(info->err);
  (*info->err->format_message)(info, failure->message);
  std::longjmp(failure->jump, 1);
}

result<rgb_image> read_jpeg(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file)
    return failure{"cannot read JPEG '" + path + "'"};
  jpeg_decompress_struct info;
  jpeg_failure error;
  info.err = jpeg_std_error(&error.manager);
  error.manager.error_exit = on_jpeg_error;
  error.manager.output_message = [](j_common_ptr) {}; // warnings (a truncated file) are not errors: stay quiet
  rgb_image image;
  if (setjmp(error.jump)) {
    jpeg_destroy_decompress(&info);
    return failure{"'" + path + "' is not a readable JPEG: " + error.message};
  }
  jpeg_create_decompress(&info);
  jpeg_stdio_src(&info, file.get());
  jpeg_read_header(&info, TRUE);
  info.out_color_space = JCS_RGB; // greyscale and YCbCr come out as RGB
  jpeg_start_decompress(&info);
  image = rgb_image(static_cast<int>(info.output_width), static_cast<int>(info.output_height));
  while (info.output_scanline < info.output_height) {
    JSAMPROW row = image.at(0, static_cast<int>(info.output_scanline));
    jpeg_read_scanlines(&info, &row, 1);
  }
  jpeg_finish_decompress(&info);
  jpeg_destroy_decompress(&info);
  return image;
}

} // namespace
#endif

bool jpeg_supported() {
#ifdef TTT_WITH_JPEG
  return true;
#else
  return false;
#endif
}

result<rgb_image> read_image(const std::string& path) {
  unsigned char magic[4] = {};
  {
    std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
    if (!file)
      return failure{"cannot read image '" + path + "'"};
    if (std::fread(magic, 1, sizeof magic, file.get()) != sizeof magic)
      return failure{"'" + path + "' is too short to be an image"};
  }
  if (magic[0] == 0x89 && magic[1] == 'P' && magic[2] == 'N' && magic[3] == 'G')
    return read_png(path);
  if (magic[0] == 0xFF && magic[1] == 0xD8 && magic[2] == 0xFF) {
#ifdef TTT_WITH_JPEG
    return read_jpeg(path);
#else
    return failure{"'" + path + "' is a JPEG, and this ttt was built without libjpeg (install libjpeg-dev and " +
                   "rebuild, or convert the image to PNG)"};
#endif
  }
  return failure{"'" + path + "' is neither a PNG nor a JPEG"};
}

rgb_image tile(const std::vector<rgb_image>& images, int columns) {
  if (images.empty())
    return rgb_image(1, 1, 128);
  int w = images[0].width, h = images[0].height, gap = 2;
  int cols = std::max(1, std::min<int>(columns, static_cast<int>(images.size())));
  int rows = (static_cast<int>(images.size()) + cols - 1) / cols;
  rgb_image out(cols * w + (cols + 1) * gap, rows * h + (rows + 1) * gap, 128);
  for (size_t i = 0; i < images.size(); ++i) {
    int ox = gap + static_cast<int>(i % cols) * (w + gap), oy = gap + static_cast<int>(i / cols) * (h + gap);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        for (int ch = 0; ch < 3; ++ch)
          out.at(ox + x, oy + y)[ch] = images[i].at(x, y)[ch];
  }
  return out;
}

} // namespace ttt::model
