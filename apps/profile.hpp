#pragma once
// Node profiles: INI files in configs/ ("[section]", "key = value", "#" or
// ";" comments). A profile lists a node's roles and their settings; command
// line flags override it. Unknown sections or keys are errors, so a typo
// never silently falls back to a default. A relative path the file gives for
// an input (a model config, shards, a manifest) is relative to the file's own
// folder, so a profile works from any directory; one given by a flag is
// relative to the current directory.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace ttt::apps {

class profile {
public:
  /// Reads `path`; on failure returns nullopt and sets `error` (file, line, why).
  static std::optional<profile> load(const std::string& path, std::string& error);
  /// Parses `text` (`origin` names it in errors).
  static std::optional<profile> parse(const std::string& text, const std::string& origin,
                                      std::string& error);

  /// "section.key" -> value.
  std::optional<std::string> get(const std::string& name) const;
  /// Sets `name` as a flag does: a relative path in it is the current directory's.
  void set(const std::string& name, std::string value) {
    values_[name] = std::move(value);
    from_file_.erase(name);
  }

  /// Typed reads; a malformed value sets `error` and returns nullopt.
  std::optional<std::string> text(const std::string& name, const std::string& fallback) const;
  std::optional<int64_t> integer(const std::string& name, int64_t fallback, std::string& error) const;
  std::optional<double> real(const std::string& name, double fallback, std::string& error) const;
  std::optional<bool> boolean(const std::string& name, bool fallback, std::string& error) const;
  /// A path: a relative one the file gave resolves against the file's folder;
  /// one set by a flag, or the fallback, is left as it is.
  std::string path(const std::string& name, const std::string& fallback) const;
  /// Comma-separated list.
  std::vector<std::string> list(const std::string& name) const;

  /// Checks every key against `known` ("section.key"); sets `error` for the first unknown one.
  bool check_known(const std::set<std::string>& known, std::string& error) const;

  const std::string& origin() const { return origin_; }

private:
  std::string origin_;
  std::string folder_; ///< the file's folder ("" for parsed text)
  std::set<std::string> from_file_; ///< the keys whose value the file gave
  std::map<std::string, std::string> values_;
  std::map<std::string, int> lines_; ///< where each key was set, for messages
};

} // namespace ttt::apps
