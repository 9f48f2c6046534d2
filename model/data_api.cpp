// The data subcommands' work: the shapes set, shard inspection, tokenizer training.
#include "model/api.hpp"

#include "model/codebook.hpp"
#include "model/image_coder.hpp"
#include "model/shapes.hpp"
#include "model/shards.hpp"
#include "model/tokenizer.hpp"

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace fs = std::filesystem;

namespace ttt::model {

namespace {

std::string shard_name(const std::string& dir, const std::string& split, int64_t index) {
  char name[64];
  std::snprintf(name, sizeof name, "%s-%05lld.shard", split.c_str(), static_cast<long long>(index));
  return (fs::path(dir) / name).string();
}

} // namespace

result<shapes_report> make_shapes_dataset(const shapes_options& o,
                                          const std::function<void(const std::string&)>& progress) {
  if (o.grid <= 0 || shapes_image_size % o.grid != 0)
    return failure{"--grid must divide " + std::to_string(shapes_image_size) + " (8 for dalle-tiny, 16 for dalle-small)"};
  if (o.count < 1 || o.codes < 2 || o.text_seq_len < 5 || o.vocab_size < 8)
    return failure{"the shapes set needs --count ≥ 1, at least 2 codes, 5 text ids and 8 tokenizer pieces"};
  std::error_code ec;
  fs::create_directories(o.out_dir, ec);
  if (ec)
    return failure{"cannot create '" + o.out_dir + "': " + ec.message()};
  int patch = static_cast<int>(shapes_image_size / o.grid);
  // Each object takes five words and "and" joins them: fit the caption.
  int max_objects = std::max(2, std::min(3, static_cast<int>((o.text_seq_len + 1) / 6)));
  int64_t valid = o.valid_count >= 0 ? o.valid_count : std::max<int64_t>(16, o.count / 10);
  std::mt19937_64 train_rng(o.seed), valid_rng(o.seed ^ 0x9E3779B97F4A7C15ull);

  // The tokenizer and the codebook learn from a sample of the training scenes
  // (regenerated below from the same seed, so nothing is kept in memory).
  std::vector<std::string> captions;
  std::vector<rgb_image> images;
  {
    std::mt19937_64 rng(o.seed);
    for (int64_t i = 0; i < std::min<int64_t>(o.count, 2000); ++i) {
      auto scene = random_scene(rng, 2, max_objects);
      captions.push_back(caption_of(scene));
      if (i < 1000)
        images.push_back(render(scene));
    }
  }
  auto tokenizer_path = (fs::path(o.out_dir) / "tokenizer.model").string();
  progress("training the tokenizer on " + std::to_string(captions.size()) + " captions");
  // Whole words: the shapes captions have some twenty, one id each.
  auto st = train_tokenizer(captions, static_cast<int>(o.vocab_size), tokenizer_path, "word");
  if (!st)
    return failure{st.error()};
  auto tok = text_tokenizer::load(tokenizer_path);
  if (!tok)
    return failure{tok.error()};
  progress("learning a codebook of " + std::to_string(o.codes) + " codes from " + std::to_string(images.size()) +
           " images (" + std::to_string(patch) + "x" + std::to_string(patch) + " patches)");
  auto codebook = learn_codebook(images, o.codes, patch, o.seed);
  auto codebook_path = (fs::path(o.out_dir) / "codebook.safetensors").string();
  st = save_codebook(codebook_path, codebook);
  if (!st)
    return failure{st.error()};
  st = write_image_coder(o.out_dir, image_coder_record{"codebook", "shapes", o.codes, o.grid, shapes_image_size, ""});
  if (!st)
    return failure{st.error()};

  shapes_report report;
  report.grid = o.grid;
  report.patch = patch;
  report.codes = o.codes;
  std::vector<rgb_image> preview_top, preview_bottom;
  double score_sum = 0, error_sum = 0;
  int64_t scored = 0;
  for (const auto& [split, total, rng] : {std::tuple<std::string, int64_t, std::mt19937_64*>{"train", o.count, &train_rng},
                                          {"valid", valid, &valid_rng}}) {
    std::optional<shard_writer> writer;
    int64_t shard_index = 0;
    for (int64_t i = 0; i < total; ++i) {
      if (!writer || writer->records() == o.shard_size) {
        if (writer && !(st = writer->close()))
          return failure{st.error()};
        auto w = shard_writer::create(shard_name(o.out_dir, split, shard_index++));
        if (!w)
          return failure{w.error()};
        writer.emplace(std::move(*w));
      }
      auto scene = random_scene(*rng, 2, max_objects);
      auto image = render(scene);
      auto codes = encode_image(codebook, image);
      sample s;
      s.caption = caption_of(scene);
      s.text_ids = tok->encode(s.caption, static_cast<size_t>(o.text_seq_len));
      if (tok->decode(s.text_ids) != s.caption)
        ++report.truncated_captions;
      auto acc = codes.accessor<int64_t, 1>();
      for (int64_t k = 0; k < codes.size(0); ++k)
        s.image_codes.push_back(static_cast<int16_t>(acc[k]));
      s.width = s.height = shapes_image_size;
      if (!(st = writer->write(s)))
        return failure{st.error()};
      if (split == "train" && scored < 200) {
        auto back = decode_codes(codebook, codes);
        score_sum += score_picture(back, scene);
        double err = 0;
        for (size_t k = 0; k < back.pixels.size(); ++k)
          err += std::abs(int(back.pixels[k]) - int(image.pixels[k]));
        error_sum += err / static_cast<double>(back.pixels.size());
        ++scored;
        if (preview_top.size() < 8) {
          preview_top.push_back(image);
          preview_bottom.push_back(back);
        }
      }
      if ((i + 1) % 1000 == 0)
        progress(split + ": " + std::to_string(i + 1) + " / " + std::to_string(total));
    }
    if (writer && !(st = writer->close()))
      return failure{st.error()};
    (split == "train" ? report.train : report.valid) = total;
  }
  preview_top.insert(preview_top.end(), preview_bottom.begin(), preview_bottom.end());
  st = write_png((fs::path(o.out_dir) / "preview.png").string(), tile(preview_top, 8));
  if (!st)
    return failure{st.error()};
  report.reconstruction_score = scored ? score_sum / scored : 0;
  report.reconstruction_error = scored ? error_sum / scored : 0;
  return report;
}

result<std::string> inspect_shard(const std::string& path, int64_t show) {
  auto reader = shard_reader::open(path);
  if (!reader)
    return failure{reader.error()};
  std::ostringstream out;
  int64_t records = 0, passing = 0;
  size_t text_len = 0, codes_len = 0;
  while (true) {
    auto s = reader->next();
    if (!s)
      return failure{s.error()};
    if (!*s)
      break;
    const auto& x = **s;
    passing += passes_2021_filters(x);
    text_len = std::max(text_len, x.text_ids.size());
    codes_len = std::max(codes_len, x.image_codes.size());
    if (records < show) {
      out << "record " << records << ": \"" << x.caption << "\"\n  text ids:";
      for (auto id : x.text_ids)
        out << " " << id;
      out << "\n  image codes (" << x.image_codes.size() << "):";
      for (size_t k = 0; k < x.image_codes.size() && k < 32; ++k)
        out << " " << x.image_codes[k];
      out << (x.image_codes.size() > 32 ? " ..." : "") << "\n  size: " << x.width << "x" << x.height
          << (x.nsfw ? ", nsfw" : "") << (passes_2021_filters(x) ? "" : ", dropped by the 2021 filters") << "\n";
    }
    ++records;
  }
  out << "shard: " << path << "\nrecords: " << records << "\npass 2021 filters: " << passing
      << "\ntext ids per record: " << text_len << "\nimage codes per record: " << codes_len << "\n";
  return out.str();
}

result<int64_t> train_tokenizer_on(const std::string& shard_or_dir, int64_t vocab_size, const std::string& out_path,
                                   const std::string& model_type) {
  std::vector<std::string> shards;
  std::error_code ec;
  if (fs::is_directory(shard_or_dir, ec)) {
    shards = list_shards(shard_or_dir, "train");
    if (shards.empty())
      return failure{"'" + shard_or_dir + "' holds no train-*.shard files"};
  } else {
    shards.push_back(shard_or_dir);
  }
  std::vector<std::string> captions;
  for (const auto& path : shards) {
    auto reader = shard_reader::open(path);
    if (!reader)
      return failure{reader.error()};
    while (true) {
      auto s = reader->next();
      if (!s)
        return failure{s.error()};
      if (!*s)
        break;
      if (passes_2021_filters(**s))
        captions.push_back((*s)->caption);
    }
  }
  auto st = train_tokenizer(captions, static_cast<int>(vocab_size), out_path, model_type);
  if (!st)
    return failure{st.error()};
  auto tok = text_tokenizer::load(out_path);
  if (!tok)
    return failure{tok.error()};
  return static_cast<int64_t>(tok->vocab_size());
}

result<int64_t> retokenize_shard(const std::string& tokenizer_path, int64_t text_seq_len, const std::string& in_path,
                                 const std::string& out_path) {
  if (text_seq_len < 1)
    return failure{"the text length must be positive"};
  if (fs::exists(out_path) && fs::equivalent(in_path, out_path))
    return failure{"'" + out_path + "' is the input shard: write to another file"};
  auto tok = text_tokenizer::load(tokenizer_path);
  if (!tok)
    return failure{tok.error()};
  auto reader = shard_reader::open(in_path);
  if (!reader)
    return failure{reader.error()};
  auto writer = shard_writer::create(out_path);
  if (!writer)
    return failure{writer.error()};
  while (true) {
    auto s = reader->next();
    if (!s)
      return failure{s.error()};
    if (!*s)
      break;
    auto x = std::move(**s);
    x.text_ids = tok->encode(x.caption, static_cast<size_t>(text_seq_len));
    auto st = writer->write(x);
    if (!st)
      return failure{st.error()};
  }
  auto st = writer->close();
  if (!st)
    return failure{st.error()};
  return writer->records();
}

} // namespace ttt::model
