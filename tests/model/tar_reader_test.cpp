// The tar reader against archives that lie: sizes past the end of the file,
// members over the bound, broken checksums, long names.
#include "tests/model/model_fixture.hpp"
#include "tests/model/tar_writer.hpp"

#include "model/caption_images.hpp"
#include "model/tar_reader.hpp"

#include <filesystem>
#include <fstream>

using namespace ttt::model;
using ttt::testing::make_tar;

namespace {

std::string write_tar(const std::string& name, const std::string& bytes) {
  auto dir =
      std::filesystem::temp_directory_path() / ("ttt_tar_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto path = (dir / name).string();
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

// Every member's name, then "!" and the failure if one ended the archive.
std::vector<std::string> read_all(const std::string& path, int64_t bound,
                                  std::vector<std::string>* warnings = nullptr) {
  auto r = tar_reader::open(path, bound);
  BOOST_REQUIRE_MESSAGE(r, r.error());
  std::vector<std::string> names;
  while (true) {
    auto m = r->next();
    if (warnings)
      for (auto& w : r->take_warnings())
        warnings->push_back(w);
    if (!m) {
      names.push_back("!" + m.error());
      break;
    }
    if (!*m)
      break;
    names.push_back((*m)->name + "=" + (*m)->bytes);
  }
  return names;
}

} // namespace

BOOST_AUTO_TEST_CASE(tar_reader_reads_members_and_gnu_long_names) {
  std::string long_name = "dir/" + std::string(150, 'x') + ".txt";
  auto path = write_tar("plain.tar", make_tar({{"a.txt", "hello"},
                                               {"b/c.jpg", std::string(700, 'j')},
                                               {"dir", "", '5'},
                                               {long_name, "long"},
                                               {"empty.txt", ""}}));
  auto names = read_all(path, 1 << 20);
  BOOST_REQUIRE(names.size() == 4u);
  BOOST_TEST(names[0] == "a.txt=hello");
  BOOST_TEST(names[1] == "b/c.jpg=" + std::string(700, 'j'));
  BOOST_TEST(names[2] == long_name + "=long");
  BOOST_TEST(names[3] == "empty.txt=");
}

BOOST_AUTO_TEST_CASE(tar_reader_skips_members_over_the_bound_and_goes_on) {
  std::vector<std::string> warnings;
  auto path =
      write_tar("big.tar", make_tar({{"big.jpg", std::string(5000, 'b')}, {"small.txt", "ok"}}));
  auto names = read_all(path, 4096, &warnings);
  BOOST_REQUIRE(names.size() == 1u);
  BOOST_TEST(names[0] == "small.txt=ok");
  BOOST_REQUIRE(warnings.size() == 1u);
  BOOST_TEST(warnings[0].find("big.jpg") != std::string::npos, warnings[0]);
}

BOOST_AUTO_TEST_CASE(tar_reader_never_believes_a_size_beyond_the_file) {
  // A member claiming 2^40 bytes (under the bound) in a file of a few KiB:
  // refused without allocating, the members before it given.
  auto bytes = make_tar({{"a.txt", "first"}, {"huge.jpg", "tiny", '0', 1ll << 40}});
  auto names = read_all(write_tar("lie.tar", bytes), int64_t{1} << 62);
  BOOST_REQUIRE(names.size() == 2u);
  BOOST_TEST(names[0] == "a.txt=first");
  BOOST_TEST(names[1].find("huge.jpg") != std::string::npos, names[1]);
  BOOST_TEST(names[1].find("left") != std::string::npos, names[1]);
  // Over the bound and past the end: skipping it fails the same way.
  auto skipped = read_all(write_tar("lie2.tar", bytes), 1 << 20);
  BOOST_REQUIRE(skipped.size() == 2u);
  BOOST_TEST(skipped[1].find("cut short") != std::string::npos, skipped[1]);
  // Cut in the middle of a member.
  auto whole = make_tar({{"a.txt", "first"}, {"b.jpg", std::string(3000, 'b')}});
  auto cut = read_all(write_tar("cut.tar", whole.substr(0, 1536)), 1 << 20);
  BOOST_REQUIRE(cut.size() == 2u);
  BOOST_TEST(cut[0] == "a.txt=first");
  BOOST_TEST(cut[1].front() == '!');
}

BOOST_AUTO_TEST_CASE(tar_reader_stops_at_a_corrupt_header_naming_the_offset) {
  auto bytes = make_tar({{"a.txt", "first"}, {"b.txt", "second"}});
  bytes[1024 + 130] ^= 1; // b.txt's size field: the checksum no longer matches
  auto names = read_all(write_tar("bad.tar", bytes), 1 << 20);
  BOOST_REQUIRE(names.size() == 2u);
  BOOST_TEST(names[0] == "a.txt=first");
  BOOST_TEST(names[1].find("checksum") != std::string::npos, names[1]);
  BOOST_TEST(names[1].find("byte 1024") != std::string::npos, names[1]);
  auto text = read_all(write_tar("text.tar", std::string(2000, 'x')), 1 << 20);
  BOOST_REQUIRE(text.size() == 1u);
  BOOST_TEST(text[0].find("checksum") != std::string::npos, text[0]);
}

BOOST_AUTO_TEST_CASE(webdataset_groups_members_by_key_and_reads_captions) {
  auto path = write_tar(
      "wds.tar", make_tar({{"00/000.jpg", "J0"},
                           {"00/000.txt", "  a red circle \n"},
                           {"00/000.json", "{\"caption\": \"ignored\", \"NSFW\": \"UNLIKELY\"}"},
                           {"00/001.png", "P1"},
                           {"00/001.json", "{\"caption\": \"from json\", \"NSFW\": \"NSFW\"}"},
                           {"00/002.txt", "no image"},
                           {"00/003.tar.gz", "other"}}));
  auto r = webdataset_reader::open(path, 1 << 20);
  BOOST_REQUIRE(r);
  std::vector<captioned_image> samples;
  while (true) {
    auto s = r->next();
    BOOST_REQUIRE_MESSAGE(s, s.error());
    if (!*s)
      break;
    samples.push_back(**s);
  }
  BOOST_REQUIRE(samples.size() == 4u);
  BOOST_TEST(samples[0].key == "00/000");
  BOOST_TEST(samples[0].image == "J0");
  BOOST_TEST(samples[0].caption == "a red circle");
  BOOST_TEST(!samples[0].nsfw);
  BOOST_TEST(samples[1].caption == "from json");
  BOOST_TEST(samples[1].nsfw);
  BOOST_TEST(!samples[2].has_image);
  BOOST_TEST(samples[2].has_caption);
  BOOST_TEST(!samples[3].has_image);
  BOOST_TEST(!samples[3].has_caption);
}
