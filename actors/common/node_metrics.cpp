#include "actors/common/node_metrics.hpp"

#include <cmath>
#include <cstdio>

namespace ttt {

namespace {

struct metric_info {
  const char* name;
  bool counter;
  bool labelled; ///< its series are told apart by a label (kind, state, outcome)
  const char* help;
};

// Every series a node exports.
constexpr metric_info known_metrics[] = {
  {"ttt_node_dht_requests_total", true, true, "DHT requests this node answered, by kind (ping, store, find, refused)"},
  {"ttt_node_dht_records_refused_total", true, false, "records other peers asked this node to store that it refused"},
  {"ttt_node_dht_operations_total", true, true, "DHT gets and stores this node started, by kind"},
  {"ttt_node_dht_routing_peers", false, false, "peers in this node's routing table"},
  {"ttt_node_wire_connections", false, true, "this node's open connections, by state (authenticated, unauthenticated)"},
  {"ttt_node_epoch", false, false, "the last epoch this trainer completed"},
  {"ttt_node_loss", false, false, "this trainer's mean loss over its last epoch"},
  {"ttt_node_samples_total", true, false, "samples this trainer computed since it started"},
  {"ttt_node_samples_per_second", false, false, "this trainer's samples per second over its last epoch"},
  {"ttt_node_epochs_total", true, false, "epochs this trainer completed since it started"},
  {"ttt_node_averaging_rounds_total", true, true, "averaging rounds this trainer took part in, by outcome (averaged, partial, alone)"},
  {"ttt_node_averaging_seconds_total", true, false, "seconds this trainer spent matchmaking and averaging (DiLoCo: its epochs' time not computing)"},
  {"ttt_node_averaging_sent_bytes_total", true, false, "bytes this trainer sent in averaging rounds"},
};

const metric_info* find_metric(const std::string& name) {
  for (const auto& m : known_metrics)
    if (name == m.name)
      return &m;
  return nullptr;
}

std::string format_value(double v) {
  if (std::isnan(v))
    return "NaN";
  if (std::isinf(v))
    return v > 0 ? "+Inf" : "-Inf";
  char text[64];
  std::snprintf(text, sizeof(text), "%.17g", v);
  return text;
}

} // namespace

node_metrics::node_metrics(std::string constant_labels) : constant_labels_(std::move(constant_labels)) {}

void node_metrics::add(const std::string& name, double by, const std::string& labels) {
  auto* m = find_metric(name);
  if (m == nullptr || !m->counter || !(by >= 0))
    return;
  std::lock_guard<std::mutex> lock(mutex_);
  series_[name][labels] += by;
}

void node_metrics::set(const std::string& name, double value, const std::string& labels) {
  auto* m = find_metric(name);
  if (m == nullptr || m->counter)
    return;
  std::lock_guard<std::mutex> lock(mutex_);
  series_[name][labels] = value;
}

double node_metrics::value(const std::string& name, const std::string& labels) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = series_.find(name);
  if (it == series_.end())
    return 0;
  auto s = it->second.find(labels);
  return s == it->second.end() ? 0 : s->second;
}

std::string node_metrics::render() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  auto labels_of = [&](const std::string& own) {
    std::string all = constant_labels_;
    if (!own.empty())
      all += (all.empty() ? "" : ",") + own;
    return all.empty() ? std::string() : "{" + all + "}";
  };
  for (const auto& m : known_metrics) {
    out += std::string("# HELP ") + m.name + " " + m.help + "\n";
    out += std::string("# TYPE ") + m.name + (m.counter ? " counter\n" : " gauge\n");
    auto it = series_.find(m.name);
    if (it == series_.end()) {
      if (m.counter && !m.labelled)
        out += std::string(m.name) + labels_of("") + " 0\n";
      continue;
    }
    for (const auto& [labels, v] : it->second)
      out += std::string(m.name) + labels_of(labels) + " " + format_value(v) + "\n";
  }
  return out;
}

std::string prometheus_label(const std::string& key, const std::string& value) {
  std::string escaped;
  for (char c : value) {
    if (c == '\\')
      escaped += "\\\\";
    else if (c == '"')
      escaped += "\\\"";
    else if (c == '\n')
      escaped += "\\n";
    else
      escaped += c;
  }
  return key + "=\"" + escaped + "\"";
}

} // namespace ttt
