#pragma once
// Files for the seeder's tests: a fresh directory, and deterministic
// pseudo-random contents (stand-ins for shards: the seeder never looks
// inside a file).

#include "actors/common/describe.hpp"

#include <caf/expected.hpp>
#include <sodium.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>
#include <stdexcept>
#include <string>

namespace ttt::test {

/// A fresh directory under /tmp, removed with everything in it at the end.
class scratch_dir {
public:
  scratch_dir() {
    char tmpl[] = "/tmp/ttt-seeder-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr)
      throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~scratch_dir() { std::system(("rm -rf '" + path_ + "'").c_str()); }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

private:
  std::string path_;
};

/// `size` bytes that depend only on `seed`.
inline std::string pseudo_random_bytes(size_t size, uint32_t seed) {
  std::mt19937 gen(seed);
  std::string bytes(size, '\0');
  for (auto& b : bytes)
    b = static_cast<char>(gen() & 0xff);
  return bytes;
}

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out)
    throw std::runtime_error("cannot write " + path);
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// BLAKE2b-256 of `bytes`, computed apart from the code under test.
inline std::string digest_of(const std::string& bytes) {
  unsigned char out[32];
  crypto_generichash(out, sizeof(out), reinterpret_cast<const unsigned char*>(bytes.data()),
                     bytes.size(), nullptr, 0);
  return std::string(reinterpret_cast<const char*>(out), sizeof(out));
}

/// Why `result` failed; empty when it did not (for test messages, which
/// are built whether or not the check fails).
template <class T> std::string why(const caf::expected<T>& result) {
  return result ? std::string() : describe(result.error());
}

} // namespace ttt::test
