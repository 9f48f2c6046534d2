#pragma once
// One node's own figures for Prometheus ([metrics] listen): its DHT traffic,
// its connections, and, in a trainer, its loss, samples and averaging. The
// actors that own a figure update it; the HTTP thread renders a copy. Only
// the series of the table in node_metrics.cpp exist: a name not in it is
// ignored, so a typo cannot invent a series. Pure (a mutex, no I/O).

#include <map>
#include <mutex>
#include <string>

namespace ttt {

class node_metrics {
public:
  /// `constant_labels` go on every series, e.g. `peer="ab12…",run="demo"`
  /// (already escaped: see prometheus_label).
  explicit node_metrics(std::string constant_labels = "");

  /// Adds `by` to the counter `name` (with `labels`, e.g. `kind="store"`).
  void add(const std::string& name, double by = 1, const std::string& labels = "");
  /// Sets the gauge `name`.
  void set(const std::string& name, double value, const std::string& labels = "");
  /// The value of one series (0 when it was never touched).
  double value(const std::string& name, const std::string& labels = "") const;

  /// Prometheus' text format (0.0.4): HELP and TYPE of every known metric,
  /// then its series; counters never touched show as 0.
  std::string render() const;

private:
  mutable std::mutex mutex_;
  std::string constant_labels_;
  std::map<std::string, std::map<std::string, double>> series_; ///< name -> labels -> value
};

/// `key="value"` with the value escaped as the text format requires.
std::string prometheus_label(const std::string& key, const std::string& value);

} // namespace ttt
