#pragma once
// The monitor's dashboard: what it shows (pure renderers of the swarm's
// history, its peers' latest reports, the volunteers' leaderboard and the
// latest published samples and weights: an HTML page with the loss, eval
// score, throughput and alive-peers curves as inline SVG and no external
// script or font, Prometheus' text format, JSON) and the board the monitor
// actor writes and the HTTP thread reads.

#include "actors/metrics/contributions.hpp"
#include "actors/metrics/published.hpp"
#include "actors/metrics/swarm_metrics.hpp"

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ttt::metrics {

/// Volunteers the board holds, and JSON and Prometheus list, at most.
constexpr size_t max_leaderboard_entries = 1000;
/// Volunteers the page's leaderboard shows.
constexpr size_t leaderboard_shown = 50;
/// Points a chart draws at most: a longer series is averaged in runs of
/// consecutive epochs, so that a long run's page stays small.
constexpr size_t max_chart_points = 500;

/// Everything the dashboard shows at one moment.
struct dashboard_view {
  std::string run_id;
  std::vector<swarm_snapshot> history; ///< one per epoch, oldest first
  std::vector<peer_metrics> peers;     ///< each alive peer's latest report
  /// Peers those reports say they clipped (summarize_clipped of `peers`).
  std::vector<clipped_summary> clipped;
  uint64_t refused_records = 0;        ///< reports not signed by the peer they name
  double now = 0;                      ///< unix seconds of the last poll
  /// The volunteers credited most, most first (at most
  /// max_leaderboard_entries); one seen alive at the last poll (its
  /// last_seen is `now`) is online.
  std::vector<contribution> leaderboard;
  leaderboard_totals volunteers;       ///< of all the volunteers the monitor keeps
  /// The latest samples and weights this node publishes; none: not yet, or
  /// it publishes none.
  std::optional<published_state> published;
};

/// Prometheus' text exposition format (version 0.0.4).
std::string render_prometheus(const dashboard_view& view);

/// How a chart draws its series; the defaults suit a figure every epoch has.
struct chart_style {
  /// The y axis' bounds (a score's 0..1); unset: the data's own.
  std::optional<std::pair<double, double>> y_range;
  /// A dot on every point, and a single point is drawn: for a series only
  /// some epochs have.
  bool dots = false;
  std::string color = "#1f77b4";
  /// Shown instead of a chart with too few points.
  std::string waiting_note = "waiting for two epochs";
  /// The SVG element's id on the page (empty: none).
  std::string id;
};

/// A line chart of one series over the epochs as a standalone SVG element.
/// `value` picks the series from a snapshot; epochs where it is not a finite
/// number are left out. Fewer than two points (none with dots) draw a note;
/// more than max_chart_points are averaged down to that many.
std::string render_chart_svg(const std::vector<swarm_snapshot>& history, const std::string& title,
                             double (*value)(const swarm_snapshot&), int width = 640, int height = 240,
                             const chart_style& style = {});

/// The latest epoch of `history` with an eval score; null when none has one.
const swarm_snapshot* latest_eval_score(const std::vector<swarm_snapshot>& history);

/// The page: the run, the latest epoch and eval score, the latest published
/// sample picture and weights, the loss, eval score, samples/s and alive
/// peers curves, the leaderboard (its first leaderboard_shown volunteers),
/// the peers; it reloads itself every `refresh_seconds`. Stable ids for
/// scripts and tests: chart-loss, chart-eval, chart-samples, chart-peers,
/// sample-picture, weights, leaderboard (rows: class "volunteer", with
/// data-peer, data-samples and data-online).
std::string render_page(const dashboard_view& view, int refresh_seconds = 5);

/// {"volunteers":…, "samples":…, "untracked":…, "entries":[{"peer", "name",
/// "name_verified", "device", "samples", "share" (of all credited samples,
/// 0..1), "seconds_online", "first_seen", "last_seen", "online"}]}: the
/// board's whole leaderboard (/api/leaderboard).
std::string render_leaderboard_json(const dashboard_view& view);

/// {"run_id":…, "history":[{…}], "peers":[{…}], "clipped":[{…}],
/// "leaderboard":{…} (render_leaderboard_json), "published":{…} or null}; an
/// epoch's or a peer's "eval_score" is null where it has none.
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
  /// Replaces the latest epoch's record with `snapshot` if it is of that
  /// epoch (its eval score came later).
  void amend_latest(const swarm_snapshot& snapshot);
  void set_peers(std::vector<peer_metrics> peers, std::vector<clipped_summary> clipped, uint64_t refused,
                 double now);
  /// `top`: the volunteers credited most, most first (cut to max_leaderboard_entries).
  void set_leaderboard(std::vector<contribution> top, const leaderboard_totals& totals);
  void set_published(const published_state& published);
  /// The run's kit for joiners (set once, at start); null: none is served.
  void set_kit(std::shared_ptr<const run_kit_files> kit);
  std::shared_ptr<const run_kit_files> kit() const;
  dashboard_view view() const;

private:
  mutable std::mutex mutex_;
  dashboard_view view_;
  std::shared_ptr<const run_kit_files> kit_;
};

/// The HTTP server: GET / (page), /metrics (Prometheus), /api/history and
/// /api/leaderboard (JSON).
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
