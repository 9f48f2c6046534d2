// `ttt data import`: captioned images to shards of caption ids and VQGAN
// codes. One input shard (a tar, or a slice of a folder) becomes one output
// shard pair, written under a temporary name and renamed when complete, and
// import_state.json lists the finished ones in input order: a rerun skips
// the finished prefix and redoes the rest, so the held-out set (the first
// samples that pass the filters) comes out the same however often the import
// was interrupted.
#include "model/import_api.hpp"

#include "model/caption_images.hpp"
#include "model/config.hpp"
#include "model/device.hpp"
#include "model/image.hpp"
#include "model/image_coder.hpp"
#include "model/json.hpp"
#include "model/loading.hpp"
#include "model/shards.hpp"
#include "model/tokenizer.hpp"
#include "model/vqgan.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

namespace fs = std::filesystem;

namespace ttt::model {

namespace {

inline constexpr const char* state_file = "import_state.json";
// LAION's captions have a few hundred bytes; a megabyte of "caption" is an
// attack on the tokenizer and the shard's record size, not a description.
inline constexpr size_t max_caption_bytes = 16 << 10;

std::string shard_path(const std::string& dir, const char* split, size_t index) {
  char name[64];
  std::snprintf(name, sizeof name, "%s-%05zu.shard", split, index);
  return (fs::path(dir) / name).string();
}

/// One input shard: a tar, or a slice of a folder's images.
struct import_unit {
  std::string input;               ///< names it in import_state.json
  std::string tar;                 ///< the archive, or empty
  std::vector<std::string> images; ///< the folder's images, or empty
  int64_t work = 0;                ///< bytes of the tar or images of the slice: progress
};

/// What one finished unit added.
struct unit_tally {
  int64_t train = 0, valid = 0, skipped = 0, filtered = 0;
};

struct import_state {
  std::string settings;
  std::vector<std::pair<std::string, unit_tally>> units; ///< finished, in input order
};

result<import_state> read_state(const std::string& dir) {
  auto path = (fs::path(dir) / state_file).string();
  import_state state;
  std::error_code ec;
  if (!fs::exists(path, ec))
    return state;
  auto text = read_file(path);
  if (!text)
    return failure{text.error()};
  auto json = parse_json(*text);
  auto bad = failure{"'" + path + "' is malformed: delete it (and the shards) to import afresh"};
  if (!json || json->type != json_value::kind::object)
    return bad;
  auto* settings = json->find("settings");
  auto* units = json->find("shards");
  if (!settings || settings->type != json_value::kind::string || !units ||
      units->type != json_value::kind::array)
    return bad;
  state.settings = settings->string;
  for (const auto& u : units->array) {
    auto* input = u.find("input");
    if (!input || input->type != json_value::kind::string)
      return bad;
    unit_tally t;
    using field_of = std::pair<const char*, int64_t*>;
    for (auto [key, field] : {field_of{"train", &t.train}, field_of{"valid", &t.valid},
                              field_of{"skipped", &t.skipped}, field_of{"filtered", &t.filtered}}) {
      auto* v = u.find(key);
      if (!v || v->type != json_value::kind::integer)
        return bad;
      *field = v->integer;
    }
    state.units.emplace_back(input->string, t);
  }
  return state;
}

status write_state(const std::string& dir, const import_state& state) {
  auto path = (fs::path(dir) / state_file).string(), tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << "{\"settings\": " << json_quote(state.settings) << ",\n \"shards\": [";
    for (size_t i = 0; i < state.units.size(); ++i) {
      const auto& [input, t] = state.units[i];
      out << (i ? ",\n  " : "\n  ") << "{\"input\": " << json_quote(input)
          << ", \"train\": " << t.train << ", \"valid\": " << t.valid
          << ", \"skipped\": " << t.skipped << ", \"filtered\": " << t.filtered << "}";
    }
    out << "]}\n";
    out.flush();
    if (!out)
      return failure{"cannot write '" + tmp + "' (disk full?)"};
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec)
    return failure{"cannot rename '" + tmp + "' to '" + path + "': " + ec.message()};
  return ok();
}

std::string duration_text(double seconds) {
  auto s = static_cast<int64_t>(seconds + 0.5);
  char text[32];
  if (s >= 3600)
    std::snprintf(text, sizeof text, "%lldh%02lldm", (long long)(s / 3600),
                  (long long)(s / 60 % 60));
  else
    std::snprintf(text, sizeof text, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
  return text;
}

/// A unit's two shards, created when their first record comes, under a
/// temporary name until the unit is complete.
class unit_shards {
public:
  unit_shards(std::string train_path, std::string valid_path)
      : final_{std::move(train_path), std::move(valid_path)} {}

  status write(bool held_out, const sample& s) {
    auto& writer = writers_[held_out];
    if (!writer) {
      auto w = shard_writer::create(final_[held_out] + ".tmp");
      if (!w)
        return failure{w.error()};
      writer.emplace(std::move(*w));
    }
    return writer->write(s);
  }

  /// Renames the complete shards into place; a split without records leaves no file.
  status finish() {
    for (int split = 0; split < 2; ++split) {
      std::error_code ec;
      fs::remove(final_[split], ec);
      if (!writers_[split])
        continue;
      if (auto st = writers_[split]->close(); !st)
        return st;
      fs::rename(final_[split] + ".tmp", final_[split], ec);
      if (ec)
        return failure{"cannot rename '" + final_[split] + ".tmp': " + ec.message()};
    }
    return ok();
  }

private:
  std::string final_[2];
  std::optional<shard_writer> writers_[2];
};

class importer {
public:
  importer(const import_options& o, text_tokenizer tokenizer, loaded_vqgan vqgan,
           torch::Device device, const std::function<void(const std::string&)>& progress,
           const std::function<void(const std::string&)>& warn)
      : o_(o), tokenizer_(std::move(tokenizer)), vqgan_(std::move(vqgan)), device_(device),
        progress_(progress), warn_(warn) {
    workers_ =
        o.workers > 0 ? o.workers : std::clamp<int64_t>(std::thread::hardware_concurrency(), 1, 8);
  }

  import_report& report() { return report_; }

  /// Reads, filters, encodes and writes one unit; returns what it added.
  result<unit_tally> run_unit(const import_unit& unit, unit_shards& shards, int64_t& valid_left) {
    unit_tally tally;
    std::vector<captioned_image> batch;
    auto flush = [&]() -> status {
      auto st = encode_batch(batch, shards, valid_left, tally);
      batch.clear();
      return st;
    };
    auto add = [&](captioned_image sample) -> status {
      batch.push_back(std::move(sample));
      return static_cast<int64_t>(batch.size()) >= o_.batch ? flush() : ok();
    };
    if (!unit.tar.empty()) {
      auto reader = webdataset_reader::open(unit.tar, o_.max_file_bytes);
      if (!reader) {
        warn_(reader.error() + ": skipped");
        return tally;
      }
      int64_t counted = 0;
      while (true) {
        auto sample = reader->next();
        for (const auto& w : reader->take_warnings())
          warn_(w);
        if (!sample) { // the rest of this archive is lost, not the import
          warn_(sample.error() + "; the rest of it is skipped");
          break;
        }
        if (!*sample)
          break;
        if (auto st = add(std::move(**sample)); !st)
          return failure{st.error()};
        work_done_ += reader->offset() - counted;
        counted = reader->offset();
      }
      work_done_ += unit.work - counted;
    } else {
      for (const auto& path : unit.images) {
        auto sample = read_folder_sample(path, o_.max_file_bytes);
        if (!sample) {
          warn_(sample.error() + ": skipped");
          ++tally.skipped;
          ++report_.images;
        } else if (auto st = add(std::move(*sample)); !st) {
          return failure{st.error()};
        }
        work_done_ += 1;
      }
    }
    if (auto st = flush(); !st)
      return failure{st.error()};
    say_progress(true);
    return tally;
  }

  void set_work(int64_t total) { work_total_ = total; }

private:
  status encode_batch(std::vector<captioned_image>& batch, unit_shards& shards, int64_t& valid_left,
                      unit_tally& tally) {
    report_.images += static_cast<int64_t>(batch.size());
    // The cheap filters first: no decoding for a sample that goes anyway.
    std::vector<size_t> todo;
    for (size_t i = 0; i < batch.size(); ++i) {
      const auto& s = batch[i];
      if (!s.has_image || !s.has_caption) {
        warn_("'" + s.key + "' has no " +
              (s.has_image ? "caption (.txt)" : "image (.jpg, .png or .webp)") + ": skipped");
        ++tally.skipped;
      } else if (s.caption.size() > max_caption_bytes) {
        warn_("'" + s.key + "' has a caption of " + std::to_string(s.caption.size()) +
              " bytes: skipped");
        ++tally.skipped;
      } else if (s.caption.size() < 3) {
        ++tally.filtered;
        ++report_.short_captions;
      } else if (s.nsfw) {
        ++tally.filtered;
        ++report_.nsfw;
      } else {
        todo.push_back(i);
      }
    }
    auto side = static_cast<int>(vqgan_.config.resolution);
    std::vector<std::optional<result<decoded_image>>> decoded(batch.size());
    std::atomic<size_t> next{0};
    auto decode_some = [&] {
      for (size_t k; (k = next++) < todo.size();)
        decoded[todo[k]] = decode_image(batch[todo[k]].image, batch[todo[k]].image_name, side);
    };
    std::vector<std::thread> helpers;
    for (int64_t w = 1; w < std::min<int64_t>(workers_, static_cast<int64_t>(todo.size())); ++w)
      helpers.emplace_back(decode_some);
    decode_some();
    for (auto& t : helpers)
      t.join();

    std::vector<rgb_image> images;
    std::vector<sample> kept;
    for (size_t i : todo) {
      auto& d = *decoded[i];
      if (!d) {
        warn_(d.error() + ": skipped");
        ++tally.skipped;
        continue;
      }
      sample s;
      s.caption = batch[i].caption;
      s.width = static_cast<uint32_t>(d->file_width);
      s.height = static_cast<uint32_t>(d->file_height);
      if (!passes_2021_filters(s)) {
        ++tally.filtered;
        ++report_.too_wide;
        continue;
      }
      images.push_back(std::move(d->image));
      kept.push_back(std::move(s));
    }
    if (!kept.empty()) {
      torch::NoGradGuard no_grad;
      auto codes =
          vqgan_.model->encode(pixels_of(images, side).to(device_)).to(torch::kCPU, torch::kLong);
      auto a = codes.accessor<int64_t, 2>();
      for (size_t k = 0; k < kept.size(); ++k) {
        auto& s = kept[k];
        s.text_ids = tokenizer_.encode(s.caption, static_cast<size_t>(o_.text_seq_len));
        s.image_codes.resize(static_cast<size_t>(codes.size(1)));
        for (int64_t j = 0; j < codes.size(1); ++j)
          s.image_codes[static_cast<size_t>(j)] =
              static_cast<int16_t>(a[static_cast<int64_t>(k)][j]);
        bool held_out = valid_left > 0;
        if (auto st = shards.write(held_out, s); !st)
          return st;
        if (held_out) {
          --valid_left;
          ++tally.valid;
        } else {
          ++tally.train;
        }
      }
    }
    say_progress(false);
    return ok();
  }

  void say_progress(bool now) {
    auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    if (!now && seconds - last_line_ < 5)
      return;
    last_line_ = seconds;
    double rate = seconds > 0 ? report_.images / seconds : 0;
    std::string eta = "?";
    if (work_done_ > 0 && work_total_ >= work_done_)
      eta = duration_text(seconds * static_cast<double>(work_total_ - work_done_) /
                          static_cast<double>(work_done_));
    char line[256];
    std::snprintf(line, sizeof line, "import: %lld images, %.1f images/s, ETA %s",
                  (long long)report_.images, rate, eta.c_str());
    progress_(line);
  }

  const import_options& o_;
  text_tokenizer tokenizer_;
  loaded_vqgan vqgan_;
  torch::Device device_;
  const std::function<void(const std::string&)>& progress_;
  const std::function<void(const std::string&)>& warn_;
  int64_t workers_ = 1;
  import_report report_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  double last_line_ = 0;
  int64_t work_done_ = 0, work_total_ = 0;
};

result<std::vector<import_unit>> units_of(const import_options& o) {
  std::vector<import_unit> units;
  if (!o.images_dir.empty()) {
    auto images = list_image_folder(o.images_dir);
    if (!images)
      return failure{images.error()};
    if (images->empty())
      return failure{"'" + o.images_dir + "' holds no .jpg, .jpeg, .png or .webp images"};
    for (size_t begin = 0; begin < images->size();
         begin += static_cast<size_t>(o.folder_shard_size)) {
      import_unit u;
      auto end = std::min(images->size(), begin + static_cast<size_t>(o.folder_shard_size));
      u.images.assign(images->begin() + static_cast<std::ptrdiff_t>(begin),
                      images->begin() + static_cast<std::ptrdiff_t>(end));
      u.input = fs::relative(u.images.front(), o.images_dir).string() + " .. " +
                fs::relative(u.images.back(), o.images_dir).string();
      u.work = static_cast<int64_t>(u.images.size());
      units.push_back(std::move(u));
    }
    return units;
  }
  for (const auto& given : o.webdataset) {
    std::error_code ec;
    std::vector<std::string> tars;
    if (fs::is_directory(given, ec)) {
      for (const auto& e : fs::directory_iterator(given, ec))
        if (e.path().extension() == ".tar")
          tars.push_back(e.path().string());
      std::sort(tars.begin(), tars.end());
      if (tars.empty())
        return failure{"'" + given + "' holds no .tar files"};
    } else if (fs::is_regular_file(given, ec)) {
      tars.push_back(given);
    } else {
      return failure{"no WebDataset tar '" + given + "'"};
    }
    for (auto& tar : tars) {
      import_unit u;
      u.input = fs::path(tar).filename().string();
      u.work = static_cast<int64_t>(fs::file_size(tar, ec));
      u.tar = std::move(tar);
      units.push_back(std::move(u));
    }
  }
  return units;
}

} // namespace

result<import_report> import_dataset(const import_options& given,
                                     const std::function<void(const std::string&)>& progress,
                                     const std::function<void(const std::string&)>& warn) {
  auto o = given;
  if (o.webdataset.empty() == o.images_dir.empty())
    return failure{"give --webdataset TAR... or --images DIR (one of them)"};
  if (o.out_dir.empty() || o.tokenizer.empty() || o.vqgan_weights.empty())
    return failure{"--out DIR, --tokenizer FILE.model and --vqgan FILE.safetensors are required"};
  if (o.batch < 1 || o.valid_count < 0 || o.folder_shard_size < 1 || o.text_seq_len < 1)
    return failure{
        "--batch, --shard-size and --text-length must be positive, --valid not negative"};
  std::optional<dalle_config> model;
  if (!o.model_config.empty()) {
    auto c = load_config(o.model_config);
    if (!c)
      return failure{c.error()};
    model = c->model;
    o.text_seq_len = model->text_seq_len;
  }
  auto tokenizer = text_tokenizer::load(o.tokenizer);
  if (!tokenizer)
    return failure{tokenizer.error()};
  if (model && tokenizer->vocab_size() > model->num_text_tokens)
    return failure{"tokenizer '" + o.tokenizer + "' has " +
                   std::to_string(tokenizer->vocab_size()) + " pieces, model " + model->name +
                   " takes " + std::to_string(model->num_text_tokens) + " text tokens"};
  auto device = select_device(o.device);
  if (!device)
    return failure{device.error()};
  auto vqgan = load_vqgan(o.vqgan_config, o.vqgan_weights);
  if (!vqgan)
    return failure{vqgan.error()};
  const auto vq = vqgan->config;
  if (model && (vq.grid() != model->image_fmap_size || vq.n_embed != model->num_image_tokens))
    return failure{"VQGAN " + vq.name + " (" + std::to_string(vq.n_embed) + " codes, " +
                   std::to_string(vq.grid()) + "x" + std::to_string(vq.grid()) +
                   ") does not fit model " + model->name + " (" +
                   std::to_string(model->num_image_tokens) + " codes, " +
                   std::to_string(model->image_fmap_size) + "x" +
                   std::to_string(model->image_fmap_size) + ")"};
  vqgan->model->to(*device);
  vqgan->model->eval();
  auto units = units_of(o);
  if (!units)
    return failure{units.error()};

  std::error_code ec;
  fs::create_directories(o.out_dir, ec);
  if (ec)
    return failure{"cannot create '" + o.out_dir + "': " + ec.message()};
  auto tokenizer_copy = fs::path(o.out_dir) / "tokenizer.model";
  if (!fs::exists(tokenizer_copy, ec) || !fs::equivalent(o.tokenizer, tokenizer_copy, ec)) {
    fs::copy_file(o.tokenizer, tokenizer_copy, fs::copy_options::overwrite_existing, ec);
    if (ec)
      return failure{"cannot copy '" + o.tokenizer + "' into '" + o.out_dir + "': " + ec.message()};
  }
  auto st = write_image_coder(o.out_dir, image_coder_record{"vqgan", vq.name, vq.n_embed, vq.grid(),
                                                            vq.resolution, vqgan->config_text});
  if (!st)
    return failure{st.error()};

  // A rerun must make what one uninterrupted run would: same coder, ids, split.
  std::string settings =
      "vqgan " + vq.name + " " + std::to_string(vq.n_embed) + "x" + std::to_string(vq.grid()) +
      ", tokenizer of " + std::to_string(tokenizer->vocab_size()) + " pieces, text length " +
      std::to_string(o.text_seq_len) + ", valid " + std::to_string(o.valid_count) +
      (o.images_dir.empty() ? "" : ", shard size " + std::to_string(o.folder_shard_size));
  auto state = read_state(o.out_dir);
  if (!state)
    return failure{state.error()};
  if (!state->units.empty() && state->settings != settings)
    return failure{"'" + o.out_dir + "' holds an import made with other settings (" +
                   state->settings + "; now: " + settings + "): import into another directory"};
  state->settings = settings;
  size_t finished = 0;
  while (finished < state->units.size() && finished < units->size() &&
         state->units[finished].first == (*units)[finished].input)
    ++finished;
  state->units.resize(finished);

  importer run(o, std::move(*tokenizer), std::move(*vqgan), *device, progress, warn);
  auto& report = run.report();
  report.device = describe_device(*device);
  report.grid = vq.grid();
  report.codes = vq.n_embed;
  int64_t valid_left = o.valid_count, work_total = 0;
  for (const auto& [input, t] : state->units) {
    report.train += t.train;
    report.valid += t.valid;
    valid_left -= t.valid;
  }
  report.shards_resumed = static_cast<int64_t>(finished);
  if (finished > 0)
    progress("resuming: " + std::to_string(finished) + " of " + std::to_string(units->size()) +
             " shards were imported before");
  for (size_t u = finished; u < units->size(); ++u)
    work_total += (*units)[u].work;
  run.set_work(work_total);
  auto start = std::chrono::steady_clock::now();
  for (size_t u = finished; u < units->size(); ++u) {
    unit_shards shards(shard_path(o.out_dir, "train", u), shard_path(o.out_dir, "valid", u));
    auto tally = run.run_unit((*units)[u], shards, valid_left);
    if (!tally)
      return failure{tally.error()};
    if (auto done = shards.finish(); !done)
      return failure{done.error()};
    state->units.emplace_back((*units)[u].input, *tally);
    if (auto saved = write_state(o.out_dir, *state); !saved)
      return failure{saved.error()};
    report.train += tally->train;
    report.valid += tally->valid;
    report.skipped += tally->skipped;
    ++report.shards_written;
  }
  // Shards of a longer earlier input list that this one no longer has.
  for (size_t u = units->size();; ++u) {
    bool any = false;
    for (const char* split : {"train", "valid"})
      any |= fs::remove(shard_path(o.out_dir, split, u), ec);
    if (!any)
      break;
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

} // namespace ttt::model
