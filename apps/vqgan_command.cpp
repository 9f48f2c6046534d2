// `ttt vqgan info|init|encode|decode`: taming-transformers' VQGAN (the 2021
// run's image coder). Wiring only: flags here, the work in model/ behind
// model/vqgan_api.hpp.
#include "apps/commands.hpp"
#include "apps/flags.hpp"
#include "model/vqgan_api.hpp"

#include <cstdio>
#include <string>
#include <vector>

namespace ttt::apps {

namespace {

int fail(const char* command, const std::string& message) {
  std::fprintf(stderr, "%s: %s\n", command, message.c_str());
  return 1;
}

const char* const codes_format = "JSON: an array with one array of codes per image, each a row-major square grid";

std::vector<flag_spec> source_flags(std::vector<flag_spec> flags) {
  flags.insert(flags.begin(),
               {{"config", "FILE", "VQGAN config (configs/vqgan/gumbel-f8.ini); optional when the weights carry it"},
                {"weights", "FILE", "safetensors under taming's state_dict names (README: from taming's last.ckpt)"},
                {"device", "D", "auto (default: the first GPU if any), cpu, cuda or cuda:N"},
                {"batch", "N", "images per forward pass (default 8)"}});
  return flags;
}

// The flags encode and decode share; false (and a message) when they are bad.
bool read_source(flag_parser& flags, const char* command, model::vqgan_source& source,
                 model::vqgan_run_options& options) {
  if (!flags.has("weights")) {
    fail(command, "--weights FILE is required (and --config FILE unless ttt wrote the weights)");
    return false;
  }
  source = {flags.value_or("config", ""), *flags.value("weights")};
  auto batch = flags.integer("batch", options.batch);
  if (!batch) {
    fail(command, flags.error());
    return false;
  }
  options.batch = *batch;
  options.device = flags.value_or("device", options.device);
  return true;
}

int vqgan_info(const args_t& args) {
  flag_parser flags("ttt vqgan info --config FILE", {{"config", "FILE", "VQGAN config (.ini, taming's names)"}});
  if (int rc = flags.parse_or_exit(args, "ttt vqgan info"); rc >= 0)
    return rc;
  if (!flags.has("config"))
    return fail("ttt vqgan info", "--config FILE is required");
  auto summary = model::summarize_vqgan(*flags.value("config"));
  if (!summary)
    return fail("ttt vqgan info", summary.error());
  std::printf("%sparameters: %lld\n", summary->description.c_str(), static_cast<long long>(summary->parameters));
  return 0;
}

int vqgan_init(const args_t& args) {
  flag_parser flags("ttt vqgan init --config FILE --out FILE.safetensors [--seed S]",
                    {{"config", "FILE", "VQGAN config (.ini)"},
                     {"out", "FILE", "where to write the weights (taming's names, the config in the metadata)"},
                     {"seed", "S", "random seed (default 0)"}});
  if (int rc = flags.parse_or_exit(args, "ttt vqgan init"); rc >= 0)
    return rc;
  if (!flags.has("config") || !flags.has("out"))
    return fail("ttt vqgan init", "--config FILE and --out FILE are required");
  auto seed = flags.integer("seed", 0);
  if (!seed)
    return fail("ttt vqgan init", flags.error());
  auto written = model::init_vqgan(*flags.value("config"), static_cast<uint64_t>(*seed), *flags.value("out"));
  if (!written)
    return fail("ttt vqgan init", written.error());
  std::printf("wrote %lld tensors of random weights to %s\n", static_cast<long long>(*written),
              flags.value("out")->c_str());
  return 0;
}

int vqgan_encode(const args_t& args) {
  flag_parser flags("ttt vqgan encode --config FILE --weights FILE --image IMG.png|jpg [--image ...] --out CODES.json",
                    source_flags({{"image", "FILE", "a PNG or JPEG; scaled to the config's resolution (shorter side) "
                                                    "and centre-cropped; repeat for more",
                                   true},
                                  {"out", "FILE", std::string("codes to write, ") + codes_format},
                                  {"sample", "", "add Gumbel noise before the argmax, as the 2021 code did "
                                                 "(default: the argmax)"},
                                  {"seed", "S", "seed of --sample's noise (default 0)"}}));
  if (int rc = flags.parse_or_exit(args, "ttt vqgan encode"); rc >= 0)
    return rc;
  model::vqgan_source source;
  model::vqgan_run_options options;
  if (!read_source(flags, "ttt vqgan encode", source, options))
    return 2;
  if (flags.values("image").empty() || !flags.has("out"))
    return fail("ttt vqgan encode", "--image FILE (one or more) and --out CODES.json are required");
  auto seed = flags.integer("seed", 0);
  if (!seed)
    return fail("ttt vqgan encode", flags.error());
  options.sample = flags.has("sample");
  options.seed = static_cast<uint64_t>(*seed);
  auto report = model::encode_image_files(source, flags.values("image"), options, *flags.value("out"));
  if (!report)
    return fail("ttt vqgan encode", report.error());
  std::printf("wrote the %lldx%lld codes of %lld images to %s (%s)\n", static_cast<long long>(report->grid),
              static_cast<long long>(report->grid), static_cast<long long>(report->images),
              flags.value("out")->c_str(), report->device.c_str());
  return 0;
}

int vqgan_decode(const args_t& args) {
  flag_parser flags("ttt vqgan decode --config FILE --weights FILE --codes CODES.json --out IMG.png",
                    source_flags({{"codes", "FILE", std::string("codes to decode, ") + codes_format},
                                  {"out", "FILE", "PNG to write: one image as it is, several as a grid"}}));
  if (int rc = flags.parse_or_exit(args, "ttt vqgan decode"); rc >= 0)
    return rc;
  model::vqgan_source source;
  model::vqgan_run_options options;
  if (!read_source(flags, "ttt vqgan decode", source, options))
    return 2;
  if (!flags.has("codes") || !flags.has("out"))
    return fail("ttt vqgan decode", "--codes CODES.json and --out IMG.png are required");
  auto report = model::decode_code_file(source, *flags.value("codes"), options, *flags.value("out"));
  if (!report)
    return fail("ttt vqgan decode", report.error());
  std::printf("wrote %lld images (%lldx%lld) to %s (%s)\n", static_cast<long long>(report->images),
              static_cast<long long>(report->width), static_cast<long long>(report->height),
              flags.value("out")->c_str(), report->device.c_str());
  return 0;
}

} // namespace

int vqgan_command(const args_t& args) {
  const char* usage = "ttt vqgan info|init|encode|decode [options]   (ttt vqgan encode --help)";
  if (args.empty()) {
    std::fprintf(stderr, "usage: %s\n", usage);
    return 2;
  }
  args_t rest(args.begin() + 1, args.end());
  if (args[0] == "info")
    return vqgan_info(rest);
  if (args[0] == "init")
    return vqgan_init(rest);
  if (args[0] == "encode")
    return vqgan_encode(rest);
  if (args[0] == "decode")
    return vqgan_decode(rest);
  if (args[0] == "--help" || args[0] == "-h") {
    std::printf("usage: %s\n"
                "  info    print a config and its parameter count\n"
                "  init    write random weights for a config (tests, benchmarks)\n"
                "  encode  images to codes (JSON)\n"
                "  decode  codes (JSON) to a PNG\n",
                usage);
    return 0;
  }
  std::fprintf(stderr, "ttt vqgan: unknown subcommand '%s'\nusage: %s\n", args[0].c_str(), usage);
  return 2;
}

} // namespace ttt::apps
