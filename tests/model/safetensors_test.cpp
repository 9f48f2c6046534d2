// safetensors: lossless round trips, dalle-pytorch names, refusals that name the problem.
#include "tests/model/model_fixture.hpp"

#include "model/api.hpp"
#include "model/json.hpp"
#include "model/safetensors.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>

using namespace ttt::model;
using namespace ttt::model::testing;

namespace {
std::string temp_path(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("ttt_model_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}
} // namespace

BOOST_AUTO_TEST_CASE(json_reader_takes_what_the_files_hold) {
  auto v = parse_json(R"({"a": [1, -2, 3.5], "b": {"c": "x\"y"}, "d": true, "e": null})");
  BOOST_REQUIRE(static_cast<bool>(v));
  BOOST_TEST(v->find("a")->array[1].integer == -2);
  BOOST_TEST(v->find("a")->array[2].real == 3.5);
  BOOST_TEST(v->find("b")->find("c")->string == "x\"y");
  BOOST_TEST(!parse_json("{\"a\": [1, 2}"));
  BOOST_TEST(!parse_json("[1] x"));
}

BOOST_AUTO_TEST_CASE(round_trip_is_lossless_and_uses_dalle_pytorch_names) {
  auto c = load_model_config("dalle-tiny");
  torch::manual_seed(1);
  dalle a(c);
  torch::manual_seed(2);
  dalle b(c);
  auto path = temp_path("tiny.safetensors");
  BOOST_REQUIRE(static_cast<bool>(save_safetensors(path, export_weights(*a))));
  auto loaded = load_safetensors(path);
  BOOST_REQUIRE_MESSAGE(loaded, loaded.error());
  std::set<std::string> names;
  for (const auto& [n, t] : *loaded)
    names.insert(n);
  for (const char* expected : {"transformer.layers.blocks.0.f.net.scale", "transformer.layers.blocks.0.f.net.fn.norm.weight",
                               "transformer.layers.blocks.3.f.net.fn.fn.fn.to_qkv.weight",
                               "transformer.layers.blocks.2.f.net.fn.fn.fn.to_out.0.bias",
                               "transformer.layers.blocks.1.g.net.fn.fn.fn.net.0.weight",
                               "transformer.layers.blocks.1.g.net.fn.fn.fn.net.3.bias", "to_logits.0.weight",
                               "to_logits.1.weight", "text_emb.linear.weight", "image_emb.linear.bias",
                               "transformer.pos_emb"})
    BOOST_TEST(names.count(expected) == 1u, expected);
  auto st = import_weights(*b, *loaded, path);
  BOOST_REQUIRE_MESSAGE(st, st.error());
  auto pa = a->parameters(), pb = b->parameters();
  for (size_t i = 0; i < pa.size(); ++i)
    BOOST_TEST(torch::equal(pa[i], pb[i]));
  // and the 2021 checkpoints' "model." prefix is accepted
  tensor_list prefixed;
  for (const auto& [n, t] : *loaded)
    prefixed.emplace_back("model." + n, t);
  torch::manual_seed(3);
  dalle d(c);
  BOOST_TEST(static_cast<bool>(import_weights(*d, prefixed, "prefixed")));
  BOOST_TEST(torch::equal(d->to_logits()->weight, a->to_logits()->weight));
}

BOOST_AUTO_TEST_CASE(bad_weights_are_refused_with_names) {
  auto c = load_model_config("dalle-tiny");
  dalle m(c);
  auto good = export_weights(*m);
  auto without = [&](const std::string& name) {
    tensor_list out;
    for (const auto& [n, t] : good)
      if (n != name)
        out.emplace_back(n, t);
    return out;
  };
  auto missing = import_weights(*m, without("transformer.layers.blocks.2.g.net.scale"), "w.safetensors");
  BOOST_TEST(!missing);
  BOOST_TEST(missing.error().find("missing 1: transformer.layers.blocks.2.g.net.scale") != std::string::npos,
             missing.error());
  BOOST_TEST(missing.error().find("w.safetensors") != std::string::npos);
  // a shared tensor under only one of its names is enough
  auto only_one = without("text_emb.linear.weight");
  BOOST_TEST(static_cast<bool>(import_weights(*m, only_one, "x")));
  auto misshapen = good;
  for (auto& [n, t] : misshapen)
    if (n == "to_logits.0.bias")
      t = torch::zeros({3});
  auto r1 = import_weights(*m, misshapen, "x");
  BOOST_TEST(r1.error().find("misshapen 1: to_logits.0.bias [3] (expected [64])") != std::string::npos, r1.error());
  auto disagree = good;
  for (auto& [n, t] : disagree)
    if (n == "image_emb.linear.weight")
      t = t + 1;
  auto r2 = import_weights(*m, disagree, "x");
  BOOST_TEST(r2.error().find("disagree") != std::string::npos);
  BOOST_TEST(r2.error().find("image_emb.linear.weight") != std::string::npos, r2.error());
  auto unknown = good;
  unknown.emplace_back("transformer.extra.weight", torch::zeros({1}));
  unknown.emplace_back("vae.decoder.weight", torch::zeros({1})); // the VAE is ignored
  unknown.emplace_back("model.logits_mask", torch::zeros({1}));  // and the recomputable mask
  auto r3 = import_weights(*m, unknown, "x");
  BOOST_TEST(r3.error().find("unknown 1: transformer.extra.weight") != std::string::npos, r3.error());
}

BOOST_AUTO_TEST_CASE(corrupt_files_are_refused_with_the_file_named) {
  auto c = load_model_config("dalle-tiny");
  dalle m(c);
  auto path = temp_path("full.safetensors");
  BOOST_REQUIRE(static_cast<bool>(save_safetensors(path, export_weights(*m))));
  auto size = std::filesystem::file_size(path);
  std::filesystem::resize_file(path, size - 100);
  auto truncated = load_safetensors(path);
  BOOST_TEST(!truncated);
  BOOST_TEST(truncated.error().find(path) != std::string::npos);
  BOOST_TEST(truncated.error().find("truncated") != std::string::npos, truncated.error());
  auto garbage = temp_path("garbage.safetensors");
  std::ofstream(garbage) << "not a safetensors file at all";
  auto r = load_weights_file(*m, garbage);
  BOOST_TEST(!r);
  BOOST_TEST(r.error().find(garbage) != std::string::npos, r.error());
  BOOST_TEST(!load_weights_file(*m, temp_path("absent.safetensors")));
}

BOOST_AUTO_TEST_CASE(eval_of_a_batch_file_matches_the_model_loss) {
  auto c = load_model_config("dalle-tiny");
  torch::manual_seed(11);
  dalle m(c);
  auto weights = temp_path("eval.safetensors");
  BOOST_REQUIRE(static_cast<bool>(save_safetensors(weights, export_weights(*m))));
  auto [text, image] = random_batch(c, 2, 12);
  std::string json = "{\"text\": [";
  for (int64_t i = 0; i < 2; ++i) {
    json += i ? ",[" : "[";
    for (int64_t j = 0; j < c.text_seq_len; ++j)
      json += (j ? "," : "") + std::to_string(text[i][j].item<int64_t>());
    json += "]";
  }
  json += "], \"image\": [";
  for (int64_t i = 0; i < 2; ++i) {
    json += i ? ",[" : "[";
    for (int64_t j = 0; j < c.image_seq_len(); ++j)
      json += (j ? "," : "") + std::to_string(image[i][j].item<int64_t>());
    json += "]";
  }
  json += "]}";
  auto batch = temp_path("batch.json");
  std::ofstream(batch) << json;
  auto config = std::string(TTT_SOURCE_DIR) + "/configs/model/dalle-tiny.ini";
  auto losses = evaluate_batch(config, weights, batch);
  BOOST_REQUIRE_MESSAGE(losses, losses.error());
  torch::NoGradGuard no_grad;
  auto expected = m->loss(text, image);
  BOOST_TEST(losses->loss == expected.loss.item<double>(), boost::test_tools::tolerance(1e-5));
  BOOST_TEST(losses->loss_img == expected.loss_img.item<double>(), boost::test_tools::tolerance(1e-5));
  std::ofstream(batch) << "{\"text\": [[1,2]], \"image\": [[1,2,3]]}";
  auto bad = evaluate_batch(config, weights, batch);
  BOOST_TEST(!bad);
  BOOST_TEST(bad.error().find("image[0] has 3 entries") != std::string::npos, bad.error());
}
