#include "apps/flags.hpp"

#include <cstdio>
#include <sstream>

namespace ttt::apps {

std::optional<int64_t> parse_integer(const std::string& text) {
  try {
    size_t used = 0;
    int64_t result = std::stoll(text, &used);
    if (used == text.size())
      return result;
  } catch (...) {
  }
  return std::nullopt;
}

std::optional<double> parse_real(const std::string& text) {
  try {
    size_t used = 0;
    double result = std::stod(text, &used);
    if (used == text.size())
      return result;
  } catch (...) {
  }
  return std::nullopt;
}

flag_parser::flag_parser(std::string usage, std::vector<flag_spec> specs, size_t min_positional,
                         size_t max_positional)
  : usage_(std::move(usage)), specs_(std::move(specs)), min_positional_(min_positional),
    max_positional_(max_positional) {
}

const flag_spec* flag_parser::find(const std::string& name) const {
  for (const auto& s : specs_)
    if (s.name == name)
      return &s;
  return nullptr;
}

bool flag_parser::parse(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const auto& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      help_requested_ = true;
      return false;
    }
    if (arg.size() > 2 && arg.compare(0, 2, "--") == 0) {
      std::string name = arg.substr(2);
      std::optional<std::string> inline_value;
      if (auto eq = name.find('='); eq != std::string::npos) {
        inline_value = name.substr(eq + 1);
        name = name.substr(0, eq);
      }
      const flag_spec* spec = find(name);
      if (spec == nullptr) {
        error_ = "unknown flag --" + name;
        return false;
      }
      std::string value;
      if (spec->value_name.empty()) {
        if (inline_value) {
          error_ = "--" + name + " takes no value";
          return false;
        }
        value = "true";
      } else if (inline_value) {
        value = *inline_value;
      } else {
        if (i + 1 >= args.size()) {
          error_ = "--" + name + " needs a value (" + spec->value_name + ")";
          return false;
        }
        value = args[++i];
      }
      auto& slot = values_[name];
      if (!slot.empty() && !spec->repeatable) {
        error_ = "--" + name + " given more than once";
        return false;
      }
      slot.push_back(std::move(value));
      continue;
    }
    positional_.push_back(arg);
  }
  if (positional_.size() < min_positional_) {
    error_ = "missing argument(s)";
    return false;
  }
  if (positional_.size() > max_positional_) {
    error_ = "unexpected argument '" + positional_[max_positional_] + "'";
    return false;
  }
  return true;
}

std::string flag_parser::help() const {
  std::ostringstream out;
  out << "usage: " << usage_ << "\n";
  if (!specs_.empty())
    out << "\noptions:\n";
  for (const auto& s : specs_) {
    std::string left = "--" + s.name + (s.value_name.empty() ? "" : " " + s.value_name);
    out << "  " << left;
    for (size_t pad = left.size(); pad < 28; ++pad)
      out << ' ';
    out << " " << s.help << (s.repeatable ? " (repeatable)" : "") << "\n";
  }
  out << "  --help                       show this text\n";
  return out.str();
}

bool flag_parser::has(const std::string& name) const {
  return values_.count(name) > 0;
}

std::optional<std::string> flag_parser::value(const std::string& name) const {
  auto i = values_.find(name);
  if (i == values_.end())
    return std::nullopt;
  return i->second.back();
}

std::string flag_parser::value_or(const std::string& name, const std::string& fallback) const {
  return value(name).value_or(fallback);
}

const std::vector<std::string>& flag_parser::values(const std::string& name) const {
  static const std::vector<std::string> none;
  auto i = values_.find(name);
  return i == values_.end() ? none : i->second;
}

std::optional<int64_t> flag_parser::integer(const std::string& name, int64_t fallback) {
  auto v = value(name);
  if (!v)
    return fallback;
  if (auto x = parse_integer(*v))
    return x;
  error_ = "--" + name + " expects an integer, got '" + *v + "'";
  return std::nullopt;
}

std::optional<double> flag_parser::real(const std::string& name, double fallback) {
  auto v = value(name);
  if (!v)
    return fallback;
  if (auto x = parse_real(*v))
    return x;
  error_ = "--" + name + " expects a number, got '" + *v + "'";
  return std::nullopt;
}

int flag_parser::parse_or_exit(const std::vector<std::string>& args, const char* command_name) {
  if (parse(args))
    return -1;
  if (help_requested_) {
    std::fputs(help().c_str(), stdout);
    return 0;
  }
  std::fprintf(stderr, "%s: %s\n%s", command_name, error_.c_str(), help().c_str());
  return 2;
}

} // namespace ttt::apps
