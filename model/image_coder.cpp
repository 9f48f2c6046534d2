#include "model/image_coder.hpp"

#include "model/json.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;

namespace ttt::model {

status write_image_coder(const std::string& dir, const image_coder_record& r) {
  auto path = (fs::path(dir) / image_coder_file).string();
  std::ofstream out(path, std::ios::trunc);
  out << "{\"kind\": " << json_quote(r.kind) << ", \"name\": " << json_quote(r.name) << ", \"codes\": " << r.codes
      << ", \"grid\": " << r.grid << ", \"image_size\": " << r.image_size;
  if (!r.config.empty())
    out << ", \"config\": " << json_quote(r.config);
  out << "}\n";
  out.flush();
  if (!out)
    return failure{"cannot write '" + path + "'"};
  return ok();
}

result<std::optional<image_coder_record>> read_image_coder(const std::string& dir) {
  auto path = (fs::path(dir) / image_coder_file).string();
  std::error_code ec;
  if (!fs::exists(path, ec))
    return std::optional<image_coder_record>{};
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  auto json = parse_json(text.str());
  auto bad = [&](const std::string& why) { return failure{"image coder record '" + path + "' " + why}; };
  if (!in || !json)
    return bad("is not JSON" + (json ? std::string() : ": " + json.error()));
  image_coder_record r;
  auto string_of = [&](const char* key, std::string& out, bool required) {
    auto* v = json->find(key);
    if (v && v->type == json_value::kind::string)
      out = v->string;
    return v ? v->type == json_value::kind::string : !required;
  };
  auto integer_of = [&](const char* key, int64_t& out) {
    auto* v = json->find(key);
    if (!v || v->type != json_value::kind::integer || v->integer <= 0)
      return false;
    out = v->integer;
    return true;
  };
  if (!string_of("kind", r.kind, true) || (r.kind != "vqgan" && r.kind != "codebook"))
    return bad("lacks \"kind\": \"vqgan\" or \"codebook\"");
  if (!string_of("name", r.name, false) || !string_of("config", r.config, false))
    return bad("has a \"name\" or \"config\" that is not a string");
  if (!integer_of("codes", r.codes) || !integer_of("grid", r.grid) || !integer_of("image_size", r.image_size))
    return bad("lacks positive integers \"codes\", \"grid\" and \"image_size\"");
  return std::optional<image_coder_record>{std::move(r)};
}

} // namespace ttt::model
