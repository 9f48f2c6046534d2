#define BOOST_TEST_MODULE run_kit
#include <boost/test/unit_test.hpp>

#include "apps/profile.hpp"
#include "actors/common/describe.hpp"
#include "apps/run_kit.hpp"

#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace ttt::apps;
namespace fs = std::filesystem;

namespace {

struct kit_folder {
  fs::path root = fs::temp_directory_path() / ("ttt-kit-test-" + std::to_string(::getpid()));
  kit_folder() { fs::create_directories(root / "operator" / "models"); }
  ~kit_folder() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
  std::string write(const std::string& name, const std::string& text) {
    auto p = root / "operator" / name;
    std::ofstream(p) << text;
    return p.string();
  }
};

} // namespace

BOOST_AUTO_TEST_CASE(the_kit_stands_alone_beside_its_model_config_and_names_the_aux) {
  kit_folder f;
  f.write("models/tiny.ini", "[model]\ndim = 128\n");
  auto path = f.write("trainer.ini", "[node]\nroles = dht, trainer\ninitial_peers = aa@10.0.0.1:1\n"
                                     "[run]\nrun_id = demo\n[trainer]\nconfig = models/tiny.ini\n"
                                     "target_batch_size = 192\n");
  auto kit = make_run_kit(path, "bb@10.0.0.2:2");
  BOOST_REQUIRE_MESSAGE(kit, (kit ? std::string() : ttt::describe(kit.error())));
  BOOST_TEST(kit->model_config == "[model]\ndim = 128\n");
  BOOST_TEST(kit->manifest.empty());
  // The rewritten profile parses, keeps the run's settings and names the kit's files.
  std::string error;
  auto p = profile::parse(kit->profile, "kit", error);
  BOOST_REQUIRE_MESSAGE(p, error);
  BOOST_TEST(*p->text("trainer.config", "") == "model.ini");
  BOOST_TEST(*p->text("trainer.target_batch_size", "") == "192");
  BOOST_TEST(*p->text("run.run_id", "") == "demo");
  auto peers = p->list("node.initial_peers");
  BOOST_TEST(peers.size() == 2u);
  BOOST_TEST(peers.at(1) == "bb@10.0.0.2:2");
}

BOOST_AUTO_TEST_CASE(a_profile_without_initial_peers_gets_the_aux_as_its_one) {
  kit_folder f;
  f.write("tiny.ini", "[model]\n");
  auto path = f.write("trainer.ini", "[node]\nroles = dht, trainer\n[run]\nrun_id = demo\n[trainer]\nconfig = tiny.ini\n");
  auto kit = make_run_kit(path, "bb@10.0.0.2:2");
  BOOST_REQUIRE(kit);
  std::string error;
  auto p = profile::parse(kit->profile, "kit", error);
  BOOST_REQUIRE_MESSAGE(p, error);
  BOOST_TEST(p->list("node.initial_peers") == std::vector<std::string>{"bb@10.0.0.2:2"});
}

BOOST_AUTO_TEST_CASE(refuses_what_is_no_trainers_kit) {
  kit_folder f;
  f.write("tiny.ini", "[model]\n");
  auto aux = f.write("aux.ini", "[node]\nroles = dht, checkpointer\n[run]\nrun_id = demo\n");
  auto kit = make_run_kit(aux, "");
  BOOST_REQUIRE(!kit);
  BOOST_TEST(ttt::describe(kit.error()).find("no trainer") != std::string::npos);
  auto missing = f.write("t.ini", "[node]\nroles = trainer\n[run]\nrun_id = demo\n[trainer]\nconfig = gone.ini\n");
  BOOST_TEST(!make_run_kit(missing, ""));
  auto no_run = f.write("r.ini", "[node]\nroles = trainer\n[trainer]\nconfig = tiny.ini\n");
  BOOST_TEST(!make_run_kit(no_run, ""));
  BOOST_TEST(!make_run_kit((f.root / "nothing.ini").string(), ""));
}
