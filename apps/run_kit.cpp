#include "apps/run_kit.hpp"

#include "apps/profile.hpp"

#include <caf/sec.hpp>

#include <algorithm>
#include <fstream>
#include <optional>
#include <sstream>

namespace ttt::apps {

namespace {

caf::error kit_error(const std::string& why) {
  return caf::make_error(caf::sec::runtime_error, why);
}

std::optional<std::string> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return std::nullopt;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos)
    return "";
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

} // namespace

caf::expected<run_kit> make_run_kit(const std::string& path, const std::string& entry) {
  std::string error;
  auto prof = profile::load(path, error);
  if (!prof)
    return kit_error(error);
  auto roles = prof->list("node.roles");
  if (std::find(roles.begin(), roles.end(), "trainer") == roles.end())
    return kit_error(path + ": the run's kit is a trainer's profile, and its [node] roles list no trainer");
  if (prof->text("run.run_id", "")->empty() && prof->path("run.manifest", "").empty())
    return kit_error(path + ": the run's kit names no run ([run] run_id or manifest)");
  run_kit kit;
  auto config_path = prof->path("trainer.config", "");
  if (config_path.empty())
    return kit_error(path + ": the run's kit names no model config ([trainer] config)");
  auto config = read_bytes(config_path);
  if (!config)
    return kit_error(path + ": cannot read its model config " + config_path);
  kit.model_config = *config;
  if (auto manifest_path = prof->path("run.manifest", ""); !manifest_path.empty()) {
    auto manifest = read_bytes(manifest_path);
    if (!manifest)
      return kit_error(path + ": cannot read its manifest " + manifest_path);
    kit.manifest = *manifest;
  }

  // The same text, line by line, with the three settings rewritten.
  auto text = read_bytes(path);
  std::istringstream lines(text.value_or(""));
  std::string line, section, out;
  bool peers_written = false;
  auto peers_line = [&](const std::string& given) {
    peers_written = true;
    std::string all = given;
    if (!entry.empty())
      all += (all.empty() ? "" : ", ") + entry;
    return "initial_peers = " + all + "\n";
  };
  while (std::getline(lines, line)) {
    auto t = trim(line);
    if (!t.empty() && t.front() == '[') {
      if (section == "node" && !peers_written)
        out += peers_line("");
      section = trim(t.substr(1, t.size() - 2));
      out += line + "\n";
      continue;
    }
    auto eq = t.find('=');
    auto key = eq == std::string::npos || t[0] == '#' || t[0] == ';' ? std::string() : trim(t.substr(0, eq));
    if (section == "trainer" && key == "config")
      out += "config = model.ini\n";
    else if (section == "run" && key == "manifest")
      out += "manifest = run.manifest\n";
    else if (section == "node" && key == "initial_peers")
      out += peers_line(trim(t.substr(eq + 1)));
    else
      out += line + "\n";
  }
  if (section == "node" && !peers_written)
    out += peers_line("");
  kit.profile = out;
  return kit;
}

} // namespace ttt::apps
