#pragma once
// The HTTP servers' shared part (the dashboard, a node's /metrics): an
// httplib server bound to one address and served on a thread of its own.
// Included only by the servers' .cpp files: httplib.h is a large header.

#include <httplib.h>

#include <cstdint>
#include <string>
#include <thread>

namespace ttt::metrics {

struct http_thread {
  httplib::Server server;
  std::thread thread;

  /// Binds host:port (port 0: any free one) and serves on the thread; the
  /// port it got, or 0 and `error` naming `what` the port was for.
  uint16_t start(const std::string& host, uint16_t port, const std::string& what, std::string& error) {
    // SO_REUSEADDR only: httplib's default also sets SO_REUSEPORT, with which
    // a second server on the same port would start and take half the requests.
    server.set_socket_options([](socket_t sock) {
      int yes = 1;
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    int bound = port == 0 ? server.bind_to_any_port(host) : (server.bind_to_port(host, port) ? port : -1);
    if (bound <= 0) {
      error = "cannot listen on " + host + ":" + std::to_string(port) + " for " + what + " (in use, or a bad address?)";
      return 0;
    }
    thread = std::thread([this] { server.listen_after_bind(); });
    return static_cast<uint16_t>(bound);
  }

  ~http_thread() {
    server.stop();
    if (thread.joinable())
      thread.join();
  }
};

} // namespace ttt::metrics
