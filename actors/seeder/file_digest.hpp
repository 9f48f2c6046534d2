#pragma once
// BLAKE2b-256 of a file, read in bounded pieces: what a seeder lists and a
// joiner checks every downloaded file against.

#include <caf/expected.hpp>

#include <string>

namespace ttt::seeder {

/// The 32 raw bytes of BLAKE2b-256 (unkeyed) of the file at `path`.
caf::expected<std::string> file_digest(const std::string& path);

} // namespace ttt::seeder
