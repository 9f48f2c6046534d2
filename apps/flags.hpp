#pragma once
// A small command-line parser shared by every subcommand: declared flags only,
// clear errors for unknown flags, missing values and bad numbers, and a
// generated --help text.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ttt::apps {

/// The whole of `text` as a number; nullopt when any of it is not.
std::optional<int64_t> parse_integer(const std::string& text);
std::optional<double> parse_real(const std::string& text);

/// One declared flag. A flag with `takes_value` consumes the next argument;
/// `repeatable` flags keep every occurrence.
struct flag_spec {
  std::string name; ///< without the leading "--"
  std::string value_name; ///< e.g. "HOST:PORT"; empty for a boolean switch
  std::string help;
  bool repeatable = false;
};

class flag_parser {
public:
  /// `usage` is the first help line, e.g. "ttt dht get [options] KEY".
  flag_parser(std::string usage, std::vector<flag_spec> specs, size_t min_positional = 0,
              size_t max_positional = 0);

  /// Parses `args`. Returns false and fills error() on bad input; returns
  /// false with help_requested() set for --help.
  bool parse(const std::vector<std::string>& args);

  bool help_requested() const { return help_requested_; }
  const std::string& error() const { return error_; }
  std::string help() const;

  bool has(const std::string& name) const;
  std::optional<std::string> value(const std::string& name) const;
  std::string value_or(const std::string& name, const std::string& fallback) const;
  const std::vector<std::string>& values(const std::string& name) const;
  const std::vector<std::string>& positional() const { return positional_; }

  /// Numeric accessors; on a malformed number they set error() and return nullopt.
  std::optional<int64_t> integer(const std::string& name, int64_t fallback);
  std::optional<double> real(const std::string& name, double fallback);

  /// Handles --help and errors the usual way: prints help to stdout (returns 0)
  /// or the error plus a hint to stderr (returns 2). Returns -1 when parsing
  /// succeeded and the command should go on.
  int parse_or_exit(const std::vector<std::string>& args, const char* command_name);

private:
  const flag_spec* find(const std::string& name) const;

  std::string usage_;
  std::vector<flag_spec> specs_;
  size_t min_positional_;
  size_t max_positional_;
  bool help_requested_ = false;
  std::string error_;
  std::map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positional_;
};

} // namespace ttt::apps
