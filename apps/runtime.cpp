#include "apps/runtime.hpp"

#include "actors/common/node_id.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

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

std::optional<std::string> resolve_peer(const std::string& text, std::string& error) {
  std::string id_part;
  std::string address = text;
  if (auto at = text.find('@'); at != std::string::npos) {
    id_part = text.substr(0, at);
    address = text.substr(at + 1);
    if (!node_id::from_hex(id_part)) {
      error = "'" + text + "': the peer id before '@' must be 40 hex digits";
      return std::nullopt;
    }
  }
  auto hp = parse_host_port(address, error);
  if (!hp)
    return std::nullopt;
  auto host = hp->first;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found); rc != 0 || !found) {
    error = "'" + text + "': cannot resolve " + host + ": " + gai_strerror(rc);
    return std::nullopt;
  }
  char numeric[INET6_ADDRSTRLEN] = {0};
  ::getnameinfo(found->ai_addr, found->ai_addrlen, numeric, sizeof(numeric), nullptr, 0, NI_NUMERICHOST);
  ::freeaddrinfo(found);
  std::string out = id_part.empty() ? "" : id_part + "@";
  return out + numeric + ":" + std::to_string(hp->second);
}

} // namespace ttt::apps
