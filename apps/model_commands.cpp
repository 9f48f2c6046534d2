// The model subcommands: `ttt model info|eval`, `ttt data ...`, `ttt train`,
// `ttt generate`, `ttt eval shapes`, `ttt export`. Wiring only: flags here,
// the work in model/ behind its torch-free API.
#include "apps/commands.hpp"
#include "apps/flags.hpp"
#include "model/api.hpp"

#include <cstdio>
#include <string>

namespace ttt::apps {

namespace {

int fail(const char* command, const std::string& message) {
  std::fprintf(stderr, "%s: %s\n", command, message.c_str());
  return 1;
}

/// The subcommand word and the arguments after it; prints the list on error.
int dispatch_usage(const char* command, const char* usage) {
  std::fprintf(stderr, "usage: %s\n", usage);
  (void)command;
  return 2;
}

int model_info(const args_t& args) {
  flag_parser flags("ttt model info --config FILE", {{"config", "FILE", "model config (.ini, dalle-pytorch names)"}});
  if (int rc = flags.parse_or_exit(args, "ttt model info"); rc >= 0)
    return rc;
  auto config = flags.value("config");
  if (!config)
    return fail("ttt model info", "--config FILE is required");
  auto summary = model::summarize_model(*config);
  if (!summary)
    return fail("ttt model info", summary.error());
  std::printf("%sdistinct attention modules: %lld\ndistinct feed-forward modules: %lld\nparameters: %lld\n",
              summary->description.c_str(), static_cast<long long>(summary->distinct_attention),
              static_cast<long long>(summary->distinct_feed_forward), static_cast<long long>(summary->parameters));
  return 0;
}

int model_eval(const args_t& args) {
  flag_parser flags("ttt model eval --config FILE --weights FILE.safetensors --batch FILE.json",
                    {{"config", "FILE", "model config (.ini)"},
                     {"weights", "FILE", "safetensors with dalle-pytorch names (without: a seeded fresh model)"},
                     {"batch", "FILE", "JSON {\"text\": [[ids...]...], \"image\": [[codes...]...]}"}});
  if (int rc = flags.parse_or_exit(args, "ttt model eval"); rc >= 0)
    return rc;
  if (!flags.has("config") || !flags.has("batch"))
    return fail("ttt model eval", "--config FILE and --batch FILE are required");
  auto losses = model::evaluate_batch(*flags.value("config"), flags.value_or("weights", ""), *flags.value("batch"));
  if (!losses)
    return fail("ttt model eval", losses.error());
  std::printf("{\"loss\": %.9g, \"loss_text\": %.9g, \"loss_img\": %.9g}\n", losses->loss, losses->loss_text,
              losses->loss_img);
  return 0;
}

int not_yet(const char* name) {
  std::fprintf(stderr, "%s: not implemented yet\n", name);
  return 2;
}

} // namespace

int model_command(const args_t& args) {
  const char* usage = "ttt model info|eval [options]   (ttt model info --help)";
  if (args.empty())
    return dispatch_usage("ttt model", usage);
  args_t rest(args.begin() + 1, args.end());
  if (args[0] == "info")
    return model_info(rest);
  if (args[0] == "eval")
    return model_eval(rest);
  if (args[0] == "--help" || args[0] == "-h") {
    std::printf("usage: %s\n  info   print a config and its parameter count\n  eval   losses of one batch\n", usage);
    return 0;
  }
  std::fprintf(stderr, "ttt model: unknown subcommand '%s'\n", args[0].c_str());
  return dispatch_usage("ttt model", usage);
}

int export_command(const args_t& args) {
  flag_parser flags("ttt export --checkpoint DIR --out FILE.safetensors",
                    {{"checkpoint", "DIR", "a checkpoint directory, or a training run's --out directory (latest)"},
                     {"config", "FILE", "model config, to export --weights or a fresh model instead"},
                     {"weights", "FILE", "safetensors to load first (overrides the checkpoint's)"},
                     {"out", "FILE", "where to write the safetensors file"}});
  if (int rc = flags.parse_or_exit(args, "ttt export"); rc >= 0)
    return rc;
  if (!flags.has("out") || (!flags.has("checkpoint") && !flags.has("config")))
    return fail("ttt export", "--out FILE and one of --checkpoint DIR or --config FILE are required");
  model::model_source source{flags.value_or("checkpoint", ""), flags.value_or("config", ""),
                             flags.value_or("weights", "")};
  auto written = model::export_model(source, *flags.value("out"));
  if (!written)
    return fail("ttt export", written.error());
  std::printf("wrote %lld tensors to %s\n", static_cast<long long>(*written), flags.value("out")->c_str());
  return 0;
}

int data_command(const args_t&) { return not_yet("ttt data"); }
int train_command(const args_t&) { return not_yet("ttt train"); }
int generate_command(const args_t&) { return not_yet("ttt generate"); }
int eval_command(const args_t&) { return not_yet("ttt eval"); }

} // namespace ttt::apps
