#include "apps/profile.hpp"

#include "apps/flags.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace ttt::apps {

namespace {

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos)
    return "";
  auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

} // namespace

std::optional<profile> profile::load(const std::string& path, std::string& error) {
  std::ifstream in(path);
  if (!in) {
    error = "cannot read profile " + path + " (no such file or not readable)";
    return std::nullopt;
  }
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    error = "cannot read profile " + path;
    return std::nullopt;
  }
  auto parsed = parse(text.str(), path, error);
  if (parsed)
    parsed->folder_ = std::filesystem::path(path).parent_path().string();
  return parsed;
}

std::optional<profile> profile::parse(const std::string& text, const std::string& origin,
                                      std::string& error) {
  profile p;
  p.origin_ = origin;
  std::istringstream lines(text);
  std::string line;
  std::string section;
  int number = 0;
  while (std::getline(lines, line)) {
    ++number;
    auto t = trim(line);
    if (t.empty() || t[0] == '#' || t[0] == ';')
      continue;
    auto where = origin + ":" + std::to_string(number) + ": ";
    if (t.front() == '[') {
      if (t.back() != ']' || t.size() < 3) {
        error = where + "malformed section header '" + t + "'";
        return std::nullopt;
      }
      section = trim(t.substr(1, t.size() - 2));
      continue;
    }
    auto eq = t.find('=');
    if (eq == std::string::npos) {
      error = where + "expected 'key = value', got '" + t + "'";
      return std::nullopt;
    }
    if (section.empty()) {
      error = where + "setting outside of any [section]";
      return std::nullopt;
    }
    auto key = trim(t.substr(0, eq));
    auto value = trim(t.substr(eq + 1));
    if (key.empty()) {
      error = where + "empty key";
      return std::nullopt;
    }
    auto name = section + "." + key;
    if (p.values_.count(name)) {
      error = where + "'" + key + "' set twice in [" + section + "]";
      return std::nullopt;
    }
    p.values_[name] = value;
    p.lines_[name] = number;
    p.from_file_.insert(name);
  }
  return p;
}

std::optional<std::string> profile::get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end())
    return std::nullopt;
  return it->second;
}

std::optional<std::string> profile::text(const std::string& name,
                                         const std::string& fallback) const {
  return get(name).value_or(fallback);
}

std::optional<int64_t> profile::integer(const std::string& name, int64_t fallback,
                                        std::string& error) const {
  auto v = get(name);
  if (!v)
    return fallback;
  if (auto x = parse_integer(*v))
    return x;
  error = origin_ + ": " + name + " must be an integer, got '" + *v + "'";
  return std::nullopt;
}

std::optional<double> profile::real(const std::string& name, double fallback,
                                    std::string& error) const {
  auto v = get(name);
  if (!v)
    return fallback;
  if (auto x = parse_real(*v))
    return x;
  error = origin_ + ": " + name + " must be a number, got '" + *v + "'";
  return std::nullopt;
}

std::optional<bool> profile::boolean(const std::string& name, bool fallback,
                                     std::string& error) const {
  auto v = get(name);
  if (!v)
    return fallback;
  if (*v == "true" || *v == "yes" || *v == "1")
    return true;
  if (*v == "false" || *v == "no" || *v == "0")
    return false;
  error = origin_ + ": " + name + " must be true or false, got '" + *v + "'";
  return std::nullopt;
}

std::string profile::path(const std::string& name, const std::string& fallback) const {
  auto v = get(name);
  if (!v)
    return fallback;
  std::filesystem::path p(*v);
  if (v->empty() || p.is_absolute() || !from_file_.count(name) || folder_.empty())
    return *v;
  return (std::filesystem::path(folder_) / p).lexically_normal().string();
}

std::vector<std::string> profile::list(const std::string& name) const {
  std::vector<std::string> out;
  auto v = get(name);
  if (!v)
    return out;
  std::istringstream in(*v);
  std::string item;
  while (std::getline(in, item, ','))
    if (auto t = trim(item); !t.empty())
      out.push_back(t);
  return out;
}

bool profile::check_known(const std::set<std::string>& known, std::string& error) const {
  for (const auto& [name, _] : values_) {
    if (!known.count(name)) {
      auto line = lines_.count(name) ? std::to_string(lines_.at(name)) : "?";
      error = origin_ + ":" + line + ": unknown setting '" + name + "'";
      return false;
    }
  }
  return true;
}

} // namespace ttt::apps
