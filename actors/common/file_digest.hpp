#pragma once
// BLAKE2b-256 of a file, read in bounded pieces: what a seeder lists and a
// joiner checks every downloaded file against, and the digest an aux peer
// states of the weights it publishes.

#include <caf/expected.hpp>

#include <string>

namespace ttt {

/// The 32 raw bytes of BLAKE2b-256 (unkeyed) of the file at `path`.
caf::expected<std::string> file_digest(const std::string& path);

} // namespace ttt
