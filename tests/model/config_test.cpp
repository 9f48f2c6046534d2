// Config files: dalle-pytorch's names, cycled lists, the parameter counts of MODEL.md.
#include <boost/test/unit_test.hpp>

#include "model/config.hpp"

using namespace ttt::model;

namespace {
config_file load(const std::string& name) {
  auto c = load_config(std::string(TTT_SOURCE_DIR) + "/configs/model/" + name + ".ini");
  BOOST_REQUIRE_MESSAGE(c, c.error());
  return *c;
}
} // namespace

BOOST_AUTO_TEST_CASE(parameter_counts_match_model_md) {
  BOOST_TEST(parameter_count(load("dalle-ttt").model) == 125894244);
  BOOST_TEST(parameter_count(load("dalle-tiny").model) == 288208);
}

BOOST_AUTO_TEST_CASE(lists_cycle_and_end_with_the_last_layer) {
  auto m = load("dalle-ttt").model;
  BOOST_REQUIRE(m.attn_types.size() == 64u);
  BOOST_TEST(m.attn_types[0] == "axial_row");
  BOOST_TEST(m.attn_types[1] == "axial_col");
  BOOST_TEST(m.attn_types[62] == "axial_row");
  BOOST_TEST(m.attn_types[63] == "conv_like");
  BOOST_TEST(m.shared_attn_ids[61] == "1");
  BOOST_TEST(m.shared_attn_ids[63] == "w_conv");
  BOOST_TEST(m.seq_len() == 1280);
  BOOST_TEST(m.total_tokens() == 32100 + 256 + 8192);
  BOOST_TEST(describe(m).find("attn_types = axial_row, axial_col, axial_row, axial_row, ..., conv_like") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(bad_configs_are_refused_with_the_file_and_key_named) {
  auto missing = load_config("/nonexistent/x.ini");
  BOOST_TEST(!missing);
  BOOST_TEST(missing.error().find("/nonexistent/x.ini") != std::string::npos);
  auto bad = parse_config("[model]\ndim = sixty\n", "bad.ini");
  BOOST_TEST(!bad);
  BOOST_TEST(bad.error().find("bad.ini:2: dim") != std::string::npos);
  std::string base = "[model]\ndim=8\ndepth=2\nheads=1\ndim_head=8\ntext_seq_len=2\nnum_text_tokens=4\n"
                     "image_fmap_size=2\nnum_image_tokens=4\n";
  BOOST_TEST(static_cast<bool>(parse_config(base, "ok.ini")));
  auto unknown = parse_config(base + "colour = red\n", "u.ini");
  BOOST_TEST(unknown.error().find("colour") != std::string::npos);
  auto clash = parse_config(base + "attn_types = axial_row, axial_col\nshared_attn_ids = 0, 0\n", "c.ini");
  BOOST_TEST(!clash);
  BOOST_TEST(clash.error().find("shares attention id") != std::string::npos);
}
