#include "actors/metrics/dashboard.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <sstream>
#include <tuple>

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

/// A number in JSON, or null for none (NaN) or what JSON cannot hold.
std::string json_number(double v) {
  return std::isfinite(v) ? number(v, "%.9g") : "null";
}

/// What the reports say of `peer`'s clipping; null when nobody reports it.
const clipped_summary* clipping_of(const dashboard_view& v, const node_id& peer) {
  for (const auto& c : v.clipped)
    if (c.peer == peer)
      return &c;
  return nullptr;
}

/// "2 trainers, 7 of 8 rounds", or "1 trainer only, …": one reporter's word
/// is shown as such.
std::string clipped_by_text(const clipped_summary& c) {
  std::string text = c.reporters == 1 ? "1 trainer only" : std::to_string(c.reporters) + " trainers";
  text += ", " + std::to_string(c.most_clipped) + " of " + std::to_string(c.rounds) + " rounds";
  if (c.dropped_by > 0)
    text += ", dropped by " + std::to_string(c.dropped_by);
  return text;
}

/// A peer as the page names it: the name its verified certificate gives it,
/// if it reports metrics with one, and the start of its id.
std::string peer_cell(const dashboard_view& v, const node_id& peer) {
  std::string name;
  for (const auto& p : v.peers)
    if (p.peer == peer)
      name = p.name;
  return (name.empty() ? std::string() : "<b>" + escape_html(name) + "</b> ") + "<code>" +
         peer.to_hex().substr(0, 16) + "</code>";
}

/// Reporters named per clipped peer on the page (the JSON lists all).
constexpr size_t reporters_listed = 8;

double loss_of(const swarm_snapshot& s) {
  return s.mean_loss;
}

double throughput_of(const swarm_snapshot& s) {
  return s.samples_per_second;
}

double eval_score_of(const swarm_snapshot& s) {
  return s.eval_score;
}

double alive_peers_of(const swarm_snapshot& s) {
  return s.alive_peers;
}

/// At most `most` points: runs of consecutive points, as even as can be,
/// each drawn as their mean.
std::vector<std::pair<double, double>> downsample(std::vector<std::pair<double, double>> points, size_t most) {
  if (points.size() <= most)
    return points;
  std::vector<std::pair<double, double>> out;
  out.reserve(most);
  for (size_t run = 0; run < most; ++run) {
    size_t begin = run * points.size() / most, end = (run + 1) * points.size() / most;
    double x = 0, y = 0;
    for (size_t i = begin; i < end; ++i) {
      x += points[i].first;
      y += points[i].second;
    }
    auto count = static_cast<double>(end - begin);
    out.emplace_back(x / count, y / count);
  }
  return out;
}

chart_style chart_with_id(const char* id, const char* color = "#1f77b4") {
  chart_style style;
  style.id = id;
  style.color = color;
  return style;
}

/// "12 s ago", "5 min ago", "3 h ago", "2 d ago".
std::string ago_text(double seconds) {
  seconds = std::max(0.0, seconds);
  if (seconds < 60)
    return number(std::floor(seconds), "%.0f") + " s ago";
  if (seconds < 3600)
    return number(std::floor(seconds / 60), "%.0f") + " min ago";
  if (seconds < 48 * 3600)
    return number(std::floor(seconds / 3600), "%.0f") + " h ago";
  return number(std::floor(seconds / 86400), "%.0f") + " d ago";
}

/// "512 bytes", "3.4 kB", "12.3 MB", "1.2 GB".
std::string size_text(uint64_t bytes) {
  auto b = static_cast<double>(bytes);
  if (b < 1e3)
    return std::to_string(bytes) + " bytes";
  if (b < 1e6)
    return number(b / 1e3, "%.1f") + " kB";
  if (b < 1e9)
    return number(b / 1e6, "%.1f") + " MB";
  return number(b / 1e9, "%.1f") + " GB";
}

/// A volunteer's share of all credited samples, 0..1.
double share_of(const contribution& c, const leaderboard_totals& totals) {
  return totals.samples > 0 ? static_cast<double>(c.samples) / static_cast<double>(totals.samples) : 0.0;
}

/// Seen alive at the latest poll.
bool online_now(const contribution& c, const dashboard_view& v) {
  return v.now > 0 && c.last_seen >= v.now;
}

/// Prompts of a sample grid shown and listed at most.
constexpr size_t max_prompts_listed = 32;

/// Where the HTTP server serves the published files.
const char* const samples_url = "/samples/latest.png";
const char* const weights_url = "/weights/latest.safetensors";

std::string samples_link(const published_state& p) {
  return samples_url + std::string("?epoch=") + std::to_string(p.samples_epoch);
}

/// The leaderboard's section of the page.
void render_leaderboard(std::ostringstream& html, const dashboard_view& v) {
  const auto& totals = v.volunteers;
  html << "<h2>Volunteers</h2>\n<p>" << totals.volunteers << (totals.volunteers == 1 ? " volunteer" : " volunteers")
       << " contributed " << totals.samples << " samples";
  if (v.leaderboard.size() > leaderboard_shown)
    html << "; the " << leaderboard_shown << " who contributed most";
  html << ". A name marked unverified is the volunteer's own choice; a certificate's name is not marked.</p>\n";
  if (totals.untracked > 0)
    html << "<p>" << totals.untracked << " live volunteers are not credited: the monitor keeps at most "
         << max_volunteers << ".</p>\n";
  html << "<table id=\"leaderboard\"><tr><th>volunteer</th><th>samples</th><th>share</th><th>hours online</th>"
       << "<th>last seen</th><th>device</th><th>online now</th></tr>\n";
  for (size_t i = 0; i < v.leaderboard.size() && i < leaderboard_shown; ++i) {
    const auto& c = v.leaderboard[i];
    bool online = online_now(c, v);
    html << "<tr class=\"volunteer\" data-peer=\"" << c.peer.to_hex() << "\" data-samples=\"" << c.samples
         << "\" data-online=\"" << (online ? "yes" : "no") << "\"><td class=\"name\" title=\"" << c.peer.to_hex()
         << "\">" << escape_html(c.name)
         << (chosen_name(c) ? " <span class=\"unverified\">(unverified)</span>" : "") << "</td><td>" << c.samples
         << "</td><td>" << number(100 * share_of(c, totals), "%.1f") << "%</td><td>"
         << number(c.seconds_online / 3600, "%.1f") << "</td><td>"
         << (v.now > 0 ? ago_text(v.now - c.last_seen) : std::string("—")) << "</td><td>"
         << (c.device_kind.empty() ? std::string("—") : escape_html(c.device_kind)) << "</td><td class=\"online\">"
         << (online ? "yes" : "no") << "</td></tr>\n";
  }
  html << "</table>\n";
  if (v.leaderboard.empty())
    html << "<p>No volunteer credited yet.</p>\n";
}

/// The latest sample picture and weights, when this node publishes them.
void render_published(std::ostringstream& html, const published_state& p) {
  html << "<h2>Latest samples and weights</h2>\n";
  if (!p.samples_path.empty()) {
    html << "<figure><img id=\"sample-picture\" src=\"" << samples_link(p) << "\" data-epoch=\""
         << p.samples_epoch << "\" alt=\"samples drawn at epoch " << p.samples_epoch << "\">"
         << "<figcaption>Drawn at epoch " << p.samples_epoch << ", a row per prompt, top to bottom:<ol id=\"prompts\">";
    for (size_t i = 0; i < p.prompts.size() && i < max_prompts_listed; ++i)
      html << "<li>" << escape_html(p.prompts[i]) << "</li>";
    html << "</ol></figcaption></figure>\n";
  }
  if (!p.weights_path.empty())
    html << "<p>Weights (safetensors, dalle-pytorch names): <a id=\"weights\" href=\"" << weights_url
         << "\" download data-epoch=\"" << p.epoch << "\" data-bytes=\"" << p.weights_bytes << "\" data-digest=\""
         << escape_html(p.weights_digest) << "\">latest.safetensors, epoch " << p.epoch << ", "
         << size_text(p.weights_bytes) << ", BLAKE2b-256 <code>" << escape_html(p.weights_digest)
         << "</code></a></p>\n";
  if (p.samples_path.empty() && p.weights_path.empty())
    html << "<p>Nothing published yet.</p>\n";
}

std::string published_json(const published_state& p) {
  std::ostringstream j;
  j << "{\"epoch\":" << p.epoch << ",\"state_digest\":" << json_string(p.state_digest)
    << ",\"time\":" << json_number(p.time) << ",\"weights\":";
  if (p.weights_path.empty())
    j << "null";
  else
    j << "{\"url\":" << json_string(weights_url) << ",\"epoch\":" << p.epoch << ",\"bytes\":" << p.weights_bytes
      << ",\"digest\":" << json_string(p.weights_digest) << "}";
  j << ",\"samples\":";
  if (p.samples_path.empty()) {
    j << "null";
  } else {
    j << "{\"url\":" << json_string(samples_link(p)) << ",\"epoch\":" << p.samples_epoch << ",\"prompts\":[";
    for (size_t i = 0; i < p.prompts.size() && i < max_prompts_listed; ++i)
      j << (i ? "," : "") << json_string(p.prompts[i]);
    j << "]}";
  }
  j << "}";
  return j.str();
}

/// The eval chart: a score of some epochs only, on its fixed scale.
chart_style eval_chart_style() {
  chart_style style;
  style.y_range = std::make_pair(0.0, 1.0);
  style.dots = true;
  style.color = "#2ca02c";
  style.waiting_note = "no eval score yet: trainers evaluate every few epochs";
  style.id = "chart-eval";
  return style;
}

std::string trainers_text(uint32_t count) {
  return std::to_string(count) + (count == 1 ? " trainer" : " trainers");
}

} // namespace

const swarm_snapshot* latest_eval_score(const std::vector<swarm_snapshot>& history) {
  for (auto it = history.rbegin(); it != history.rend(); ++it)
    if (has_eval_score(it->eval_score))
      return &*it;
  return nullptr;
}

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
  if (const auto* scored = latest_eval_score(v.history)) {
    metric("ttt_eval_score", "gauge",
           "The latest eval score (0..1: how well generated pictures follow their captions), mean over the "
           "trainers that reported it.");
    out << "ttt_eval_score{" << run << "} " << number(scored->eval_score) << '\n';
    metric("ttt_eval_score_epoch", "gauge", "The epoch the latest eval score is of.");
    out << "ttt_eval_score_epoch{" << run << "} " << scored->step << '\n';
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
  if (!v.clipped.empty()) {
    auto peer_label = [&](const clipped_summary& c) {
      return "{" + run + ",peer=\"" + c.peer.to_hex() + "\"} ";
    };
    metric("ttt_peer_clipped_reports", "gauge",
           "Trainers that report a peer clipped in their recent CenteredClip rounds (their claims).");
    for (const auto& c : v.clipped)
      out << "ttt_peer_clipped_reports" << peer_label(c) << c.reporters << '\n';
    metric("ttt_peer_clipped_rounds", "gauge",
           "The most of its recent rounds any reporting trainer saw a peer clipped in.");
    for (const auto& c : v.clipped)
      out << "ttt_peer_clipped_rounds" << peer_label(c) << c.most_clipped << '\n';
    metric("ttt_peer_dropped_reports", "gauge",
           "Trainers that report no longer grouping with a peer for its clipping.");
    for (const auto& c : v.clipped)
      out << "ttt_peer_dropped_reports" << peer_label(c) << c.dropped_by << '\n';
  }
  if (v.volunteers.volunteers > 0 || v.volunteers.untracked > 0) {
    metric("ttt_volunteers", "gauge", "Volunteers the monitor credits.");
    out << "ttt_volunteers{" << run << "} " << v.volunteers.volunteers << '\n';
    metric("ttt_monitor_untracked_volunteers", "gauge",
           "Live volunteers the monitor does not credit: it keeps as many as it can.");
    out << "ttt_monitor_untracked_volunteers{" << run << "} " << v.volunteers.untracked << '\n';
  }
  if (!v.leaderboard.empty()) {
    auto volunteer = [&](const contribution& c) {
      return "{" + run + ",peer=\"" + c.peer.to_hex() + "\",name=\"" + label_value(c.name) + "\"} ";
    };
    metric("ttt_volunteer_samples_total", "counter",
           "Samples credited to a volunteer: what its trainer claims, at most what the monitor allows per second.");
    for (size_t i = 0; i < v.leaderboard.size() && i < max_leaderboard_entries; ++i)
      out << "ttt_volunteer_samples_total" << volunteer(v.leaderboard[i]) << v.leaderboard[i].samples << '\n';
    metric("ttt_volunteer_online", "gauge", "1 when the monitor's latest poll saw the volunteer alive.");
    for (size_t i = 0; i < v.leaderboard.size() && i < max_leaderboard_entries; ++i)
      out << "ttt_volunteer_online" << volunteer(v.leaderboard[i]) << (online_now(v.leaderboard[i], v) ? 1 : 0)
          << '\n';
  }
  metric("ttt_monitor_refused_records_total", "counter",
         "Metrics records refused: malformed, or not about the peer that signed them.");
  out << "ttt_monitor_refused_records_total{" << run << "} " << v.refused_records << '\n';
  return out.str();
}

std::string render_chart_svg(const std::vector<swarm_snapshot>& history, const std::string& title,
                             double (*value)(const swarm_snapshot&), int width, int height,
                             const chart_style& style) {
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\"";
  if (!style.id.empty())
    svg << " id=\"" << escape_html(style.id) << '"';
  svg << " width=\"" << width << "\" height=\"" << height
      << "\" viewBox=\"0 0 " << width << ' ' << height << "\" role=\"img\" aria-label=\"" << escape_html(title)
      << "\">\n<rect width=\"100%\" height=\"100%\" fill=\"#fff\" stroke=\"#ccc\"/>\n"
      << "<text x=\"10\" y=\"18\" font-family=\"sans-serif\" font-size=\"14\">" << escape_html(title) << "</text>\n";
  std::vector<std::pair<double, double>> points;
  for (const auto& s : history)
    if (std::isfinite(value(s)))
      points.emplace_back(static_cast<double>(s.step), value(s));
  if (points.size() < (style.dots ? 1u : 2u)) {
    svg << "<text x=\"10\" y=\"" << height / 2 << "\" font-family=\"sans-serif\" font-size=\"12\" fill=\"#666\">"
        << escape_html(style.waiting_note) << "</text>\n</svg>\n";
    return svg.str();
  }
  const double first_x = points.front().first, last_x = points.back().first;
  double x0 = first_x, x1 = last_x;
  if (x1 == x0) { // one point: in the middle
    x0 -= 1;
    x1 += 1;
  }
  double y0 = points.front().second, y1 = y0;
  if (style.y_range) {
    std::tie(y0, y1) = *style.y_range;
  } else {
    for (const auto& [x, y] : points) {
      y0 = std::min(y0, y);
      y1 = std::max(y1, y);
    }
  }
  // The axis spans every value; what is drawn of a long series is averaged.
  points = downsample(std::move(points), max_chart_points);
  if (y1 == y0) {
    y0 -= 0.5;
    y1 += 0.5;
  }
  const double left = 60, right = width - 15.0, top = 30, bottom = height - 30.0;
  auto px = [&](double x) { return left + (x - x0) / (x1 - x0) * (right - left); };
  // A value off a fixed axis stays on the frame's edge.
  auto py = [&](double y) { return bottom - (std::clamp(y, y0, y1) - y0) / (y1 - y0) * (bottom - top); };
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
  if (first_x == last_x) {
    label(px(first_x), bottom + 16, "epoch " + number(first_x, "%.0f"), "middle");
  } else {
    label(left, bottom + 16, "epoch " + number(first_x, "%.0f"), "start");
    label(right, bottom + 16, "epoch " + number(last_x, "%.0f"), "end");
  }
  const std::string color = escape_html(style.color);
  if (points.size() >= 2) {
    svg << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"2\" points=\"";
    for (size_t i = 0; i < points.size(); ++i)
      svg << (i ? " " : "") << number(px(points[i].first), "%.1f") << ',' << number(py(points[i].second), "%.1f");
    svg << "\"/>\n";
  }
  if (style.dots)
    for (const auto& [x, y] : points)
      svg << "<circle cx=\"" << number(px(x), "%.1f") << "\" cy=\"" << number(py(y), "%.1f") << "\" r=\"3\" fill=\""
          << color << "\"/>\n";
  svg << "</svg>\n";
  return svg.str();
}

std::string render_page(const dashboard_view& v, int refresh_seconds) {
  std::ostringstream html;
  html << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
       << "<meta http-equiv=\"refresh\" content=\"" << refresh_seconds << "\">"
       << "<title>ttt — " << escape_html(v.run_id) << "</title>"
       << "<style>body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse}"
       << "td,th{border:1px solid #ddd;padding:4px 8px;text-align:right}th{background:#f4f4f4}"
       << "code{background:#f4f4f4}td.name{text-align:left}.unverified{color:#888;font-size:smaller}"
       << "figure img{max-width:100%;image-rendering:pixelated}</style></head><body>\n"
       << "<h1>ttt run <code>" << escape_html(v.run_id) << "</code></h1>\n";
  if (v.history.empty()) {
    html << "<p>No epoch finished yet: waiting for the trainers' first reports.</p>\n";
  } else {
    const auto& s = v.history.back();
    html << "<p>Epoch <b>" << s.step << "</b>: loss <b>" << number(s.mean_loss, "%.4f") << "</b>, " << s.alive_peers
         << " alive peers, " << number(s.samples_per_second, "%.1f") << " samples/s, " << s.samples
         << " samples this epoch.</p>\n";
    if (const auto* scored = latest_eval_score(v.history))
      html << "<p>Eval score <b>" << number(scored->eval_score, "%.4f") << "</b> at epoch " << scored->step
           << " (from " << trainers_text(scored->eval_reporters)
           << "; 0..1: how well generated pictures follow their captions).</p>\n";
  }
  if (v.published)
    render_published(html, *v.published);
  // The eval chart sits beside the loss chart where the window is wide enough.
  html << render_chart_svg(v.history, "swarm loss per epoch", loss_of, 640, 240, chart_with_id("chart-loss")) << "\n"
       << render_chart_svg(v.history, "eval score (0..1)", eval_score_of, 640, 240, eval_chart_style()) << "<br>\n"
       << render_chart_svg(v.history, "swarm samples/s per epoch", throughput_of, 640, 240,
                           chart_with_id("chart-samples"))
       << "\n"
       << render_chart_svg(v.history, "alive peers per epoch", alive_peers_of, 640, 240,
                           chart_with_id("chart-peers", "#9467bd"))
       << "\n";
  render_leaderboard(html, v);
  html << "<h2>Peers</h2>\n";
  if (v.peers.empty()) {
    html << "<p>No peer reported recently.</p>\n";
  } else {
    html << "<table><tr><th>peer</th><th>epoch</th><th>loss</th><th>eval score</th><th>samples/s</th>"
         << "<th>samples</th><th>seconds ago</th><th>clipped by</th></tr>\n";
    for (const auto& p : v.peers) {
      const auto* clipping = clipping_of(v, p.peer);
      html << "<tr><td>" << (p.name.empty() ? std::string() : "<b>" + escape_html(p.name) + "</b> ") << "<code>"
           << p.peer.to_hex().substr(0, 16) << "</code></td><td>" << p.step << "</td><td>"
           << number(p.mini_steps > 0 ? p.loss / p.mini_steps : 0.0, "%.4f") << "</td><td>"
           << (has_eval_score(p.eval_score) ? number(p.eval_score, "%.4f") : std::string("—")) << "</td><td>"
           << number(p.samples_per_second, "%.1f") << "</td><td>" << p.samples_accumulated << "</td><td>"
           << number(std::max(0.0, v.now - p.time), "%.0f") << "</td><td>"
           << (clipping ? clipped_by_text(*clipping) : std::string("—")) << "</td></tr>\n";
    }
    html << "</table>\n";
  }
  if (!v.clipped.empty()) {
    // Shown whether or not the clipped peer reports metrics itself: an
    // attacker need not.
    html << "<h2>Clipped peers</h2>\n<p>Peers the trainers' CenteredClip rounds clipped recently, as the "
         << "trainers report it: their claims, for reporting only. One trainer's word is marked as such.</p>\n"
         << "<table><tr><th>peer</th><th>clipped by</th><th>most clipped</th><th>dropped by</th>"
         << "<th>reported by</th></tr>\n";
    for (const auto& c : v.clipped) {
      std::string reporters;
      for (size_t i = 0; i < c.reported_by.size() && i < reporters_listed; ++i)
        reporters += (i ? ", " : "") + peer_cell(v, c.reported_by[i]);
      if (c.reported_by.size() > reporters_listed)
        reporters += " and " + std::to_string(c.reported_by.size() - reporters_listed) + " more";
      html << "<tr><td>" << peer_cell(v, c.peer) << "</td><td>"
           << (c.reporters == 1 ? std::string("1 trainer only") : std::to_string(c.reporters) + " trainers")
           << "</td><td>" << c.most_clipped << " of " << c.rounds << " rounds</td><td>" << c.dropped_by
           << "</td><td>" << reporters << "</td></tr>\n";
    }
    html << "</table>\n";
  }
  html << "<p><a href=\"/metrics\">Prometheus metrics</a> · <a href=\"/api/history\">history (JSON)</a> · "
       << "<a href=\"/api/leaderboard\">leaderboard (JSON)</a></p>\n"
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
      << ",\"samples\":" << s.samples << ",\"time\":" << number(s.time, "%.3f")
      << ",\"eval_score\":" << json_number(s.eval_score) << ",\"eval_reporters\":" << s.eval_reporters << "}";
  }
  j << "],\"peers\":[";
  for (size_t i = 0; i < v.peers.size(); ++i) {
    const auto& p = v.peers[i];
    j << (i ? "," : "") << "{\"peer\":" << json_string(p.peer.to_hex()) << ",\"name\":" << json_string(p.name)
      << ",\"epoch\":" << p.step
      << ",\"samples_per_second\":" << number(p.samples_per_second, "%.9g")
      << ",\"samples\":" << p.samples_accumulated << ",\"time\":" << number(p.time, "%.3f")
      << ",\"eval_score\":" << json_number(p.eval_score);
    const auto* clipping = clipping_of(v, p.peer);
    j << ",\"clipped_by\":" << (clipping ? clipping->reporters : 0) << "}";
  }
  j << "],\"clipped\":[";
  for (size_t i = 0; i < v.clipped.size(); ++i) {
    const auto& c = v.clipped[i];
    j << (i ? "," : "") << "{\"peer\":" << json_string(c.peer.to_hex()) << ",\"reporters\":" << c.reporters
      << ",\"clipped_rounds\":" << c.most_clipped << ",\"rounds\":" << c.rounds << ",\"dropped_by\":"
      << c.dropped_by << ",\"reported_by\":[";
    for (size_t k = 0; k < c.reported_by.size(); ++k)
      j << (k ? "," : "") << json_string(c.reported_by[k].to_hex());
    j << "]}";
  }
  j << "],\"leaderboard\":" << render_leaderboard_json(v)
    << ",\"published\":" << (v.published ? published_json(*v.published) : std::string("null")) << "}";
  return j.str();
}

std::string render_leaderboard_json(const dashboard_view& v) {
  std::ostringstream j;
  j << "{\"volunteers\":" << v.volunteers.volunteers << ",\"samples\":" << v.volunteers.samples
    << ",\"untracked\":" << v.volunteers.untracked << ",\"entries\":[";
  for (size_t i = 0; i < v.leaderboard.size() && i < max_leaderboard_entries; ++i) {
    const auto& c = v.leaderboard[i];
    j << (i ? "," : "") << "{\"peer\":" << json_string(c.peer.to_hex()) << ",\"name\":" << json_string(c.name)
      << ",\"name_verified\":" << (c.name_verified ? "true" : "false")
      << ",\"device\":" << json_string(c.device_kind) << ",\"samples\":" << c.samples
      << ",\"share\":" << json_number(share_of(c, v.volunteers))
      << ",\"seconds_online\":" << json_number(c.seconds_online) << ",\"first_seen\":" << number(c.first_seen, "%.3f")
      << ",\"last_seen\":" << number(c.last_seen, "%.3f") << ",\"online\":" << (online_now(c, v) ? "true" : "false")
      << "}";
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

void dashboard_board::set_peers(std::vector<peer_metrics> peers, std::vector<clipped_summary> clipped,
                                uint64_t refused, double now) {
  std::lock_guard<std::mutex> lock(mutex_);
  view_.peers = std::move(peers);
  view_.clipped = std::move(clipped);
  view_.refused_records = refused;
  view_.now = now;
}

void dashboard_board::set_leaderboard(std::vector<contribution> top, const leaderboard_totals& totals) {
  if (top.size() > max_leaderboard_entries)
    top.resize(max_leaderboard_entries);
  std::lock_guard<std::mutex> lock(mutex_);
  view_.leaderboard = std::move(top);
  view_.volunteers = totals;
}

void dashboard_board::set_published(const published_state& published) {
  std::lock_guard<std::mutex> lock(mutex_);
  view_.published = published;
}

void dashboard_board::amend_latest(const swarm_snapshot& snapshot) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!view_.history.empty() && view_.history.back().step == snapshot.step)
    view_.history.back() = snapshot;
}

void dashboard_board::set_kit(std::shared_ptr<const run_kit_files> kit) {
  std::lock_guard<std::mutex> lock(mutex_);
  kit_ = std::move(kit);
}

std::shared_ptr<const run_kit_files> dashboard_board::kit() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return kit_;
}

dashboard_view dashboard_board::view() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return view_;
}

} // namespace ttt::metrics
