#pragma once
// The rule for the text a trainer sends about itself and the dashboard shows
// (a volunteer's chosen name, its device): bounded, well-formed UTF-8 without
// control characters, so that no name can break a log line, a table row or
// a Prometheus label, or hide behind invisible bytes.

#include <cstddef>
#include <string>
#include <string_view>

namespace ttt::metrics {

/// Bytes of a volunteer's name at most (a certificate's name is as long).
constexpr size_t max_volunteer_name_bytes = 64;
/// Bytes of a device's description at most.
constexpr size_t max_device_kind_bytes = 48;

/// Whether `text` is at most `max_bytes` of well-formed UTF-8 (no overlong
/// forms, surrogates or code points past U+10FFFF) without a control
/// character (U+0000..U+001F, U+007F..U+009F).
bool printable_text(std::string_view text, size_t max_bytes);

/// `text` as printable_text accepts it: malformed bytes and control
/// characters left out, then cut after the last whole character that fits
/// in `max_bytes`.
std::string cut_to_printable(std::string_view text, size_t max_bytes);

} // namespace ttt::metrics
