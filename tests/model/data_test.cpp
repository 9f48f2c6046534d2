// Data: shards (streaming, corruption named), the shuffling stream and its
// filters, the shapes set, its codebook and the SentencePiece tokenizer.
#include "tests/model/model_fixture.hpp"

#include "model/api.hpp"
#include "model/codebook.hpp"
#include "model/shapes.hpp"
#include "model/shards.hpp"
#include "model/tokenizer.hpp"

#include <filesystem>
#include <fstream>
#include <set>

using namespace ttt::model;

namespace {
std::string temp_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("ttt_data_test_" + std::to_string(::getpid())) / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

sample make_sample(int i) {
  sample s;
  s.caption = "caption number " + std::to_string(i);
  s.text_ids = {i + 3, 7, 0, 0};
  s.image_codes = {static_cast<int16_t>(i), 1, 2, 3};
  s.width = 64;
  s.height = 64;
  return s;
}

std::string write_shard(const std::string& path, int count) {
  auto w = shard_writer::create(path);
  BOOST_REQUIRE(static_cast<bool>(w));
  for (int i = 0; i < count; ++i)
    BOOST_REQUIRE(static_cast<bool>(w->write(make_sample(i))));
  BOOST_REQUIRE(static_cast<bool>(w->close()));
  return path;
}
} // namespace

BOOST_AUTO_TEST_CASE(shards_round_trip_record_by_record) {
  auto path = write_shard(temp_dir("rt") + "/train-00000.shard", 20);
  auto r = shard_reader::open(path);
  BOOST_REQUIRE(static_cast<bool>(r));
  for (int i = 0; i < 20; ++i) {
    auto s = r->next();
    BOOST_REQUIRE_MESSAGE(s, s.error());
    BOOST_REQUIRE(s->has_value());
    BOOST_TEST((*s)->caption == make_sample(i).caption);
    BOOST_TEST((*s)->text_ids == make_sample(i).text_ids);
    BOOST_TEST((*s)->image_codes == make_sample(i).image_codes);
    BOOST_TEST((*s)->width == 64u);
  }
  auto end = r->next();
  BOOST_TEST(static_cast<bool>(end));
  BOOST_TEST(!end->has_value());
  auto text = inspect_shard(path, 1);
  BOOST_REQUIRE(static_cast<bool>(text));
  BOOST_TEST(text->find("records: 20") != std::string::npos);
  BOOST_TEST(text->find("caption number 0") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(truncated_and_corrupt_shards_are_refused_naming_file_and_record) {
  auto dir = temp_dir("bad");
  auto path = write_shard(dir + "/train-00000.shard", 10);
  auto size = std::filesystem::file_size(path);
  std::filesystem::resize_file(path, size - 5);
  auto truncated = inspect_shard(path, 0);
  BOOST_TEST(!truncated);
  BOOST_TEST(truncated.error().find(path) != std::string::npos);
  BOOST_TEST(truncated.error().find("record 9: truncated") != std::string::npos, truncated.error());

  auto path2 = write_shard(dir + "/train-00001.shard", 10);
  {
    std::fstream f(path2, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(std::filesystem::file_size(path2) / 2));
    f.put('\x5a');
  }
  auto corrupt = inspect_shard(path2, 0);
  BOOST_TEST(!corrupt);
  BOOST_TEST(corrupt.error().find("corrupt") != std::string::npos, corrupt.error());
  BOOST_TEST(corrupt.error().find("record ") != std::string::npos);

  std::ofstream(dir + "/train-00002.shard") << "hello";
  BOOST_TEST(inspect_shard(dir + "/train-00002.shard", 0).error().find("not a ttt shard") != std::string::npos);
  // a stream over a corrupt shard fails instead of skipping silently
  sample_stream stream({path2}, 4, 1, false);
  bool failed = false;
  for (int i = 0; i < 20 && !failed; ++i) {
    auto s = stream.next();
    failed = !s;
    if (s && !s->has_value())
      break;
  }
  BOOST_TEST(failed);
}

BOOST_AUTO_TEST_CASE(stream_shuffles_by_peer_seed_and_applies_the_2021_filters) {
  auto dir = temp_dir("stream");
  {
    auto w = shard_writer::create(dir + "/train-00000.shard");
    for (int i = 0; i < 40; ++i)
      w->write(make_sample(i));
    auto nsfw = make_sample(100);
    nsfw.nsfw = true;
    auto short_caption = make_sample(101);
    short_caption.caption = "ab";
    auto wide = make_sample(102);
    wide.width = 300;
    wide.height = 100;
    auto square_enough = make_sample(103);
    square_enough.width = 200;
    square_enough.height = 100;
    for (const auto& s : {nsfw, short_caption, wide, square_enough})
      w->write(s);
    w->close();
  }
  auto order = [&](const std::string& peer) {
    sample_stream stream(list_shards(dir, "train"), 16, seed_from_peer_id(peer), false);
    std::vector<std::string> captions;
    while (true) {
      auto s = stream.next();
      BOOST_REQUIRE(static_cast<bool>(s));
      if (!s->has_value())
        break;
      captions.push_back((*s)->caption);
    }
    BOOST_TEST(stream.filtered_out() == 3);
    return captions;
  };
  auto a = order("peer-a"), a2 = order("peer-a"), b = order("peer-b");
  BOOST_TEST(a.size() == 41u); // 40 + the 2:1 image; nsfw, short, 3:1 dropped
  BOOST_TEST(a == a2);
  BOOST_TEST(a != b);
  BOOST_TEST(std::set<std::string>(a.begin(), a.end()).size() == 41u);
  std::vector<std::string> in_order;
  for (int i = 0; i < 40; ++i)
    in_order.push_back(make_sample(i).caption);
  BOOST_TEST(std::vector<std::string>(a.begin(), a.begin() + 40) != in_order);
  // looping streams start over
  sample_stream looping(list_shards(dir, "train"), 4, 3, true);
  for (int i = 0; i < 100; ++i) {
    auto s = looping.next();
    BOOST_REQUIRE(static_cast<bool>(s));
    BOOST_REQUIRE(s->has_value());
  }
}

BOOST_AUTO_TEST_CASE(shapes_captions_say_what_the_picture_shows) {
  std::mt19937_64 rng(5);
  for (int i = 0; i < 50; ++i) {
    auto scene = random_scene(rng, 2, 3);
    BOOST_TEST(scene.objects.size() >= 2u);
    auto caption = caption_of(scene);
    auto parsed = parse_caption(caption);
    BOOST_REQUIRE(parsed.objects.size() == scene.objects.size());
    BOOST_TEST(caption_of(parsed) == caption);
    BOOST_TEST(score_picture(render(scene), scene) == 1.0, caption);
  }
  auto scene = parse_caption("big red circle top left and small blue square bottom right");
  BOOST_REQUIRE(scene.objects.size() == 2u);
  BOOST_TEST(score_picture(rgb_image(64, 64, 240), scene) == 0.0);
  // the right colours in the wrong places score nothing; a wrong shape scores less
  auto swapped = parse_caption("big red circle bottom right and small blue square top left");
  BOOST_TEST(score_picture(render(swapped), scene) == 0.0);
  auto other_shape = parse_caption("big red square top left and small blue square bottom right");
  double partial = score_picture(render(other_shape), scene);
  BOOST_TEST(partial > 0.5);
  BOOST_TEST(partial < 1.0);
}

BOOST_AUTO_TEST_CASE(codebook_decodes_codes_back_to_the_picture) {
  std::mt19937_64 rng(9);
  std::vector<rgb_image> images;
  std::vector<shape_scene> scenes;
  for (int i = 0; i < 200; ++i) {
    scenes.push_back(random_scene(rng, 2, 2));
    images.push_back(render(scenes.back()));
  }
  auto cb = learn_codebook(images, 64, 8, 1);
  BOOST_TEST(cb.grid() == 8);
  auto path = temp_dir("cb") + "/codebook.safetensors";
  BOOST_REQUIRE(static_cast<bool>(save_codebook(path, cb)));
  auto loaded = load_codebook(path);
  BOOST_REQUIRE(static_cast<bool>(loaded));
  double error = 0, score = 0;
  for (int i = 0; i < 20; ++i) {
    auto codes = encode_image(*loaded, images[i]);
    BOOST_TEST(codes.numel() == 64);
    auto back = decode_codes(*loaded, codes);
    for (size_t k = 0; k < back.pixels.size(); ++k)
      error += std::abs(int(back.pixels[k]) - int(images[i].pixels[k]));
    score += score_picture(back, scenes[i]);
  }
  error /= 20.0 * 64 * 64 * 3;
  BOOST_TEST(error < 8.0); // mean absolute error out of 255
  BOOST_TEST(score / 20 > 0.6);
  // a blank codebook would decode to one colour everywhere: the codes differ
  auto first = encode_image(cb, images[0]);
  BOOST_TEST(std::set<int64_t>(first.data_ptr<int64_t>(), first.data_ptr<int64_t>() + 64).size() > 2u);
}

BOOST_AUTO_TEST_CASE(sentencepiece_trains_on_captions_and_pads_with_zero) {
  std::mt19937_64 rng(2);
  std::vector<std::string> captions;
  for (int i = 0; i < 300; ++i)
    captions.push_back(caption_of(random_scene(rng, 2, 2)));
  auto path = temp_dir("tok") + "/tokenizer.model";
  auto st = train_tokenizer(captions, 64, path, "word");
  BOOST_REQUIRE_MESSAGE(st, st.error());
  auto tok = text_tokenizer::load(path);
  BOOST_REQUIRE_MESSAGE(tok, tok.error());
  auto ids = tok->encode(captions[0], 16);
  BOOST_TEST(ids.size() == 16u);
  for (int i = 0; i < 11; ++i)
    BOOST_TEST(ids[i] > 2); // pad 0, eos 1, unk 2 never stand for a word
  for (int i = 11; i < 16; ++i)
    BOOST_TEST(ids[i] == 0);
  BOOST_TEST(tok->decode(ids) == captions[0]);
  // a shard re-tokenized with the trained model carries its ids
  auto dir = temp_dir("retok");
  {
    auto w = shard_writer::create(dir + "/in.shard");
    sample s;
    s.caption = captions[1];
    s.text_ids = {9, 9, 9};
    s.image_codes = {1, 2};
    w->write(s);
    w->close();
  }
  auto n = retokenize_shard(path, 16, dir + "/in.shard", dir + "/out.shard");
  BOOST_REQUIRE_MESSAGE(n, n.error());
  BOOST_TEST(*n == 1);
  auto r = shard_reader::open(dir + "/out.shard");
  auto back = r->next();
  BOOST_REQUIRE(static_cast<bool>(back) && back->has_value());
  BOOST_TEST((*back)->text_ids == tok->encode(captions[1], 16));
  BOOST_TEST((*back)->image_codes == std::vector<int16_t>({1, 2}));
  BOOST_TEST(!retokenize_shard(path, 16, dir + "/in.shard", dir + "/in.shard"));

  auto bad = text_tokenizer::load(temp_dir("tok2") + "/absent.model");
  BOOST_TEST(!bad);
  BOOST_TEST(bad.error().find("absent.model") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(shapes_dataset_writes_shards_codebook_and_tokenizer) {
  shapes_options o;
  o.out_dir = temp_dir("shapes");
  o.count = 60;
  o.valid_count = 20;
  o.shard_size = 25;
  auto report = make_shapes_dataset(o, [](const std::string&) {});
  BOOST_REQUIRE_MESSAGE(report, report.error());
  BOOST_TEST(report->truncated_captions == 0);
  BOOST_TEST(list_shards(o.out_dir, "train").size() == 3u);
  BOOST_TEST(list_shards(o.out_dir, "valid").size() == 1u);
  for (const char* f : {"tokenizer.model", "codebook.safetensors", "preview.png"})
    BOOST_TEST(std::filesystem::exists(o.out_dir + "/" + f), f);
  auto r = shard_reader::open(list_shards(o.out_dir, "train")[0]);
  auto s = r->next();
  BOOST_REQUIRE(static_cast<bool>(s) && s->has_value());
  BOOST_TEST((*s)->text_ids.size() == 16u);
  BOOST_TEST((*s)->image_codes.size() == 64u);
  for (auto c : (*s)->image_codes)
    BOOST_TEST((c >= 0 && c < 64));
  BOOST_TEST(parse_caption((*s)->caption).objects.size() == 2u);
}
