#pragma once
// Serves one node's own Prometheus figures (actors/common/node_metrics.hpp)
// at GET /metrics, on the address of its profile's [metrics] listen: every
// role can be scraped, not only the monitor.

#include "actors/common/node_metrics.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace ttt::metrics {

class node_metrics_server {
public:
  node_metrics_server();
  ~node_metrics_server();
  node_metrics_server(const node_metrics_server&) = delete;
  node_metrics_server& operator=(const node_metrics_server&) = delete;
  /// Listens on host:port (port 0: any free one) on a thread of its own.
  /// Returns an error text, or "" on success.
  std::string start(const std::string& host, uint16_t port, std::shared_ptr<const node_metrics> figures);
  void stop();
  uint16_t port() const { return port_; }

private:
  struct impl;
  std::unique_ptr<impl> impl_;
  uint16_t port_ = 0;
};

} // namespace ttt::metrics
