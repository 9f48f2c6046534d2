#include "actors/metrics/printable_text.hpp"

#include <cstdint>

namespace ttt::metrics {

namespace {

/// The length of the well-formed, printable character at `text[at]`; 0 when
/// the bytes there are malformed UTF-8 or a control character.
size_t printable_char_at(std::string_view text, size_t at) {
  auto byte = [&](size_t i) { return static_cast<uint8_t>(text[at + i]); };
  uint8_t lead = byte(0);
  size_t length;
  uint32_t code;
  if (lead < 0x80) {
    length = 1;
    code = lead;
  } else if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
    code = lead & 0x1Fu;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    code = lead & 0x0Fu;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    code = lead & 0x07u;
  } else {
    return 0; // a continuation byte, or a lead that only starts overlong or out-of-range forms
  }
  if (text.size() - at < length)
    return 0;
  for (size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xC0u) != 0x80u)
      return 0;
    code = (code << 6) | (byte(i) & 0x3Fu);
  }
  static constexpr uint32_t shortest[] = {0, 0, 0x80, 0x800, 0x10000};
  if (code < shortest[length] || (code >= 0xD800 && code <= 0xDFFF) || code > 0x10FFFF)
    return 0;
  if (code < 0x20 || (code >= 0x7F && code <= 0x9F))
    return 0;
  return length;
}

} // namespace

bool printable_text(std::string_view text, size_t max_bytes) {
  if (text.size() > max_bytes)
    return false;
  for (size_t at = 0; at < text.size();) {
    auto length = printable_char_at(text, at);
    if (length == 0)
      return false;
    at += length;
  }
  return true;
}

std::string cut_to_printable(std::string_view text, size_t max_bytes) {
  std::string out;
  for (size_t at = 0; at < text.size();) {
    auto length = printable_char_at(text, at);
    if (length == 0) {
      at += 1;
      continue;
    }
    if (out.size() + length > max_bytes)
      break;
    out.append(text.substr(at, length));
    at += length;
  }
  return out;
}

} // namespace ttt::metrics
