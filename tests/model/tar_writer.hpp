#pragma once
// Writes ustar archives for the tests: the members' bytes as given, and ways
// to spoil them (a long name, a size that lies), as archives from the
// internet may come.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace ttt::testing {

struct tar_entry {
  std::string name;
  std::string bytes;
  char type = '0';
  long long claimed_size = -1; ///< the header's size when it should lie; -1: the real one
};

inline std::string tar_header(const std::string& name, long long size, char type) {
  std::string h(512, '\0');
  std::memcpy(h.data(), name.data(), std::min<size_t>(name.size(), 100));
  std::snprintf(h.data() + 100, 8, "%07o", 0644);
  std::snprintf(h.data() + 108, 8, "%07o", 0);
  std::snprintf(h.data() + 116, 8, "%07o", 0);
  std::snprintf(h.data() + 124, 12, "%011llo", size);
  std::snprintf(h.data() + 136, 12, "%011o", 0);
  h[156] = type;
  std::memcpy(h.data() + 257,
              "ustar\0"
              "00",
              8);
  std::memset(h.data() + 148, ' ', 8);
  unsigned sum = 0;
  for (unsigned char c : h)
    sum += c;
  std::snprintf(h.data() + 148, 8, "%06o", sum);
  h[155] = ' ';
  return h;
}

inline std::string pad(std::string s) {
  s.resize((s.size() + 511) / 512 * 512, '\0');
  return s;
}

/// The archive's bytes; names over 100 characters get a GNU long-name entry.
inline std::string make_tar(const std::vector<tar_entry>& entries) {
  std::string out;
  for (const auto& e : entries) {
    if (e.name.size() > 100)
      out += tar_header("././@LongLink", static_cast<long long>(e.name.size() + 1), 'L') +
             pad(e.name + '\0');
    out += tar_header(e.name,
                      e.claimed_size >= 0 ? e.claimed_size : static_cast<long long>(e.bytes.size()),
                      e.type);
    out += pad(e.bytes);
  }
  return out + std::string(1024, '\0');
}

} // namespace ttt::testing
