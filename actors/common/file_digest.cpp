#include "actors/common/file_digest.hpp"

#include "actors/common/identity.hpp"

#include <caf/sec.hpp>
#include <sodium.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace ttt {

caf::expected<std::string> file_digest(const std::string& path) {
  init_crypto();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return caf::make_error(caf::sec::runtime_error,
                           "cannot open " + path + ": " + std::strerror(errno));
  crypto_generichash_state state;
  crypto_generichash_init(&state, nullptr, 0, 32);
  std::vector<unsigned char> buffer(1 << 20);
  for (;;) {
    auto got = ::read(fd, buffer.data(), buffer.size());
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0) {
      auto why = "cannot read " + path + ": " + std::strerror(errno);
      ::close(fd);
      return caf::make_error(caf::sec::runtime_error, why);
    }
    if (got == 0)
      break;
    crypto_generichash_update(&state, buffer.data(), static_cast<unsigned long long>(got));
  }
  ::close(fd);
  unsigned char out[32];
  crypto_generichash_final(&state, out, sizeof(out));
  return std::string(reinterpret_cast<const char*>(out), sizeof(out));
}

} // namespace ttt
