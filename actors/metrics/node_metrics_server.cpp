// A node's /metrics over HTTP (cpp-httplib).
#include "actors/metrics/node_metrics_server.hpp"

#include "actors/metrics/http_thread.hpp"

namespace ttt::metrics {

struct node_metrics_server::impl : http_thread {};

node_metrics_server::node_metrics_server() = default;

node_metrics_server::~node_metrics_server() {
  stop();
}

std::string node_metrics_server::start(const std::string& host, uint16_t port,
                                       std::shared_ptr<const node_metrics> figures) {
  if (impl_)
    return "the metrics server is already running";
  auto state = std::make_unique<impl>();
  state->server.Get("/metrics", [figures](const httplib::Request&, httplib::Response& res) {
    res.set_content(figures->render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  state->server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.status == 404 && res.body.empty())
      res.set_content("not found: " + req.path + " (this node serves /metrics)\n", "text/plain");
  });
  std::string error;
  port_ = state->start(host, port, "the node's metrics", error);
  if (port_ == 0)
    return error;
  impl_ = std::move(state);
  return "";
}

void node_metrics_server::stop() {
  impl_.reset();
}

} // namespace ttt::metrics
