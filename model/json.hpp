#pragma once
// A small JSON reader and writer for the few JSON files model/ handles
// (safetensors headers, batch files): strict, with a message on bad input.

#include "model/result.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ttt::model {

/// One JSON value. Integers keep their exact 64-bit value.
struct json_value {
  enum class kind { null, boolean, integer, real, string, array, object };
  kind type = kind::null;
  bool boolean = false;
  int64_t integer = 0;
  double real = 0;
  std::string string;
  std::vector<json_value> array;
  std::map<std::string, json_value> object;

  bool is_number() const { return type == kind::integer || type == kind::real; }
  double number() const { return type == kind::integer ? static_cast<double>(integer) : real; }
  /// The member `key` of an object, or nullptr.
  const json_value* find(const std::string& key) const;
};

/// Parses one JSON document (nesting at most 64 deep).
result<json_value> parse_json(const std::string& text);

/// `s` as a JSON string literal.
std::string json_quote(const std::string& s);

} // namespace ttt::model
