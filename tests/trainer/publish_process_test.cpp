// An aux peer (DHT entry point, checkpointer, monitor with a dashboard) and
// a dalle-tiny trainer as real `ttt node` processes on loopback: the aux
// peer publishes the latest weights and sample pictures of the state it
// keeps; the weights are what the trainer computed (the digest it logged for
// that epoch), and `ttt generate` draws the same pictures from them,
// downloaded by --weights-url, from the file, and from the aux peer's
// checkpoints folder.
#define BOOST_TEST_MODULE publish_process
#include <boost/test/unit_test.hpp>

#include "tests/common/blake2b.hpp"
#include "tests/common/process.hpp"

#include <httplib.h>
#include <sodium.h>

#include <filesystem>
#include <fstream>
#include <regex>

using namespace ttt::test;
using namespace std::chrono_literals;

namespace {

bool is_png(const std::string& bytes) {
  return bytes.size() > 200 && bytes.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0;
}

/// `text` with every match of `pattern` replaced, checked to match.
std::string edit(const std::string& text, const std::string& pattern, const std::string& replacement) {
  BOOST_REQUIRE_MESSAGE(std::regex_search(text, std::regex(pattern)), "no '" + pattern + "' in the profile");
  return std::regex_replace(text, std::regex(pattern), replacement);
}

} // namespace

BOOST_AUTO_TEST_CASE(the_aux_peer_publishes_the_trainers_state_and_generate_loads_it) {
  temp_dir tmp;
  auto data = tmp.path() + "/data";
  auto [shapes_rc, shapes_out] =
    run({ttt_binary(), "data", "shapes", "--out", data, "--count", "64"}, tmp.path() + "/shapes.log", 120s);
  BOOST_REQUIRE_MESSAGE(shapes_rc == 0, shapes_out);

  auto aux_profile = tmp.path() + "/aux.ini";
  std::string aux_text = read_text(TTT_SOURCE_DIR "/configs/aux.ini");
  aux_text = edit(aux_text, "poll_interval = [0-9]+", "poll_interval = 1");
  aux_text = edit(aux_text, "dashboard = [0-9.:]+", "dashboard = 127.0.0.1:0");
  aux_text = edit(aux_text, "sample_every = [0-9]+", "sample_every = 1");
  aux_text = edit(aux_text, "sample_count = [0-9]+", "sample_count = 2");
  std::ofstream(aux_profile) << aux_text;
  auto trainer_profile = tmp.path() + "/trainer.ini";
  std::string trainer_text = read_text(TTT_SOURCE_DIR "/configs/trainer.ini");
  trainer_text = edit(trainer_text, "config = model/", "config = " TTT_SOURCE_DIR "/configs/model/");
  trainer_text = edit(trainer_text, "target_batch_size = [0-9]+", "target_batch_size = 32");
  trainer_text = edit(trainer_text, "matchmaking_time = [0-9]+", "matchmaking_time = 1");
  trainer_text = edit(trainer_text, "epochs = 0", "epochs = 2");
  std::ofstream(trainer_profile) << trainer_text;

  process aux({ttt_binary(), "node", "--profile", aux_profile, "--listen", "127.0.0.1:0", "--data-dir",
               tmp.path() + "/aux"},
              tmp.path() + "/aux.log");
  auto listening = aux.wait_for("listening on (127\\.0\\.0\\.1:[0-9]+)");
  BOOST_REQUIRE_MESSAGE(listening, aux.output());
  auto dashboard = aux.wait_for("dashboard of run '[^']*' at http://127\\.0\\.0\\.1:([0-9]+)/");
  BOOST_REQUIRE_MESSAGE(dashboard, aux.output());
  auto port = std::stoi((*dashboard)[1]);
  std::string url = "http://127.0.0.1:" + (*dashboard)[1];
  httplib::Client client("127.0.0.1", port);

  // Nothing published before the swarm has a state.
  auto early = client.Get("/weights/latest.safetensors");
  BOOST_REQUIRE(early);
  BOOST_TEST(early->status == 404);
  auto early_pictures = client.Get("/samples/latest.png");
  BOOST_REQUIRE(early_pictures);
  BOOST_TEST(early_pictures->status == 404);
  auto [early_rc, early_out] = run({ttt_binary(), "generate", "--weights-url", url, "--data", data, "--prompt",
                                    "big red circle top left", "--out", tmp.path() + "/early.png"},
                                   tmp.path() + "/early.log");
  BOOST_TEST(early_rc == 1);
  BOOST_TEST(early_out.find("answered 404: no weights published yet") != std::string::npos, early_out);

  process trainer({ttt_binary(), "node", "--profile", trainer_profile, "--listen", "127.0.0.1:0", "--initial-peer",
                   (*listening)[1], "--data", data, "--data-dir", tmp.path() + "/trainer"},
                  tmp.path() + "/trainer.log");
  BOOST_REQUIRE_MESSAGE(trainer.wait_for("trained 2 epochs: stopping", 120s), trainer.output());
  // The state of 2 completed epochs: what the trainer had when "epoch 1 done".
  auto trained = trainer.wait_for("epoch 1 done: [^\n]*parameters ([0-9a-f]{16})");
  BOOST_REQUIRE_MESSAGE(trained, trainer.output());
  auto published = aux.wait_for("published epoch 2 \\(parameters ([0-9a-f]{16})\\): weights ([0-9a-f]{16}) "
                                "\\([0-9.]+ MB\\), samples for 4 prompts",
                                60s);
  BOOST_REQUIRE_MESSAGE(published, aux.output() + "\n--- trainer ---\n" + trainer.output());
  BOOST_TEST((*published)[1] == (*trained)[1]);

  auto weights = client.Get("/weights/latest.safetensors");
  BOOST_REQUIRE(weights);
  BOOST_TEST(weights->status == 200);
  BOOST_TEST(weights->get_header_value("X-TTT-Epoch") == "2");
  BOOST_TEST(weights->get_header_value("X-TTT-State-Digest") == (*trained)[1]);
  BOOST_TEST(weights->get_header_value("X-TTT-Weights-Digest") == hex_blake2b(weights->body));
  BOOST_TEST(weights->get_header_value("X-TTT-Weights-Digest").substr(0, 16) == (*published)[2]);
  BOOST_TEST(weights->get_header_value("Content-Length") == std::to_string(weights->body.size()));
  BOOST_TEST(weights->body.size() > 1000000u); // dalle-tiny: 288,208 floats, shared ones under each name
  auto pictures = client.Get("/samples/latest.png");
  BOOST_REQUIRE(pictures);
  BOOST_TEST(pictures->status == 200);
  BOOST_TEST(pictures->get_header_value("Content-Type") == "image/png");
  BOOST_TEST(pictures->get_header_value("X-TTT-Epoch") == "2");
  BOOST_TEST(is_png(pictures->body));

  // The same pictures from the downloaded file, from --weights-url and from
  // the aux peer's checkpoints folder.
  auto weights_file = tmp.path() + "/latest.safetensors";
  std::ofstream(weights_file, std::ios::binary) << weights->body;
  std::vector<std::string> generate = {"generate", "--data", data, "--prompt", "small blue square bottom right",
                                       "--count", "2", "--seed", "3"};
  auto draw = [&](const std::string& name, std::vector<std::string> source) {
    std::vector<std::string> argv = {ttt_binary()};
    argv.insert(argv.end(), generate.begin(), generate.end());
    argv.insert(argv.end(), source.begin(), source.end());
    argv.insert(argv.end(), {"--out", tmp.path() + "/" + name + ".png"});
    auto [rc, out] = run(argv, tmp.path() + "/" + name + ".log", 60s);
    BOOST_TEST(rc == 0, out);
    return std::make_pair(read_text(tmp.path() + "/" + name + ".png"), out);
  };
  auto [from_file, file_out] =
    draw("from-file", {"--weights", weights_file, "--config", TTT_SOURCE_DIR "/configs/model/dalle-tiny.ini"});
  BOOST_TEST(is_png(from_file));
  auto [from_url, url_out] = draw("from-url", {"--weights-url", url});
  BOOST_TEST(url_out.find("downloaded the weights of epoch 2 from " + url) != std::string::npos, url_out);
  BOOST_TEST(url_out.find("parameters " + (*trained)[1]) != std::string::npos, url_out);
  BOOST_TEST((from_url == from_file));
  auto [from_checkpoints, checkpoints_out] = draw("from-checkpoints", {"--checkpoint", tmp.path() + "/aux/checkpoints"});
  BOOST_TEST((from_checkpoints == from_file));

  auto [unreachable_rc, unreachable] =
    run({ttt_binary(), "generate", "--weights-url", "http://127.0.0.1:1", "--data", data, "--prompt", "x", "--out",
         tmp.path() + "/none.png"},
        tmp.path() + "/unreachable.log");
  BOOST_TEST(unreachable_rc == 1);
  BOOST_TEST(unreachable.find("cannot reach http://127.0.0.1:1/weights/latest.safetensors") != std::string::npos,
             unreachable);

  trainer.kill(SIGTERM);
  BOOST_TEST(trainer.wait().value_or(-1) == 0);
  aux.kill(SIGTERM);
  BOOST_TEST(aux.wait().value_or(-1) == 0, aux.output());
}
