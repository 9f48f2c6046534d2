#include "apps/runtime.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace ttt::apps {

void log_line(const std::string& text) {
  static std::mutex mtx;
  using namespace std::chrono;
  auto now = system_clock::now();
  auto t = system_clock::to_time_t(now);
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  localtime_r(&t, &tm);
  std::lock_guard<std::mutex> guard(mtx);
  std::printf("%02d:%02d:%02d.%03d %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms),
              text.c_str());
  std::fflush(stdout);
}

std::optional<std::pair<std::string, uint16_t>> parse_host_port(const std::string& text,
                                                                 std::string& error,
                                                                 bool allow_port_zero) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    error = "'" + text + "' is not HOST:PORT";
    return std::nullopt;
  }
  auto port_text = text.substr(colon + 1);
  for (char c : port_text)
    if (c < '0' || c > '9') {
      error = "'" + text + "': port must be a number";
      return std::nullopt;
    }
  long port = port_text.size() > 5 ? 70000 : std::stol(port_text);
  if (port > 65535 || (port == 0 && !allow_port_zero)) {
    error = "'" + text + "': port out of range";
    return std::nullopt;
  }
  return std::make_pair(text.substr(0, colon), static_cast<uint16_t>(port));
}

} // namespace ttt::apps
