// `ttt join RUN`: a volunteer's one command. It gets the run's kit (the
// trainer profile, model config and manifest an aux peer serves at
// http://HOST:PORT/run, or a local profile), fits the training to this
// machine and says so in one line, fetches a share of the run's data from
// its seeders unless --data is given, and runs the trainer node, which
// prints a status line every minute.

#include "actors/common/describe.hpp"
#include "actors/metrics/http_fetch.hpp"
#include "actors/wire/admission.hpp"
#include "apps/commands.hpp"
#include "apps/flags.hpp"
#include "apps/join_plan.hpp"
#include "apps/profile.hpp"
#include "apps/runtime.hpp"
#include "model/api.hpp"
#include "model/hardware.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

namespace ttt::apps {

namespace {

namespace fs = std::filesystem;

constexpr const char* command = "ttt join";
/// The most bytes of a kit file: profiles and model configs are a few KiB.
constexpr uint64_t max_kit_file_bytes = 256 * 1024;

int fail(const std::string& message) {
  std::fprintf(stderr, "%s: %s\n", command, message.c_str());
  return 2;
}

bool write_file(const fs::path& path, const std::string& bytes) {
  auto partial = path.string() + ".part";
  {
    std::ofstream out(partial, std::ios::binary | std::ios::trunc);
    if (!out.write(bytes.data(), static_cast<std::streamsize>(bytes.size())))
      return false;
  }
  std::error_code ec;
  fs::rename(partial, path, ec);
  return !ec;
}

/// The kit an aux peer serves at `url` (http://HOST:PORT[/run]) written into
/// `into`: trainer.ini, model.ini and, for a run with an authority,
/// run.manifest, whose model config digest the config must match. The
/// profile's path, or an error.
caf::expected<std::string> fetch_kit(const std::string& url, const fs::path& into) {
  auto base = url;
  const std::string suffix = "/run";
  while (!base.empty() && base.back() == '/')
    base.pop_back();
  if (base.size() > suffix.size() && base.compare(base.size() - suffix.size(), suffix.size(), suffix) == 0)
    base.resize(base.size() - suffix.size());
  auto profile = metrics::fetch_text(base, "/run", max_kit_file_bytes);
  if (!profile)
    return profile.error();
  auto model_config = metrics::fetch_text(base, "/run/model.ini", max_kit_file_bytes);
  if (!model_config)
    return model_config.error();
  auto manifest = metrics::fetch_text(base, "/run/run.manifest", max_kit_file_bytes, true);
  if (!manifest)
    return manifest.error();
  if (!manifest->empty()) {
    auto m = wire::read_manifest(*manifest);
    if (!m)
      return caf::make_error(caf::sec::runtime_error, url + " serves a run manifest that does not verify: " +
                                                          describe(m.error()));
    if (!m->model_config_digest.empty() && m->model_config_digest != wire::model_config_digest(*model_config))
      return caf::make_error(caf::sec::runtime_error,
                             url + " serves a model config whose digest is not the one its run's manifest names");
  }
  std::error_code ec;
  fs::create_directories(into, ec);
  if (ec)
    return caf::make_error(caf::sec::runtime_error, "cannot create " + into.string() + ": " + ec.message());
  if (!write_file(into / "trainer.ini", *profile) || !write_file(into / "model.ini", *model_config) ||
      (!manifest->empty() && !write_file(into / "run.manifest", *manifest)))
    return caf::make_error(caf::sec::runtime_error, "cannot write the run's kit into " + into.string());
  return (into / "trainer.ini").string();
}

} // namespace

int join_command(const args_t& args) {
  flag_parser flags("ttt join RUN [--name NAME] [--data-dir DIR] [--data DIR | --max-data MB] [--device D]\n"
                    "  RUN: the run's address (http://HOST:PORT, its aux peer's dashboard) or a trainer profile file",
                    {{"name", "NAME", "your name on the run's leaderboard (a certificate's name wins)"},
                     {"data-dir", "DIR", "this volunteer's identity, checkpoints and fetched data (default ttt-volunteer)"},
                     {"data", "DIR", "train on these shards instead of fetching the run's"},
                     {"max-data", "MB", "fetch training shards up to this many MB (default 2000)"},
                     {"device", "D", "auto (default), cpu, cuda or cuda:N"},
                     {"listen", "HOST:PORT", "where to listen for other peers (default: any port)"},
                     {"announce", "HOST:PORT", "the address other peers reach this one at"},
                     {"client-mode", "", "make only outgoing connections (behind NAT)"},
                     {"certificate", "FILE", "this volunteer's certificate of a closed run (ttt run admit)"},
                     {"set", "SECTION.KEY=VALUE", "set one of the node's settings (e.g. metrics.listen=127.0.0.1:9100)",
                      true}},
                    1, 1);
  if (int rc = flags.parse_or_exit(args, command); rc >= 0)
    return rc;
  auto run = flags.positional().at(0);
  auto data_dir = flags.value_or("data-dir", "ttt-volunteer");
  auto max_mb = flags.real("max-data", 2000);
  if (!max_mb || !(*max_mb > 0) || !std::isfinite(*max_mb))
    return fail(max_mb ? "--max-data must be a positive number of MB" : flags.error());

  // 1. The kit.
  std::string profile_path = run;
  if (run.rfind("http://", 0) == 0) {
    auto fetched = fetch_kit(run, fs::path(data_dir) / "run");
    if (!fetched)
      return fail(describe(fetched.error()));
    profile_path = *fetched;
    log_line("run kit from " + run + " in " + (fs::path(data_dir) / "run").string());
  }
  std::string error;
  auto prof = profile::load(profile_path, error);
  if (!prof)
    return fail(error);
  auto roles = prof->list("node.roles");
  if (std::find(roles.begin(), roles.end(), "trainer") == roles.end())
    return fail(profile_path + " is not a trainer's profile (its [node] roles list no trainer)");
  auto run_id = *prof->text("run.run_id", "");
  auto manifest = prof->path("run.manifest", "");
  if (run_id.empty() && !manifest.empty()) {
    std::ifstream in(manifest, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (auto m = wire::read_manifest(bytes))
      run_id = m->run_id;
  }
  if (run_id.empty())
    return fail(profile_path + " names no run: [run] run_id or manifest");

  // 2. The machine.
  auto config_path = prof->path("trainer.config", "configs/model/dalle-tiny.ini");
  auto config = model::load_config(config_path);
  if (!config)
    return fail(config.error());
  auto summary = model::summarize_model(config_path);
  if (!summary)
    return fail(summary.error());
  auto device = flags.value_or("device", *prof->text("trainer.device", "auto"));
  auto probe = model::probe_device(device);
  if (!probe)
    return fail(probe.error());
  auto plan = plan_training(config->model, summary->parameters, config->train.micro_batch_size, probe->memory_bytes,
                            probe->description);
  log_line(plan.line);

  // 3. The data.
  auto data = flags.value_or("data", "");
  if (data.empty()) {
    data = (fs::path(data_dir) / "data").string();
    args_t fetch = {"--out", data, "--max-data", std::to_string(*max_mb), "--run", run_id, "--data-dir", data_dir};
    auto peers = prof->list("node.initial_peers");
    if (peers.empty())
      return fail(profile_path + " names no initial peers to fetch the run's data through ([node] initial_peers)");
    for (const auto& p : peers)
      fetch.insert(fetch.end(), {"--initial-peer", p});
    if (!manifest.empty())
      fetch.insert(fetch.end(), {"--manifest", manifest});
    if (auto c = flags.value("certificate"))
      fetch.insert(fetch.end(), {"--certificate", *c});
    if (int rc = data_fetch_command(fetch); rc != 0)
      return rc;
  }

  // 4. Train.
  args_t node = {"--profile", profile_path, "--data-dir", data_dir, "--data", data,
                 "--set", "trainer.device=" + device,
                 "--set", "trainer.micro_batch_size=" + std::to_string(plan.micro_batch),
                 "--set", std::string("trainer.keep_activations=") + (plan.keep_activations ? "true" : "false")};
  for (const char* flag : {"name", "listen", "announce", "certificate"})
    if (auto v = flags.value(flag))
      node.insert(node.end(), {std::string("--") + flag, *v});
  if (flags.has("client-mode"))
    node.push_back("--client-mode");
  for (const auto& assignment : flags.values("set"))
    node.insert(node.end(), {"--set", assignment});
  return node_command(node);
}

} // namespace ttt::apps
