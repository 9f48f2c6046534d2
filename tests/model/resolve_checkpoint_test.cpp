// Which checkpoint a --checkpoint folder names: a checkpoint itself, the
// newest in a folder of them (a node's DATA_DIR/checkpoints), or the newest
// under DIR/checkpoints (a node's DATA_DIR, a training run's --out).
#include "model/api.hpp"

#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>

#include <unistd.h>

using namespace ttt::model;
namespace fs = std::filesystem;

namespace {

/// A checkpoint directory with only the file resolve_checkpoint looks for.
void make_checkpoint(const fs::path& dir) {
  fs::create_directories(dir);
  std::ofstream(dir / "model.safetensors") << "weights";
}

} // namespace

BOOST_AUTO_TEST_CASE(a_checkpoint_a_folder_of_them_and_a_data_dir_all_name_the_newest_checkpoint) {
  auto data_dir = fs::temp_directory_path() / ("ttt_resolve_test_" + std::to_string(::getpid()));
  fs::remove_all(data_dir);
  auto checkpoints = data_dir / "checkpoints";
  make_checkpoint(checkpoints / "epoch-00000002");
  make_checkpoint(checkpoints / "epoch-00000010");
  make_checkpoint(checkpoints / "epoch-00000009");
  fs::create_directories(checkpoints / "epoch-00000011"); // no weights yet: not a checkpoint
  fs::create_directories(data_dir / "db");
  auto newest = (checkpoints / "epoch-00000010").string();

  auto of_data_dir = resolve_checkpoint(data_dir.string());
  BOOST_REQUIRE_MESSAGE(of_data_dir, of_data_dir.error());
  BOOST_TEST(*of_data_dir == newest);
  auto of_folder = resolve_checkpoint(checkpoints.string());
  BOOST_REQUIRE_MESSAGE(of_folder, of_folder.error());
  BOOST_TEST(*of_folder == newest);
  auto itself = resolve_checkpoint((checkpoints / "epoch-00000002").string());
  BOOST_REQUIRE_MESSAGE(itself, itself.error());
  BOOST_TEST(*itself == (checkpoints / "epoch-00000002").string());

  auto empty = resolve_checkpoint((data_dir / "db").string());
  BOOST_REQUIRE(!empty);
  BOOST_TEST(empty.error().find("holds neither model.safetensors nor checkpoint directories") != std::string::npos,
             empty.error());
  BOOST_TEST(!resolve_checkpoint((data_dir / "missing").string()));
  fs::remove_all(data_dir);
}
