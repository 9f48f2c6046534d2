// The dashboard's HTTP server (cpp-httplib), kept in its own file: httplib.h
// is a large header that nothing else should parse.
#include "actors/metrics/dashboard.hpp"

#include <httplib.h>

#include <thread>

namespace ttt::metrics {

struct dashboard_server::impl {
  httplib::Server server;
  std::thread thread;
};

dashboard_server::dashboard_server() = default;

dashboard_server::~dashboard_server() {
  stop();
}

std::string dashboard_server::start(const std::string& host, uint16_t port,
                                    std::shared_ptr<const dashboard_board> board) {
  if (impl_)
    return "the dashboard is already running";
  auto state = std::make_unique<impl>();
  auto& server = state->server;
  server.Get("/", [board](const httplib::Request&, httplib::Response& res) {
    res.set_content(render_page(board->view()), "text/html; charset=utf-8");
  });
  server.Get("/metrics", [board](const httplib::Request&, httplib::Response& res) {
    res.set_content(render_prometheus(board->view()), "text/plain; version=0.0.4; charset=utf-8");
  });
  server.Get("/api/history", [board](const httplib::Request&, httplib::Response& res) {
    res.set_content(render_json(board->view()), "application/json");
  });
  server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.status == 404)
      res.set_content("not found: " + req.path + " (try /, /metrics, /api/history)\n", "text/plain");
  });
  // SO_REUSEADDR only: httplib's default also sets SO_REUSEPORT, with which a
  // second dashboard on the same port would start and take half the requests.
  server.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  int bound = port == 0 ? server.bind_to_any_port(host) : (server.bind_to_port(host, port) ? port : -1);
  if (bound <= 0)
    return "cannot listen on " + host + ":" + std::to_string(port) + " for the dashboard (in use, or a bad address?)";
  port_ = static_cast<uint16_t>(bound);
  state->thread = std::thread([s = &state->server] { s->listen_after_bind(); });
  impl_ = std::move(state);
  return "";
}

void dashboard_server::stop() {
  if (!impl_)
    return;
  impl_->server.stop();
  if (impl_->thread.joinable())
    impl_->thread.join();
  impl_.reset();
}

} // namespace ttt::metrics
