#pragma once
// What the in-process dalle-tiny trainer tests share: a fresh shapes dataset
// and the tiny config with a chosen micro-batch, in a temporary directory.
#include "model/api.hpp"

#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

namespace ttt::test {

struct tiny_dalle_files {
  std::string dir;    ///< the temporary directory holding both
  std::string data;   ///< dir/data: train and valid shards, tokenizer, codebook
  std::string config; ///< dir/tiny.ini
};

/// `count` training samples (16 held out), dalle-tiny in micro-batches of `micro_batch`.
inline tiny_dalle_files make_tiny_dalle(const std::string& name, int64_t count, int64_t micro_batch) {
  std::string tmpl_text = "/tmp/ttt-" + name + "-XXXXXX";
  std::vector<char> tmpl(tmpl_text.begin(), tmpl_text.end());
  tmpl.push_back('\0');
  BOOST_REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
  tiny_dalle_files f;
  f.dir = tmpl.data();
  f.data = f.dir + "/data";
  f.config = f.dir + "/tiny.ini";
  model::shapes_options so;
  so.out_dir = f.data;
  so.count = count;
  so.valid_count = 16;
  auto shapes = model::make_shapes_dataset(so, [](const std::string&) {});
  BOOST_REQUIRE_MESSAGE(shapes, shapes.error());
  std::ifstream in(TTT_SOURCE_DIR "/configs/model/dalle-tiny.ini");
  std::stringstream text;
  text << in.rdbuf();
  std::ofstream(f.config) << std::regex_replace(text.str(), std::regex("micro_batch_size = [0-9]+"),
                                                "micro_batch_size = " + std::to_string(micro_batch));
  return f;
}

} // namespace ttt::test
