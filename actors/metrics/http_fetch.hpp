#pragma once
// Small, bounded HTTP GETs of what a run's aux peer serves besides its
// weights: the run's kit for `ttt join` (its profile, model config and
// manifest).

#include <caf/expected.hpp>

#include <cstdint>
#include <string>

namespace ttt::metrics {

/// GET `path` from `base_url` (http://HOST:PORT). Refuses an answer other
/// than 200 (404 too, unless `missing_is_empty`: then it is ""), and a body
/// over `max_bytes` (read no further). The error is one line for the user.
caf::expected<std::string> fetch_text(const std::string& base_url, const std::string& path, uint64_t max_bytes,
                                      bool missing_is_empty = false);

} // namespace ttt::metrics
