#pragma once
// The monitor's dashboard: what it shows (pure renderers of the swarm's
// history and its peers' latest reports: an HTML page with the loss and
// throughput curves as SVG, Prometheus' text format, JSON) and the board the
// monitor actor writes and the HTTP thread reads.

#include "actors/metrics/swarm_metrics.hpp"

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace ttt::metrics {

/// Everything the dashboard shows at one moment.
struct dashboard_view {
  std::string run_id;
  std::vector<swarm_snapshot> history; ///< one per epoch, oldest first
  std::vector<peer_metrics> peers;     ///< each alive peer's latest report
  uint64_t refused_records = 0;        ///< reports not signed by the peer they name
  double now = 0;                      ///< unix seconds of the last poll
};

/// Prometheus' text exposition format (version 0.0.4).
std::string render_prometheus(const dashboard_view& view);

/// A line chart of one series over the epochs as a standalone SVG element.
/// `value` picks the series from a snapshot; fewer than two points draw a note.
std::string render_chart_svg(const std::vector<swarm_snapshot>& history, const std::string& title,
                             double (*value)(const swarm_snapshot&), int width = 640, int height = 240);

/// The page: the run, the latest epoch, the loss and samples/s curves, the
/// peers; it reloads itself every `refresh_seconds`.
std::string render_page(const dashboard_view& view, int refresh_seconds = 5);

/// {"run_id":…, "history":[{…}], "peers":[{…}]}
std::string render_json(const dashboard_view& view);

/// Text safe inside HTML/XML.
std::string escape_html(const std::string& text);

/// The view shared between the monitor actor (writer) and the HTTP server's
/// threads (readers).
class dashboard_board {
public:
  void set_run(const std::string& run_id);
  void set_history(std::vector<swarm_snapshot> history);
  void append(const swarm_snapshot& snapshot);
  void set_peers(std::vector<peer_metrics> peers, uint64_t refused, double now);
  dashboard_view view() const;

private:
  mutable std::mutex mutex_;
  dashboard_view view_;
};

/// The HTTP server: GET / (page), /metrics (Prometheus), /api/history (JSON).
class dashboard_server {
public:
  dashboard_server();
  ~dashboard_server();
  dashboard_server(const dashboard_server&) = delete;
  dashboard_server& operator=(const dashboard_server&) = delete;
  /// Listens on host:port (port 0: any free one) on a thread of its own.
  /// Returns an error text, or "" on success.
  std::string start(const std::string& host, uint16_t port, std::shared_ptr<const dashboard_board> board);
  void stop();
  uint16_t port() const { return port_; }

private:
  struct impl;
  std::unique_ptr<impl> impl_;
  uint16_t port_ = 0;
};

} // namespace ttt::metrics
