#define BOOST_TEST_MODULE profile
#include <boost/test/unit_test.hpp>

#include "apps/profile.hpp"

#include <filesystem>
#include <fstream>
#include <unistd.h>

using ttt::apps::profile;
namespace fs = std::filesystem;

namespace {

/// A profile file in a fresh folder of its own.
struct profile_file {
  fs::path folder;
  std::string path;
  explicit profile_file(const std::string& text) {
    folder = fs::temp_directory_path() / ("ttt-profile-test-" + std::to_string(::getpid()));
    fs::create_directories(folder / "conf");
    path = (folder / "conf" / "trainer.ini").string();
    std::ofstream(path) << text;
  }
  ~profile_file() {
    std::error_code ec;
    fs::remove_all(folder, ec);
  }
};

} // namespace

BOOST_AUTO_TEST_CASE(relative_paths_in_the_file_are_the_files_folders) {
  profile_file f("[trainer]\nconfig = model/dalle-tiny.ini\ndata = ../shards\n"
                 "[run]\nmanifest = /abs/run.manifest\ncertificate =\n");
  std::string error;
  auto p = profile::load(f.path, error);
  BOOST_REQUIRE_MESSAGE(p, error);
  auto conf = (f.folder / "conf").string();
  BOOST_TEST(p->path("trainer.config", "x") == conf + "/model/dalle-tiny.ini");
  BOOST_TEST(p->path("trainer.data", "x") == f.folder.string() + "/shards");
  BOOST_TEST(p->path("run.manifest", "x") == "/abs/run.manifest");
  BOOST_TEST(p->path("run.certificate", "x") == "");    // empty stays empty: none given
  BOOST_TEST(p->path("trainer.absent", "fallback/dir") == "fallback/dir");
  // The plain text read is what the file says.
  BOOST_TEST(*p->text("trainer.config", "") == "model/dalle-tiny.ini");
}

BOOST_AUTO_TEST_CASE(a_path_a_flag_sets_stays_the_current_directorys) {
  profile_file f("[trainer]\ndata = shards\n");
  std::string error;
  auto p = profile::load(f.path, error);
  BOOST_REQUIRE_MESSAGE(p, error);
  BOOST_TEST(p->path("trainer.data", "") != "shards");
  p->set("trainer.data", "my/shards");
  BOOST_TEST(p->path("trainer.data", "") == "my/shards");
}

BOOST_AUTO_TEST_CASE(parsed_text_has_no_folder_to_resolve_against) {
  std::string error;
  auto p = profile::parse("[trainer]\ndata = shards\n", "text", error);
  BOOST_REQUIRE(p);
  BOOST_TEST(p->path("trainer.data", "") == "shards");
}

BOOST_AUTO_TEST_CASE(refuses_unknown_keys_duplicates_and_bad_values_with_their_line) {
  std::string error;
  BOOST_TEST(!profile::parse("[a]\nx = 1\nx = 2\n", "p.ini", error));
  BOOST_TEST(error.find("p.ini:3") != std::string::npos);
  auto p = profile::parse("[a]\nx = 1\ny = nope\n", "p.ini", error);
  BOOST_REQUIRE(p);
  error.clear();
  BOOST_TEST(!p->check_known({"a.x"}, error));
  BOOST_TEST(error.find("p.ini:3: unknown setting 'a.y'") != std::string::npos);
  error.clear();
  BOOST_TEST(!p->integer("a.y", 0, error));
  BOOST_TEST(error.find("must be an integer") != std::string::npos);
}
