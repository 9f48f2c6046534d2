// The model subcommands: `ttt model info|eval`, `ttt data ...`, `ttt train`,
// `ttt generate`, `ttt eval shapes`, `ttt export`. Wiring only: flags here,
// the work in model/ behind its torch-free API.
#include "actors/common/describe.hpp"
#include "actors/metrics/published_client.hpp"
#include "apps/commands.hpp"
#include "apps/flags.hpp"
#include "model/api.hpp"
#include "model/import_api.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <unistd.h>

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
  if ((!flags.has("config") && !flags.has("weights")) || !flags.has("batch"))
    return fail("ttt model eval", "--batch FILE and --config FILE or --weights FILE (written by ttt) are required");
  auto losses = model::evaluate_batch(flags.value_or("config", ""), flags.value_or("weights", ""), *flags.value("batch"));
  if (!losses)
    return fail("ttt model eval", losses.error());
  std::printf("{\"loss\": %.9g, \"loss_text\": %.9g, \"loss_img\": %.9g}\n", losses->loss, losses->loss_text,
              losses->loss_img);
  return 0;
}

int data_shapes(const args_t& args) {
  flag_parser flags("ttt data shapes --out DIR --count N [--seed S] [--config FILE]",
                    {{"out", "DIR", "where to write shards, tokenizer.model, codebook.safetensors, preview.png"},
                     {"count", "N", "training samples (default 1000)"},
                     {"valid", "N", "held-out samples (default count/10, at least 16)"},
                     {"seed", "S", "random seed (default 1)"},
                     {"config", "FILE", "size the set for this model (default: dalle-tiny's 8x8 codes, 64 codes)"},
                     {"vocab-size", "N", "tokenizer pieces at most (default 64)"},
                     {"shard-size", "N", "records per shard file (default 5000)"}});
  if (int rc = flags.parse_or_exit(args, "ttt data shapes"); rc >= 0)
    return rc;
  if (!flags.has("out"))
    return fail("ttt data shapes", "--out DIR is required");
  model::shapes_options o;
  o.out_dir = *flags.value("out");
  if (auto config = flags.value("config")) {
    auto c = model::load_config(*config);
    if (!c)
      return fail("ttt data shapes", c.error());
    o.grid = c->model.image_fmap_size;
    o.codes = c->model.num_image_tokens;
    o.text_seq_len = c->model.text_seq_len;
    o.vocab_size = std::min<int64_t>(o.vocab_size, c->model.num_text_tokens);
  }
  auto count = flags.integer("count", o.count), valid = flags.integer("valid", o.valid_count),
       seed = flags.integer("seed", 1), vocab = flags.integer("vocab-size", o.vocab_size),
       shard = flags.integer("shard-size", o.shard_size);
  if (!count || !valid || !seed || !vocab || !shard)
    return fail("ttt data shapes", flags.error());
  o.count = *count;
  o.valid_count = *valid;
  o.seed = static_cast<uint64_t>(*seed);
  o.vocab_size = *vocab;
  o.shard_size = std::max<int64_t>(1, *shard);
  auto report = model::make_shapes_dataset(o, [](const std::string& line) { std::printf("%s\n", line.c_str()); });
  if (!report)
    return fail("ttt data shapes", report.error());
  std::printf("wrote %lld training and %lld held-out samples to %s: %lldx%lld codes of %lldx%lld-pixel patches "
              "(codebook of %lld)\ncodebook reconstruction: mean pixel error %.1f/255, shapes score %.3f\n",
              (long long)report->train, (long long)report->valid, o.out_dir.c_str(), (long long)report->grid,
              (long long)report->grid, (long long)report->patch, (long long)report->patch, (long long)report->codes,
              report->reconstruction_error, report->reconstruction_score);
  if (report->truncated_captions > 0)
    std::printf("warning: %lld captions were cut to %lld text ids\n", (long long)report->truncated_captions,
                (long long)o.text_seq_len);
  return 0;
}

int data_inspect(const args_t& args) {
  flag_parser flags("ttt data inspect [--show N] SHARD", {{"show", "N", "records to print (default 3)"}}, 1, 1);
  if (int rc = flags.parse_or_exit(args, "ttt data inspect"); rc >= 0)
    return rc;
  auto show = flags.integer("show", 3);
  if (!show)
    return fail("ttt data inspect", flags.error());
  auto text = model::inspect_shard(flags.positional()[0], *show);
  if (!text)
    return fail("ttt data inspect", text.error());
  std::fputs(text->c_str(), stdout);
  return 0;
}

int data_tokenizer(const args_t& args) {
  flag_parser flags("ttt data tokenizer --data SHARD|DIR --out FILE.model [--vocab-size N]",
                    {{"data", "SHARD|DIR", "a shard, or a directory of train-*.shard"},
                     {"out", "FILE", "where to write the SentencePiece model"},
                     {"vocab-size", "N", "pieces at most (default 256)"},
                     {"model-type", "TYPE", "unigram (default), bpe, word or char"}});
  if (int rc = flags.parse_or_exit(args, "ttt data tokenizer"); rc >= 0)
    return rc;
  if (!flags.has("data") || !flags.has("out"))
    return fail("ttt data tokenizer", "--data and --out are required");
  auto vocab = flags.integer("vocab-size", 256);
  if (!vocab)
    return fail("ttt data tokenizer", flags.error());
  auto pieces = model::train_tokenizer_on(*flags.value("data"), *vocab, *flags.value("out"),
                                          flags.value_or("model-type", "unigram"));
  if (!pieces)
    return fail("ttt data tokenizer", pieces.error());
  std::printf("wrote %s: %lld pieces\n", flags.value("out")->c_str(), (long long)*pieces);
  return 0;
}

int data_tokenize(const args_t& args) {
  flag_parser flags("ttt data tokenize --tokenizer FILE.model --text-length N IN.shard OUT.shard",
                    {{"tokenizer", "FILE", "SentencePiece model (yours, or from ttt data tokenizer)"},
                     {"text-length", "N", "ids per caption, the model's text_seq_len (default 256)"}},
                    2, 2);
  if (int rc = flags.parse_or_exit(args, "ttt data tokenize"); rc >= 0)
    return rc;
  if (!flags.has("tokenizer"))
    return fail("ttt data tokenize", "--tokenizer FILE is required");
  auto length = flags.integer("text-length", 256);
  if (!length)
    return fail("ttt data tokenize", flags.error());
  auto written = model::retokenize_shard(*flags.value("tokenizer"), *length, flags.positional()[0], flags.positional()[1]);
  if (!written)
    return fail("ttt data tokenize", written.error());
  std::printf("wrote %lld records to %s\n", (long long)*written, flags.positional()[1].c_str());
  return 0;
}

int data_import(const args_t& args) {
  flag_parser flags(
    "ttt data import --vqgan W.safetensors --tokenizer T.model --out DIR (--webdataset TAR... | --images DIR)",
    {{"webdataset", "TAR", "img2dataset's WebDataset shards (KEY.jpg|png|webp + KEY.txt [+ KEY.json]), or a folder "
                           "of them; repeat, or list more TARs after the flags",
      true},
     {"images", "DIR", "a folder of images (.jpg, .png, .webp) with same-named .txt captions"},
     {"vqgan", "FILE", "VQGAN weights (safetensors, taming's names) that turn images into codes"},
     {"vqgan-config", "FILE", "the VQGAN's config, unless its weights carry it"},
     {"tokenizer", "FILE", "SentencePiece model: T5's spiece.model, or one from ttt data tokenizer"},
     {"config", "FILE", "the model to train on the set: its text length, vocabulary and image grid are checked"},
     {"out", "DIR", "shards, tokenizer.model, image_coder.json; a rerun resumes after the finished shards"},
     {"text-length", "N", "ids per caption (default: the --config's text_seq_len, else 256)"},
     {"valid", "N", "hold out the first N samples that pass the filters as valid-*.shard (default 500)"},
     {"shard-size", "N", "images of --images per output shard (default 10000; a tar is one shard)"},
     {"batch", "N", "images per VQGAN forward pass (default 32)"},
     {"workers", "N", "decoding threads (default: one per core, at most 8)"},
     {"device", "D", "auto (default: the first GPU if any), cpu, cuda or cuda:N"}},
    0, 1000000);
  if (int rc = flags.parse_or_exit(args, "ttt data import"); rc >= 0)
    return rc;
  model::import_options o;
  o.webdataset = flags.values("webdataset");
  if (!o.webdataset.empty())
    o.webdataset.insert(o.webdataset.end(), flags.positional().begin(), flags.positional().end());
  else if (!flags.positional().empty())
    return fail("ttt data import", "unexpected '" + flags.positional()[0] + "' (TARs follow --webdataset)");
  o.images_dir = flags.value_or("images", "");
  o.vqgan_weights = flags.value_or("vqgan", "");
  o.vqgan_config = flags.value_or("vqgan-config", "");
  o.tokenizer = flags.value_or("tokenizer", "");
  o.model_config = flags.value_or("config", "");
  o.out_dir = flags.value_or("out", "");
  o.device = flags.value_or("device", o.device);
  auto length = flags.integer("text-length", o.text_seq_len), valid = flags.integer("valid", o.valid_count),
       shard = flags.integer("shard-size", o.folder_shard_size), batch = flags.integer("batch", o.batch),
       workers = flags.integer("workers", o.workers);
  if (!length || !valid || !shard || !batch || !workers)
    return fail("ttt data import", flags.error());
  if (flags.has("text-length") && flags.has("config"))
    return fail("ttt data import", "--text-length and --config both set the text length: give one");
  o.text_seq_len = *length;
  o.valid_count = *valid;
  o.folder_shard_size = *shard;
  o.batch = *batch;
  o.workers = *workers;
  auto report = model::import_dataset(
    o,
    [](const std::string& line) {
      std::printf("%s\n", line.c_str());
      std::fflush(stdout);
    },
    [](const std::string& line) { std::fprintf(stderr, "warning: %s\n", line.c_str()); });
  if (!report)
    return fail("ttt data import", report.error());
  std::printf("imported %lld images in %.1f s (%.1f images/s, %s): %lld training and %lld held-out samples in %s "
              "(%lldx%lld codes of %lld); skipped %lld bad, filtered %lld short captions, %lld too wide, %lld nsfw; "
              "%lld shards written, %lld resumed\n",
              (long long)report->images, report->seconds,
              report->seconds > 0 ? static_cast<double>(report->images) / report->seconds : 0.0,
              report->device.c_str(), (long long)report->train, (long long)report->valid, o.out_dir.c_str(),
              (long long)report->grid, (long long)report->grid, (long long)report->codes, (long long)report->skipped,
              (long long)report->short_captions, (long long)report->too_wide, (long long)report->nsfw,
              (long long)report->shards_written, (long long)report->shards_resumed);
  return 0;
}

} // namespace

int data_command(const args_t& args) {
  const char* usage = "ttt data shapes|import|inspect|tokenizer|tokenize|fetch [options]   (ttt data shapes --help)";
  if (args.empty())
    return dispatch_usage("ttt data", usage);
  args_t rest(args.begin() + 1, args.end());
  if (args[0] == "shapes")
    return data_shapes(rest);
  if (args[0] == "import")
    return data_import(rest);
  if (args[0] == "inspect")
    return data_inspect(rest);
  if (args[0] == "tokenizer")
    return data_tokenizer(rest);
  if (args[0] == "tokenize")
    return data_tokenize(rest);
  if (args[0] == "--help" || args[0] == "-h") {
    std::printf("usage: %s\n  shapes     make the synthetic shapes set\n"
                "  import     captioned images (WebDataset tars, a folder) to shards of VQGAN codes\n"
                "  inspect    show a shard\n"
                "  tokenizer  train a SentencePiece model on captions\n"
                "  tokenize   rewrite a shard's text ids with a SentencePiece model\n"
                "  fetch      a run's data files from its seeders (verified, resumable)\n", usage);
    return 0;
  }
  std::fprintf(stderr, "ttt data: unknown subcommand '%s'\n", args[0].c_str());
  return dispatch_usage("ttt data", usage);
}

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
  if (!flags.has("out") || (!flags.has("checkpoint") && !flags.has("config") && !flags.has("weights")))
    return fail("ttt export", "--out FILE and one of --checkpoint DIR, --config FILE or --weights FILE are required");
  model::model_source source{flags.value_or("checkpoint", ""), flags.value_or("config", ""),
                             flags.value_or("weights", "")};
  auto written = model::export_model(source, *flags.value("out"));
  if (!written)
    return fail("ttt export", written.error());
  std::printf("wrote %lld tensors to %s\n", static_cast<long long>(*written), flags.value("out")->c_str());
  return 0;
}

int train_command(const args_t& args) {
  flag_parser flags("ttt train --config FILE --data DIR [--steps N] [--out DIR]",
                    {{"config", "FILE", "model config with a [train] section (LAMB and schedule)"},
                     {"data", "DIR", "train-*.shard and valid-*.shard (e.g. from ttt data shapes)"},
                     {"steps", "N", "optimizer steps to run (default: to the schedule's total_steps)"},
                     {"out", "DIR", "checkpoints go to DIR/checkpoints/step-N; a rerun resumes from the latest"},
                     {"weights", "FILE", "start from these safetensors"},
                     {"batch", "N", "target batch size in samples (overrides [train])"},
                     {"micro-batch", "N", "samples per forward/backward (overrides [train])"},
                     {"eval-every", "N", "steps between validation losses (overrides [train])"},
                     {"checkpoint-every", "N", "steps between checkpoints (overrides [train])"},
                     {"peer-id", "ID", "seeds the data order (default: standalone)"},
                     {"fresh", "", "ignore checkpoints already in --out"},
                     {"keep-activations", "", "no recomputation in backward: faster, more memory"},
                     {"device", "D", "auto (default: the first GPU if any), cpu, cuda or cuda:N"}});
  if (int rc = flags.parse_or_exit(args, "ttt train"); rc >= 0)
    return rc;
  if (!flags.has("config") || !flags.has("data"))
    return fail("ttt train", "--config FILE and --data DIR are required");
  model::train_options o;
  o.config = *flags.value("config");
  o.data_dir = *flags.value("data");
  o.out_dir = flags.value_or("out", "");
  o.weights = flags.value_or("weights", "");
  o.peer_id = flags.value_or("peer-id", o.peer_id);
  o.resume = !flags.has("fresh");
  o.recompute = !flags.has("keep-activations");
  o.device = flags.value_or("device", o.device);
  auto steps = flags.integer("steps", -1), batch = flags.integer("batch", -1), micro = flags.integer("micro-batch", -1),
       eval_every = flags.integer("eval-every", -1), checkpoint_every = flags.integer("checkpoint-every", -1);
  if (!steps || !batch || !micro || !eval_every || !checkpoint_every)
    return fail("ttt train", flags.error());
  o.steps = *steps;
  o.target_batch_size = *batch;
  o.micro_batch_size = *micro;
  o.eval_every = *eval_every;
  o.checkpoint_every = *checkpoint_every;
  auto report = model::train_model(o, [](const std::string& line) {
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  });
  if (!report)
    return fail("ttt train", report.error());
  std::printf("trained steps %lld..%lld at %.1f samples/s; validation loss %.4f -> %.4f%s%s\n",
              (long long)report->first_step, (long long)report->last_step, report->samples_per_second,
              report->first_valid_loss, report->last_valid_loss,
              report->last_checkpoint.empty() ? "" : "; checkpoint ", report->last_checkpoint.c_str());
  return 0;
}
namespace {

std::vector<flag_spec> sampling_flags(std::vector<flag_spec> flags) {
  for (flag_spec f : std::vector<flag_spec>{
         {"checkpoint", "DIR", "a checkpoint directory, or the latest in a folder of them (a node's "
                               "DATA_DIR/checkpoints), a node's DATA_DIR or a training run's --out"},
         {"config", "FILE", "model config, with --weights instead of a checkpoint"},
         {"weights", "FILE", "safetensors with dalle-pytorch names"},
         {"data", "DIR", "where tokenizer.model and codebook.safetensors are, if not in the checkpoint"},
         {"tokenizer", "FILE", "SentencePiece model"},
         {"codebook", "FILE", "image codebook (codebook.safetensors)"},
         {"top-k", "K", "sample from the K likeliest codes (default: all)"},
         {"top-p", "P", "sample from the smallest set of codes with probability P (default 1)"},
         {"temperature", "T", "sampling temperature (default 1)"},
         {"seed", "S", "random seed (default 0)"}})
    flags.push_back(f);
  return flags;
}

// True when the source's flags name a model to load.
bool names_a_model(const model::model_source& source) {
  return !source.checkpoint.empty() || !source.config.empty() || !source.weights.empty();
}

// The shared flags of generate and eval; false (and a message) when they are bad.
bool read_sampling(flag_parser& flags, const char* command, model::model_source& source, model::codec_files& codecs,
                   model::sampling_options& sampling) {
  source = {flags.value_or("checkpoint", ""), flags.value_or("config", ""), flags.value_or("weights", "")};
  codecs = model::codec_files{};
  codecs.tokenizer = flags.value_or("tokenizer", "");
  codecs.codebook = flags.value_or("codebook", "");
  codecs.data_dir = flags.value_or("data", "");
  auto top_k = flags.integer("top-k", 0);
  auto top_p = flags.real("top-p", 1.0), temperature = flags.real("temperature", 1.0);
  auto seed = flags.integer("seed", 0);
  if (!top_k || !top_p || !temperature || !seed) {
    fail(command, flags.error());
    return false;
  }
  if (*top_p <= 0 || *top_p > 1 || *temperature <= 0 || *top_k < 0) {
    fail(command, "--top-p must be in (0, 1], --temperature positive, --top-k not negative");
    return false;
  }
  sampling = {*top_k, *top_p, *temperature, static_cast<uint64_t>(*seed)};
  return true;
}

/// A fresh file under the system's temporary directory (TMPDIR), removed
/// at the end of scope; empty path when none could be made.
class temp_file {
public:
  explicit temp_file(const std::string& suffix) {
    auto name = (std::filesystem::temp_directory_path() / ("ttt-XXXXXX" + suffix)).string();
    int fd = ::mkstemps(name.data(), static_cast<int>(suffix.size()));
    if (fd >= 0) {
      ::close(fd);
      path_ = name;
    }
  }
  ~temp_file() {
    if (!path_.empty())
      std::remove(path_.c_str());
  }
  temp_file(const temp_file&) = delete;
  temp_file& operator=(const temp_file&) = delete;
  const std::string& path() const { return path_; }

private:
  std::string path_;
};

} // namespace

int generate_command(const args_t& args) {
  flag_parser flags("ttt generate --checkpoint DIR|--weights FILE|--weights-url URL --prompt \"...\" [--count N] "
                    "--out FILE.png",
                    sampling_flags({{"weights-url", "URL", "an aux peer's dashboard, http://HOST:PORT: generate with "
                                                           "the latest weights it publishes (downloaded, checked "
                                                           "against their digest)"},
                                    {"prompt", "TEXT", "what the images should show"},
                                    {"count", "N", "images to sample (default 4)"},
                                    {"out", "FILE", "PNG grid to write (one image: the image alone)"},
                                    {"vqgan", "FILE", "VQGAN weights (taming's names, README) to decode the codes "
                                                      "with; needed where the data were VQGAN codes (dalle-ttt)"},
                                    {"vqgan-config", "FILE", "the VQGAN's config, unless its weights or the "
                                                             "checkpoint's image_coder.json carry it"}}));
  if (int rc = flags.parse_or_exit(args, "ttt generate"); rc >= 0)
    return rc;
  model::model_source source;
  model::codec_files codecs;
  model::sampling_options sampling;
  if (!read_sampling(flags, "ttt generate", source, codecs, sampling))
    return 2;
  auto url = flags.value_or("weights-url", "");
  if (!url.empty() && (!source.checkpoint.empty() || !source.weights.empty()))
    return fail("ttt generate", "--weights-url replaces --checkpoint and --weights: give one of them");
  if (url.empty() && !names_a_model(source))
    return fail("ttt generate", "give --checkpoint DIR, --weights FILE (with --config FILE unless ttt wrote it) "
                                "or --weights-url http://HOST:PORT");
  if (!flags.has("prompt") || !flags.has("out"))
    return fail("ttt generate", "--prompt TEXT and --out FILE.png are required");
  codecs.vqgan = flags.value_or("vqgan", "");
  codecs.vqgan_config = flags.value_or("vqgan-config", "");
  auto count = flags.integer("count", 4);
  if (!count)
    return fail("ttt generate", flags.error());
  std::optional<temp_file> downloaded;
  if (!url.empty()) {
    downloaded.emplace(".safetensors");
    if (downloaded->path().empty())
      return fail("ttt generate", "cannot make a temporary file for the download (TMPDIR)");
    auto got = metrics::fetch_published_weights(url, downloaded->path());
    if (!got)
      return fail("ttt generate", describe(got.error()));
    std::printf("downloaded the weights of epoch %llu from %s: %.1f MB, parameters %s, BLAKE2b-256 %s (checked)\n",
                static_cast<unsigned long long>(got->epoch), url.c_str(), static_cast<double>(got->weights_bytes) / 1e6,
                got->state_digest.c_str(), got->weights_digest.c_str());
    std::fflush(stdout);
    source.weights = downloaded->path();
  }
  auto ids = model::generate_images(source, codecs, *flags.value("prompt"), *count, sampling, *flags.value("out"));
  if (!ids)
    return fail("ttt generate", ids.error());
  std::printf("prompt ids: %s\nwrote %lld images to %s\n", ids->c_str(), (long long)*count, flags.value("out")->c_str());
  return 0;
}

namespace {

int eval_loss(const args_t& args) {
  flag_parser flags("ttt eval loss --checkpoint DIR|--weights FILE --data DIR [--samples N]",
                    {{"checkpoint", "DIR", "a checkpoint directory, or a training run's --out directory (latest)"},
                     {"config", "FILE", "model config, with --weights instead of a checkpoint"},
                     {"weights", "FILE", "safetensors with dalle-pytorch names"},
                     {"data", "DIR", "the set whose valid-*.shard files to score"},
                     {"samples", "N", "held-out samples to score (default 512)"},
                     {"device", "D", "auto (default), cpu, cuda or cuda:N"}});
  if (int rc = flags.parse_or_exit(args, "ttt eval loss"); rc >= 0)
    return rc;
  model::model_source source{flags.value_or("checkpoint", ""), flags.value_or("config", ""),
                             flags.value_or("weights", "")};
  if ((source.checkpoint.empty() && source.weights.empty()) || !flags.has("data"))
    return fail("ttt eval loss", "--data DIR and --checkpoint DIR (or --weights FILE) are required");
  auto samples = flags.integer("samples", 512);
  if (!samples)
    return fail("ttt eval loss", flags.error());
  auto loss = model::validation_loss(source, *flags.value("data"), *samples, flags.value_or("device", "auto"));
  if (!loss)
    return fail("ttt eval loss", loss.error());
  std::printf("validation loss: %.4f\n", *loss);
  return 0;
}

} // namespace

int eval_command(const args_t& args) {
  const char* usage = "usage: ttt eval shapes|loss [options]   (ttt eval shapes --help, ttt eval loss --help)\n"
                      "  shapes  draws random captions and scores whether the pictures follow them\n"
                      "  loss    the validation loss on a set's held-out shards\n";
  if (!args.empty() && args[0] == "loss")
    return eval_loss(args_t(args.begin() + 1, args.end()));
  if (args.empty() || args[0] != "shapes") {
    if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
      std::printf("%s", usage);
      return 0;
    }
    std::fprintf(stderr, "%s", usage);
    return 2;
  }
  flag_parser flags("ttt eval shapes --checkpoint DIR [--count N] [--out FILE.png]",
                    sampling_flags({{"count", "N", "captions to draw and score (default 64)"},
                                    {"prompt-seed", "S", "seed of the random captions (default 12345)"},
                                    {"out", "FILE", "also write the generated images as a PNG grid"}}));
  if (int rc = flags.parse_or_exit(args_t(args.begin() + 1, args.end()), "ttt eval shapes"); rc >= 0)
    return rc;
  model::model_source source;
  model::codec_files codecs;
  model::sampling_options sampling;
  if (!read_sampling(flags, "ttt eval shapes", source, codecs, sampling))
    return 2;
  if (!names_a_model(source))
    return fail("ttt eval shapes", "give --checkpoint DIR, or --weights FILE (with --config FILE unless ttt wrote it)");
  auto count = flags.integer("count", 64), prompt_seed = flags.integer("prompt-seed", 12345);
  if (!count || !prompt_seed)
    return fail("ttt eval shapes", flags.error());
  auto report = model::eval_shapes(source, codecs, *count, static_cast<uint64_t>(*prompt_seed), sampling,
                                   flags.value_or("out", ""));
  if (!report)
    return fail("ttt eval shapes", report.error());
  std::printf("prompts: %lld\nreference score (codebook rendering of the true scenes): %.4f\nscore: %.4f\n",
              (long long)report->prompts, report->reference_score, report->score);
  return 0;
}

} // namespace ttt::apps
