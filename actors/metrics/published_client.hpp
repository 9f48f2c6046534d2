#pragma once
// The client side of what an aux peer publishes: `ttt generate
// --weights-url` downloads the dashboard's latest weights with it, bounded
// in size and checked against the digest the server states.

#include "actors/metrics/published.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <string>

namespace ttt::metrics {

/// The most bytes a download of weights accepts: dalle-ttt's are about 5 GB.
inline constexpr uint64_t max_weights_bytes = uint64_t{8} << 30;

/// Downloads /weights/latest.safetensors from the dashboard at `base_url`
/// (http://HOST:PORT) into `out_path`. Refuses a body longer than
/// `max_bytes` or than its Content-Length, a short one, and one whose
/// BLAKE2b-256 is not the X-TTT-Weights-Digest the server sent. Returns what
/// the server said of it (weights_path: `out_path`); the error is one line
/// for the user ("cannot reach ...", "digest mismatch ...").
caf::expected<published_state> fetch_published_weights(const std::string& base_url, const std::string& out_path,
                                                       uint64_t max_bytes = max_weights_bytes);

} // namespace ttt::metrics
