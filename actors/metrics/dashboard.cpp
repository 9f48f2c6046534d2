#include "actors/metrics/dashboard.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <sstream>

namespace ttt::metrics {

namespace {

std::string number(double v, const char* format = "%.6g") {
  if (!std::isfinite(v))
    return std::isnan(v) ? "NaN" : (v > 0 ? "+Inf" : "-Inf");
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string label_value(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\\' || c == '"')
      out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

double loss_of(const swarm_snapshot& s) {
  return s.mean_loss;
}

double throughput_of(const swarm_snapshot& s) {
  return s.samples_per_second;
}

} // namespace

std::string escape_html(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
    case '&': out += "&amp;"; break;
    case '<': out += "&lt;"; break;
    case '>': out += "&gt;"; break;
    case '"': out += "&quot;"; break;
    case '\'': out += "&#39;"; break;
    default: out += c;
    }
  }
  return out;
}

std::string render_prometheus(const dashboard_view& v) {
  std::ostringstream out;
  std::string run = "run=\"" + label_value(v.run_id) + "\"";
  auto metric = [&](const char* name, const char* type, const char* help) {
    out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
  };
  if (!v.history.empty()) {
    const auto& s = v.history.back();
    metric("ttt_swarm_epoch", "gauge", "The latest epoch the swarm completed.");
    out << "ttt_swarm_epoch{" << run << "} " << s.step << '\n';
    metric("ttt_swarm_loss", "gauge", "Mean training loss of the latest epoch over all peers' mini-batches.");
    out << "ttt_swarm_loss{" << run << "} " << number(s.mean_loss) << '\n';
    metric("ttt_swarm_alive_peers", "gauge", "Peers that reported the latest epoch.");
    out << "ttt_swarm_alive_peers{" << run << "} " << s.alive_peers << '\n';
    metric("ttt_swarm_samples_per_second", "gauge", "The swarm's training throughput.");
    out << "ttt_swarm_samples_per_second{" << run << "} " << number(s.samples_per_second) << '\n';
    metric("ttt_swarm_samples", "gauge", "Samples the peers accumulated in the latest epoch.");
    out << "ttt_swarm_samples{" << run << "} " << s.samples << '\n';
  }
  metric("ttt_swarm_epochs_recorded", "gauge", "Epochs in the monitor's history.");
  out << "ttt_swarm_epochs_recorded{" << run << "} " << v.history.size() << '\n';
  if (!v.peers.empty()) {
    metric("ttt_peer_step", "gauge", "A peer's latest reported epoch.");
    for (const auto& p : v.peers)
      out << "ttt_peer_step{" << run << ",peer=\"" << p.peer.to_hex() << "\"} " << p.step << '\n';
    metric("ttt_peer_samples_per_second", "gauge", "A peer's reported throughput.");
    for (const auto& p : v.peers)
      out << "ttt_peer_samples_per_second{" << run << ",peer=\"" << p.peer.to_hex() << "\"} "
          << number(p.samples_per_second) << '\n';
    metric("ttt_peer_loss", "gauge", "A peer's mean loss over its latest epoch's mini-batches.");
    for (const auto& p : v.peers)
      out << "ttt_peer_loss{" << run << ",peer=\"" << p.peer.to_hex() << "\"} "
          << number(p.mini_steps > 0 ? p.loss / p.mini_steps : 0.0) << '\n';
  }
  metric("ttt_monitor_refused_records_total", "counter", "Metrics records refused: not about the peer that signed them.");
  out << "ttt_monitor_refused_records_total{" << run << "} " << v.refused_records << '\n';
  return out.str();
}

std::string render_chart_svg(const std::vector<swarm_snapshot>& history, const std::string& title,
                             double (*value)(const swarm_snapshot&), int width, int height) {
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
      << "\" viewBox=\"0 0 " << width << ' ' << height << "\" role=\"img\" aria-label=\"" << escape_html(title)
      << "\">\n<rect width=\"100%\" height=\"100%\" fill=\"#fff\" stroke=\"#ccc\"/>\n"
      << "<text x=\"10\" y=\"18\" font-family=\"sans-serif\" font-size=\"14\">" << escape_html(title) << "</text>\n";
  std::vector<std::pair<double, double>> points;
  for (const auto& s : history)
    if (std::isfinite(value(s)))
      points.emplace_back(static_cast<double>(s.step), value(s));
  if (points.size() < 2) {
    svg << "<text x=\"10\" y=\"" << height / 2
        << "\" font-family=\"sans-serif\" font-size=\"12\" fill=\"#666\">waiting for two epochs</text>\n</svg>\n";
    return svg.str();
  }
  double x0 = points.front().first, x1 = points.back().first;
  double y0 = points.front().second, y1 = y0;
  for (const auto& [x, y] : points) {
    y0 = std::min(y0, y);
    y1 = std::max(y1, y);
  }
  if (x1 == x0)
    x1 = x0 + 1;
  if (y1 == y0) {
    y0 -= 0.5;
    y1 += 0.5;
  }
  const double left = 60, right = width - 15.0, top = 30, bottom = height - 30.0;
  auto px = [&](double x) { return left + (x - x0) / (x1 - x0) * (right - left); };
  auto py = [&](double y) { return bottom - (y - y0) / (y1 - y0) * (bottom - top); };
  svg << "<line x1=\"" << left << "\" y1=\"" << bottom << "\" x2=\"" << right << "\" y2=\"" << bottom
      << "\" stroke=\"#888\"/>\n<line x1=\"" << left << "\" y1=\"" << top << "\" x2=\"" << left << "\" y2=\""
      << bottom << "\" stroke=\"#888\"/>\n";
  auto label = [&](double x, double y, const std::string& text, const char* anchor) {
    svg << "<text x=\"" << number(x, "%.1f") << "\" y=\"" << number(y, "%.1f")
        << "\" font-family=\"sans-serif\" font-size=\"11\" fill=\"#444\" text-anchor=\"" << anchor << "\">" << text
        << "</text>\n";
  };
  label(left - 5, top + 4, number(y1, "%.4g"), "end");
  label(left - 5, bottom + 4, number(y0, "%.4g"), "end");
  label(left, bottom + 16, "epoch " + number(x0, "%.0f"), "start");
  label(right, bottom + 16, "epoch " + number(points.back().first, "%.0f"), "end");
  svg << "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"";
  for (size_t i = 0; i < points.size(); ++i)
    svg << (i ? " " : "") << number(px(points[i].first), "%.1f") << ',' << number(py(points[i].second), "%.1f");
  svg << "\"/>\n</svg>\n";
  return svg.str();
}

std::string render_page(const dashboard_view& v, int refresh_seconds) {
  std::ostringstream html;
  html << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
       << "<meta http-equiv=\"refresh\" content=\"" << refresh_seconds << "\">"
       << "<title>ttt — " << escape_html(v.run_id) << "</title>"
       << "<style>body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse}"
       << "td,th{border:1px solid #ddd;padding:4px 8px;text-align:right}th{background:#f4f4f4}"
       << "code{background:#f4f4f4}</style></head><body>\n"
       << "<h1>ttt run <code>" << escape_html(v.run_id) << "</code></h1>\n";
  if (v.history.empty()) {
    html << "<p>No epoch finished yet: waiting for the trainers' first reports.</p>\n";
  } else {
    const auto& s = v.history.back();
    html << "<p>Epoch <b>" << s.step << "</b>: loss <b>" << number(s.mean_loss, "%.4f") << "</b>, " << s.alive_peers
         << " alive peers, " << number(s.samples_per_second, "%.1f") << " samples/s, " << s.samples
         << " samples this epoch.</p>\n";
  }
  html << render_chart_svg(v.history, "swarm loss per epoch", loss_of) << "<br>\n"
       << render_chart_svg(v.history, "swarm samples/s per epoch", throughput_of) << "\n<h2>Peers</h2>\n";
  if (v.peers.empty()) {
    html << "<p>No peer reported recently.</p>\n";
  } else {
    html << "<table><tr><th>peer</th><th>epoch</th><th>loss</th><th>samples/s</th><th>samples</th>"
         << "<th>seconds ago</th></tr>\n";
    for (const auto& p : v.peers)
      html << "<tr><td>" << (p.name.empty() ? std::string() : "<b>" + escape_html(p.name) + "</b> ") << "<code>"
           << p.peer.to_hex().substr(0, 16) << "</code></td><td>" << p.step << "</td><td>"
           << number(p.mini_steps > 0 ? p.loss / p.mini_steps : 0.0, "%.4f") << "</td><td>"
           << number(p.samples_per_second, "%.1f") << "</td><td>" << p.samples_accumulated << "</td><td>"
           << number(std::max(0.0, v.now - p.time), "%.0f") << "</td></tr>\n";
    html << "</table>\n";
  }
  html << "<p><a href=\"/metrics\">Prometheus metrics</a> · <a href=\"/api/history\">history (JSON)</a></p>\n"
       << "</body></html>\n";
  return html.str();
}

std::string render_json(const dashboard_view& v) {
  std::ostringstream j;
  j << "{\"run_id\":" << json_string(v.run_id) << ",\"history\":[";
  for (size_t i = 0; i < v.history.size(); ++i) {
    const auto& s = v.history[i];
    j << (i ? "," : "") << "{\"epoch\":" << s.step << ",\"loss\":" << number(s.mean_loss, "%.9g")
      << ",\"alive_peers\":" << s.alive_peers << ",\"samples_per_second\":" << number(s.samples_per_second, "%.9g")
      << ",\"samples\":" << s.samples << ",\"time\":" << number(s.time, "%.3f") << "}";
  }
  j << "],\"peers\":[";
  for (size_t i = 0; i < v.peers.size(); ++i) {
    const auto& p = v.peers[i];
    j << (i ? "," : "") << "{\"peer\":" << json_string(p.peer.to_hex()) << ",\"name\":" << json_string(p.name)
      << ",\"epoch\":" << p.step
      << ",\"samples_per_second\":" << number(p.samples_per_second, "%.9g")
      << ",\"samples\":" << p.samples_accumulated << ",\"time\":" << number(p.time, "%.3f") << "}";
  }
  j << "]}";
  return j.str();
}

void dashboard_board::set_run(const std::string& run_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  view_.run_id = run_id;
}

void dashboard_board::set_history(std::vector<swarm_snapshot> history) {
  std::lock_guard<std::mutex> lock(mutex_);
  view_.history = std::move(history);
}

void dashboard_board::append(const swarm_snapshot& snapshot) {
  std::lock_guard<std::mutex> lock(mutex_);
  view_.history.push_back(snapshot);
}

void dashboard_board::set_peers(std::vector<peer_metrics> peers, uint64_t refused, double now) {
  std::lock_guard<std::mutex> lock(mutex_);
  view_.peers = std::move(peers);
  view_.refused_records = refused;
  view_.now = now;
}

dashboard_view dashboard_board::view() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return view_;
}

} // namespace ttt::metrics
