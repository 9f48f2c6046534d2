#include "model/json.hpp"

#include <cstdio>
#include <cstdlib>

namespace ttt::model {

namespace {

class parser {
public:
  explicit parser(const std::string& text) : text_(text) {}

  result<json_value> document() {
    json_value v;
    if (!value(v, 0))
      return failure{error_};
    skip_space();
    if (pos_ != text_.size()) {
      fail("trailing characters");
      return failure{error_};
    }
    return v;
  }

private:
  bool fail(const std::string& what) {
    if (error_.empty())
      error_ = what + " at byte " + std::to_string(pos_);
    return false;
  }
  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' || text_[pos_] == '\t' || text_[pos_] == '\r'))
      ++pos_;
  }
  bool literal(const char* word) {
    std::string w(word);
    if (text_.compare(pos_, w.size(), w) != 0)
      return fail("unexpected token");
    pos_ += w.size();
    return true;
  }
  bool string(std::string& out) {
    if (pos_ >= text_.size() || text_[pos_] != '"')
      return fail("expected a string");
    ++pos_;
    while (pos_ < text_.size() && text_[pos_] != '"') {
      char ch = text_[pos_++];
      if (ch != '\\') {
        out += ch;
        continue;
      }
      if (pos_ >= text_.size())
        return fail("unterminated escape");
      char e = text_[pos_++];
      switch (e) {
      case '"': out += '"'; break;
      case '\\': out += '\\'; break;
      case '/': out += '/'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'u': {
        if (pos_ + 4 > text_.size())
          return fail("short \\u escape");
        unsigned code = std::strtoul(text_.substr(pos_, 4).c_str(), nullptr, 16);
        pos_ += 4;
        // UTF-8 of the code unit (surrogate pairs are kept as two units).
        if (code < 0x80) {
          out += static_cast<char>(code);
        } else if (code < 0x800) {
          out += static_cast<char>(0xC0 | (code >> 6));
          out += static_cast<char>(0x80 | (code & 0x3F));
        } else {
          out += static_cast<char>(0xE0 | (code >> 12));
          out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
          out += static_cast<char>(0x80 | (code & 0x3F));
        }
        break;
      }
      default: return fail("bad escape");
      }
    }
    if (pos_ >= text_.size())
      return fail("unterminated string");
    ++pos_;
    return true;
  }
  bool number(json_value& v) {
    size_t start = pos_;
    bool integral = true;
    if (pos_ < text_.size() && text_[pos_] == '-')
      ++pos_;
    while (pos_ < text_.size()) {
      char ch = text_[pos_];
      if (ch >= '0' && ch <= '9') {
        ++pos_;
      } else if (ch == '.' || ch == 'e' || ch == 'E' || ch == '+' || ch == '-') {
        integral = false;
        ++pos_;
      } else {
        break;
      }
    }
    std::string s = text_.substr(start, pos_ - start);
    if (s.empty() || s == "-")
      return fail("expected a value");
    char* end = nullptr;
    if (integral) {
      errno = 0;
      v.integer = std::strtoll(s.c_str(), &end, 10);
      v.type = json_value::kind::integer;
      if (errno != 0)
        return fail("integer out of range");
    } else {
      v.real = std::strtod(s.c_str(), &end);
      v.type = json_value::kind::real;
    }
    if (end != s.c_str() + s.size())
      return fail("malformed number");
    return true;
  }
  bool value(json_value& v, int depth) {
    if (depth > 64)
      return fail("nesting too deep");
    skip_space();
    if (pos_ >= text_.size())
      return fail("unexpected end");
    char ch = text_[pos_];
    if (ch == '{') {
      ++pos_;
      v.type = json_value::kind::object;
      skip_space();
      if (pos_ < text_.size() && text_[pos_] == '}')
        return ++pos_, true;
      while (true) {
        skip_space();
        std::string key;
        if (!string(key))
          return false;
        skip_space();
        if (pos_ >= text_.size() || text_[pos_] != ':')
          return fail("expected ':'");
        ++pos_;
        if (!value(v.object[key], depth + 1))
          return false;
        skip_space();
        if (pos_ < text_.size() && text_[pos_] == ',') {
          ++pos_;
          continue;
        }
        if (pos_ < text_.size() && text_[pos_] == '}')
          return ++pos_, true;
        return fail("expected ',' or '}'");
      }
    }
    if (ch == '[') {
      ++pos_;
      v.type = json_value::kind::array;
      skip_space();
      if (pos_ < text_.size() && text_[pos_] == ']')
        return ++pos_, true;
      while (true) {
        v.array.emplace_back();
        if (!value(v.array.back(), depth + 1))
          return false;
        skip_space();
        if (pos_ < text_.size() && text_[pos_] == ',') {
          ++pos_;
          continue;
        }
        if (pos_ < text_.size() && text_[pos_] == ']')
          return ++pos_, true;
        return fail("expected ',' or ']'");
      }
    }
    if (ch == '"') {
      v.type = json_value::kind::string;
      return string(v.string);
    }
    if (ch == 't') {
      v.type = json_value::kind::boolean;
      v.boolean = true;
      return literal("true");
    }
    if (ch == 'f') {
      v.type = json_value::kind::boolean;
      return literal("false");
    }
    if (ch == 'n')
      return literal("null");
    return number(v);
  }

  const std::string& text_;
  size_t pos_ = 0;
  std::string error_;
};

} // namespace

const json_value* json_value::find(const std::string& key) const {
  auto it = object.find(key);
  return it == object.end() ? nullptr : &it->second;
}

result<json_value> parse_json(const std::string& text) { return parser(text).document(); }

std::string json_quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char ch : s) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += static_cast<char>(ch);
    } else if (ch < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", ch);
      out += buf;
    } else {
      out += static_cast<char>(ch);
    }
  }
  return out + "\"";
}

} // namespace ttt::model
