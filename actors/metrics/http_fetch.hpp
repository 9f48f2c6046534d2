#pragma once
// Small, bounded HTTP GETs of what a run's aux peer serves besides its
// weights: the run's kit for `ttt join` (its profile, model config and
// manifest); and the check of a dashboard's address that every download
// from it makes.

#include <caf/expected.hpp>

#include <cstdint>
#include <string>

namespace ttt::metrics {

/// `url` as http://HOST:PORT without trailing slashes, or an error naming
/// it as not `what`'s address (a path after the port is refused too).
caf::expected<std::string> base_address(const std::string& url, const std::string& what);

/// GET `path` from `base_url` (http://HOST:PORT). Refuses an answer other
/// than 200 (404 too, unless `missing_is_empty`: then it is ""), and a body
/// over `max_bytes` (read no further). The error is one line for the user.
caf::expected<std::string> fetch_text(const std::string& base_url, const std::string& path, uint64_t max_bytes,
                                      bool missing_is_empty = false);

} // namespace ttt::metrics
