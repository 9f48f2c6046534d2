#include "model/image.hpp"

#include <png.h>
#ifdef TTT_WITH_JPEG
#include <csetjmp>
#include <jpeglib.h>
#endif
#ifdef TTT_WITH_WEBP
#include <webp/decode.h>
#endif

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
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

namespace {

bool too_many_pixels(int64_t width, int64_t height) {
  return width <= 0 || height <= 0 || width * height > max_image_pixels;
}

std::string size_text(int64_t width, int64_t height) { return std::to_string(width) + "x" + std::to_string(height); }

struct png_source {
  const std::string* bytes;
  size_t offset = 0;
};

void read_png_bytes(png_structp png, png_bytep out, png_size_t count) {
  auto* source = static_cast<png_source*>(png_get_io_ptr(png));
  if (count > source->bytes->size() - source->offset)
    png_error(png, "truncated");
  std::memcpy(out, source->bytes->data() + source->offset, count);
  source->offset += count;
}

result<decoded_image> decode_png(const std::string& bytes, const std::string& name) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!info) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    return failure{"libpng could not start reading '" + name + "'"};
  }
  png_source source{&bytes};
  decoded_image out;
  if (setjmp(png_jmpbuf(png))) { // libpng reports errors by longjmp
    png_destroy_read_struct(&png, &info, nullptr);
    return failure{"'" + name + "' is not a readable PNG"};
  }
  png_set_read_fn(png, &source, read_png_bytes);
  png_read_info(png, info);
  out.file_width = static_cast<int>(std::min<png_uint_32>(png_get_image_width(png, info), 1u << 30));
  out.file_height = static_cast<int>(std::min<png_uint_32>(png_get_image_height(png, info), 1u << 30));
  if (too_many_pixels(out.file_width, out.file_height)) {
    png_destroy_read_struct(&png, &info, nullptr);
    return failure{"'" + name + "' declares " + size_text(out.file_width, out.file_height) + " pixels: too large"};
  }
  png_set_expand(png);
  png_set_strip_16(png);
  png_set_strip_alpha(png);
  png_set_gray_to_rgb(png);
  int passes = png_set_interlace_handling(png);
  png_read_update_info(png, info);
  out.image = rgb_image(out.file_width, out.file_height);
  for (int pass = 0; pass < passes; ++pass)
    for (int y = 0; y < out.image.height; ++y)
      png_read_row(png, out.image.at(0, y), nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  return out;
}

#ifdef TTT_WITH_JPEG
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

result<decoded_image> decode_jpeg(const std::string& bytes, const std::string& name, int shorter_side_at_least) {
  jpeg_decompress_struct info;
  jpeg_failure error;
  info.err = jpeg_std_error(&error.manager);
  error.manager.error_exit = on_jpeg_error;
  error.manager.output_message = [](j_common_ptr) {}; // warnings (a truncated file) are not errors: stay quiet
  decoded_image out;
  if (setjmp(error.jump)) {
    jpeg_destroy_decompress(&info);
    return failure{"'" + name + "' is not a readable JPEG: " + error.message};
  }
  jpeg_create_decompress(&info);
  jpeg_mem_src(&info, reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&info, TRUE);
  out.file_width = static_cast<int>(info.image_width);
  out.file_height = static_cast<int>(info.image_height);
  if (too_many_pixels(out.file_width, out.file_height)) {
    jpeg_destroy_decompress(&info);
    return failure{"'" + name + "' declares " + size_text(out.file_width, out.file_height) + " pixels: too large"};
  }
  info.out_color_space = JCS_RGB; // greyscale and YCbCr come out as RGB
  if (shorter_side_at_least > 0) {
    int shorter = std::min(out.file_width, out.file_height);
    unsigned denominator = 1;
    while (denominator < 8 && shorter / static_cast<int>(denominator * 2) >= shorter_side_at_least)
      denominator *= 2;
    info.scale_num = 1;
    info.scale_denom = denominator;
  }
  jpeg_start_decompress(&info);
  out.image = rgb_image(static_cast<int>(info.output_width), static_cast<int>(info.output_height));
  while (info.output_scanline < info.output_height) {
    JSAMPROW row = out.image.at(0, static_cast<int>(info.output_scanline));
    jpeg_read_scanlines(&info, &row, 1);
  }
  jpeg_finish_decompress(&info);
  jpeg_destroy_decompress(&info);
  return out;
}
#endif

#ifdef TTT_WITH_WEBP
result<decoded_image> decode_webp(const std::string& bytes, const std::string& name) {
  auto data = reinterpret_cast<const uint8_t*>(bytes.data());
  decoded_image out;
  if (!WebPGetInfo(data, bytes.size(), &out.file_width, &out.file_height))
    return failure{"'" + name + "' is not a readable WebP"};
  if (too_many_pixels(out.file_width, out.file_height))
    return failure{"'" + name + "' declares " + size_text(out.file_width, out.file_height) + " pixels: too large"};
  out.image = rgb_image(out.file_width, out.file_height);
  if (!WebPDecodeRGBInto(data, bytes.size(), out.image.pixels.data(), out.image.pixels.size(), out.file_width * 3))
    return failure{"'" + name + "' is not a readable WebP"};
  return out;
}
#endif

} // namespace

bool jpeg_supported() {
#ifdef TTT_WITH_JPEG
  return true;
#else
  return false;
#endif
}

bool webp_supported() {
#ifdef TTT_WITH_WEBP
  return true;
#else
  return false;
#endif
}

result<decoded_image> decode_image(const std::string& bytes, const std::string& name, int shorter_side_at_least) {
  auto b = [&](size_t i) { return static_cast<unsigned char>(bytes[i]); };
  if (bytes.size() < 12)
    return failure{"'" + name + "' is too short to be an image"};
  if (b(0) == 0x89 && b(1) == 'P' && b(2) == 'N' && b(3) == 'G')
    return decode_png(bytes, name);
  if (b(0) == 0xFF && b(1) == 0xD8 && b(2) == 0xFF) {
#ifdef TTT_WITH_JPEG
    return decode_jpeg(bytes, name, shorter_side_at_least);
#else
    (void)shorter_side_at_least;
    return failure{"'" + name + "' is a JPEG, and this ttt was built without libjpeg (install libjpeg-dev and " +
                   "rebuild, or convert the image to PNG)"};
#endif
  }
  if (bytes.compare(0, 4, "RIFF") == 0 && bytes.compare(8, 4, "WEBP") == 0) {
#ifdef TTT_WITH_WEBP
    return decode_webp(bytes, name);
#else
    return failure{"'" + name + "' is a WebP, and this ttt was built without libwebp (install libwebp-dev and " +
                   "rebuild, or convert the image to PNG)"};
#endif
  }
  return failure{"'" + name + "' is neither a PNG nor a JPEG nor a WebP"};
}

result<rgb_image> read_image(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return failure{"cannot read image '" + path + "'"};
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad())
    return failure{"cannot read image '" + path + "'"};
  auto decoded = decode_image(bytes, path);
  if (!decoded)
    return failure{decoded.error()};
  return std::move(decoded->image);
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
