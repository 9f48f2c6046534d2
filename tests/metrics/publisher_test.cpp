// The aux peer's publisher with a stand-in for the model: which checkpoints
// it publishes (the newest, never two at once), when it draws pictures, what
// the board and its files say; the dashboard's /weights and /samples routes
// on real loopback TCP, and fetch_published_weights against them.
#define BOOST_TEST_MODULE publisher
#include <boost/test/unit_test.hpp>

#include "actors/common/describe.hpp"
#include "actors/metrics/dashboard.hpp"
#include "actors/metrics/published_client.hpp"
#include "actors/metrics/publisher.hpp"
#include "tests/common/blake2b.hpp"

#include <httplib.h>
#include <sodium.h>

#include <caf/sec.hpp>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

using namespace ttt;
using ttt::test::hex_blake2b;
using namespace ttt::metrics;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// What the stand-in model writes for a checkpoint directory named "ckpt-N".
std::string weights_bytes_of(const std::string& checkpoint) {
  return "weights of " + checkpoint + std::string(100000, 'w');
}

/// Why `x` failed; empty when it did not.
template <class T>
std::string why(const caf::expected<T>& x) {
  return x ? std::string() : describe(x.error());
}

/// The parameters' digest the stand-in model reports for "ckpt-N": N in 16 hex digits.
std::string digest_of(const std::string& checkpoint) {
  auto n = checkpoint.substr(5);
  return std::string(16 - n.size(), '0') + n;
}

/// A publisher over a fresh folder with a stand-in model that records the
/// checkpoints it was asked for and can be held before it writes.
struct fixture {
  std::string dir;
  std::shared_ptr<dashboard_board> board = std::make_shared<dashboard_board>();
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<render_request> requests;
  std::vector<std::string> logged;
  bool hold = false;
  bool fail = false;

  fixture() {
    char tmpl[] = "/tmp/ttt-publisher-XXXXXX";
    BOOST_REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir = std::string(tmpl) + "/published";
  }
  ~fixture() {
    std::error_code ec;
    fs::remove_all(fs::path(dir).parent_path(), ec);
  }

  publisher_config config(uint64_t sample_every = 1) {
    publisher_config c;
    c.dir = dir;
    c.sample_every = sample_every;
    c.prompts = {"big red circle top left", "small blue square bottom right"};
    c.board = board;
    c.clock = [] { return 1234.5; };
    c.log = [this](const std::string& line) {
      std::lock_guard<std::mutex> guard(mutex);
      logged.push_back(line);
    };
    c.render = [this](const render_request& req) -> caf::expected<std::string> {
      std::unique_lock<std::mutex> lock(mutex);
      requests.push_back(req);
      changed.notify_all();
      changed.wait(lock, [this] { return !hold; });
      if (fail)
        return caf::make_error(caf::sec::runtime_error, std::string("the model says no"));
      std::ofstream(req.weights_out, std::ios::binary) << weights_bytes_of(req.checkpoint);
      if (!req.samples_out.empty())
        std::ofstream(req.samples_out, std::ios::binary) << "\x89PNG pictures of " << req.checkpoint;
      return digest_of(req.checkpoint);
    };
    return c;
  }

  void set_hold(bool on) {
    std::lock_guard<std::mutex> guard(mutex);
    hold = on;
    changed.notify_all();
  }

  /// Waits (bounded) until `count` checkpoints were asked for.
  bool wait_requests(size_t count) {
    std::unique_lock<std::mutex> lock(mutex);
    return changed.wait_for(lock, 10s, [&] { return requests.size() >= count; });
  }

  /// Waits (bounded) until the board shows `epoch`.
  std::optional<published_state> wait_published(uint64_t epoch) {
    for (auto deadline = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < deadline;
         std::this_thread::sleep_for(5ms)) {
      auto published = board->view().published;
      if (published && published->epoch >= epoch)
        return published;
    }
    return std::nullopt;
  }

  std::vector<std::string> files() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir))
      names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
};

} // namespace

BOOST_AUTO_TEST_CASE(pictures_are_due_every_sample_every_epochs_counted_from_the_last_drawn) {
  BOOST_TEST(samples_due(std::nullopt, 7, 3));
  BOOST_TEST(!samples_due(7, 9, 3));
  BOOST_TEST(samples_due(7, 10, 3));
  BOOST_TEST(samples_due(7, 15, 3)); // skipped epochs do not delay them
  BOOST_TEST(samples_due(7, 8, 1));
  BOOST_TEST(!samples_due(std::nullopt, 7, 0));
  BOOST_TEST(!samples_due(7, 100, 0));
}

BOOST_AUTO_TEST_CASE(each_newer_checkpoint_is_published_with_its_digests_and_the_older_files_go) {
  fixture f;
  fs::create_directories(f.dir);
  std::ofstream(f.dir + "/weights-epoch-00000009.safetensors") << "left by an earlier run";
  publisher p(f.config());
  BOOST_TEST(f.files().empty()); // an earlier run's files are not the board's

  p.offer(1, "ckpt-1");
  auto first = f.wait_published(1);
  BOOST_REQUIRE(first);
  auto bytes = weights_bytes_of("ckpt-1");
  BOOST_TEST(first->epoch == 1u);
  BOOST_TEST(first->state_digest == digest_of("ckpt-1"));
  BOOST_TEST(first->weights_path == weights_file(f.dir, 1));
  BOOST_TEST(first->weights_digest == hex_blake2b(bytes));
  BOOST_TEST(first->weights_bytes == bytes.size());
  BOOST_TEST(read_file(first->weights_path) == bytes);
  BOOST_TEST(first->samples_path == samples_file(f.dir, 1));
  BOOST_TEST(first->samples_epoch == 1u);
  BOOST_TEST(first->prompts.size() == 2u);
  BOOST_TEST(first->time == 1234.5);
  {
    // Written under temporary names, in the publisher's folder.
    std::lock_guard<std::mutex> guard(f.mutex);
    BOOST_TEST(f.requests[0].weights_out == weights_file(f.dir, 1) + ".tmp");
    BOOST_TEST(f.requests[0].samples_out == samples_file(f.dir, 1) + ".tmp");
    BOOST_TEST(f.requests[0].checkpoint == "ckpt-1");
  }

  p.offer(1, "ckpt-1"); // not newer: ignored
  p.offer(2, "ckpt-2");
  auto second = f.wait_published(2);
  BOOST_REQUIRE(second);
  BOOST_TEST(second->weights_digest == hex_blake2b(weights_bytes_of("ckpt-2")));
  BOOST_TEST((f.files() == std::vector<std::string>{"samples-epoch-00000002.png",
                                                    "weights-epoch-00000002.safetensors"}));
  p.stop();
  std::lock_guard<std::mutex> guard(f.mutex);
  BOOST_TEST(f.requests.size() == 2u);
  BOOST_TEST(f.logged.back().find("published epoch 2 (parameters 0000000000000002): weights " +
                                  second->weights_digest.substr(0, 16) + " (0.1 MB), samples for 2 prompts") !=
               std::string::npos,
             f.logged.back());
}

BOOST_AUTO_TEST_CASE(a_slow_publisher_skips_to_the_newest_checkpoint) {
  fixture f;
  publisher p(f.config());
  f.set_hold(true);
  p.offer(1, "ckpt-1");
  BOOST_REQUIRE(f.wait_requests(1));
  // While epoch 1 is under way, three newer ones arrive; only the newest waits.
  p.offer(2, "ckpt-2");
  p.offer(4, "ckpt-4");
  p.offer(3, "ckpt-3");
  f.set_hold(false);
  BOOST_REQUIRE(f.wait_published(4));
  p.stop();
  std::lock_guard<std::mutex> guard(f.mutex);
  BOOST_REQUIRE(f.requests.size() == 2u);
  BOOST_TEST(f.requests[1].checkpoint == "ckpt-4");
}

BOOST_AUTO_TEST_CASE(pictures_come_every_sample_every_epochs_and_the_last_ones_stay_meanwhile) {
  fixture f;
  publisher p(f.config(2));
  p.offer(1, "ckpt-1");
  BOOST_REQUIRE(f.wait_published(1));
  p.offer(2, "ckpt-2");
  auto second = f.wait_published(2);
  BOOST_REQUIRE(second);
  BOOST_TEST(second->samples_epoch == 1u); // the pictures of epoch 1 still
  BOOST_TEST(second->samples_path == samples_file(f.dir, 1));
  BOOST_TEST(fs::exists(second->samples_path));
  p.offer(3, "ckpt-3");
  auto third = f.wait_published(3);
  BOOST_REQUIRE(third);
  BOOST_TEST(third->samples_epoch == 3u);
  BOOST_TEST(!fs::exists(samples_file(f.dir, 1)));
  p.stop();
  std::lock_guard<std::mutex> guard(f.mutex);
  BOOST_TEST(f.requests[1].samples_out.empty());
  BOOST_TEST(f.logged.back().find("samples for 2 prompts") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_failed_publication_changes_nothing_and_leaves_no_file) {
  fixture f;
  f.fail = true;
  publisher p(f.config());
  p.offer(1, "ckpt-1");
  BOOST_REQUIRE(f.wait_requests(1));
  p.stop(); // lets the publication under way finish
  BOOST_TEST(!f.board->view().published);
  BOOST_TEST(f.files().empty());
  std::lock_guard<std::mutex> guard(f.mutex);
  BOOST_TEST(f.logged.back() == "cannot publish epoch 1: the model says no");
}

BOOST_AUTO_TEST_CASE(the_dashboard_streams_the_published_files_with_their_digests_and_404_before) {
  fixture f;
  dashboard_server server;
  auto err = server.start("127.0.0.1", 0, f.board);
  BOOST_REQUIRE_MESSAGE(err.empty(), err);
  httplib::Client client("127.0.0.1", server.port());
  auto none = client.Get("/weights/latest.safetensors");
  BOOST_REQUIRE(none);
  BOOST_TEST(none->status == 404);
  BOOST_TEST(none->body.find("no weights published yet") == 0u, none->body);
  auto no_pictures = client.Get("/samples/latest.png");
  BOOST_REQUIRE(no_pictures);
  BOOST_TEST(no_pictures->status == 404);
  BOOST_TEST(no_pictures->body.find("no sample pictures published yet") == 0u, no_pictures->body);
  std::string base = "http://127.0.0.1:" + std::to_string(server.port());
  auto early = fetch_published_weights(base, f.dir + "-early");
  BOOST_REQUIRE(!early);
  BOOST_TEST(describe(early.error()).find("answered 404: no weights published yet") != std::string::npos,
             describe(early.error()));

  publisher p(f.config());
  p.offer(5, "ckpt-5");
  auto published = f.wait_published(5);
  BOOST_REQUIRE(published);
  auto weights = client.Get("/weights/latest.safetensors");
  BOOST_REQUIRE(weights);
  BOOST_TEST(weights->status == 200);
  BOOST_TEST(weights->body == weights_bytes_of("ckpt-5"));
  BOOST_TEST(weights->get_header_value("Content-Length") == std::to_string(weights->body.size()));
  BOOST_TEST(weights->get_header_value("X-TTT-Epoch") == "5");
  BOOST_TEST(weights->get_header_value("X-TTT-State-Digest") == digest_of("ckpt-5"));
  BOOST_TEST(weights->get_header_value("X-TTT-Weights-Digest") == hex_blake2b(weights->body));
  auto pictures = client.Get("/samples/latest.png");
  BOOST_REQUIRE(pictures);
  BOOST_TEST(pictures->status == 200);
  BOOST_TEST(pictures->get_header_value("Content-Type") == "image/png");
  BOOST_TEST(pictures->body == "\x89PNG pictures of ckpt-5");

  // The client: the same file, checked; refused when too large, tampered
  // with, or nobody answers.
  auto fetched = fetch_published_weights(base + "/", f.dir + "-fetched");
  BOOST_REQUIRE_MESSAGE(fetched, why(fetched));
  BOOST_TEST(fetched->epoch == 5u);
  BOOST_TEST(fetched->state_digest == digest_of("ckpt-5"));
  BOOST_TEST(fetched->weights_bytes == published->weights_bytes);
  BOOST_TEST(read_file(f.dir + "-fetched") == weights_bytes_of("ckpt-5"));
  auto small = fetch_published_weights(base, f.dir + "-small", 1000);
  BOOST_REQUIRE(!small);
  BOOST_TEST(describe(small.error()).find("more than the 1000 a download takes") != std::string::npos,
             describe(small.error()));
  {
    std::fstream file(published->weights_path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(10);
    file.write("X", 1);
  }
  auto tampered = fetch_published_weights(base, f.dir + "-tampered");
  BOOST_REQUIRE(!tampered);
  BOOST_TEST(describe(tampered.error()).find("digest mismatch") == 0u, describe(tampered.error()));
  BOOST_TEST(!fetch_published_weights("ftp://127.0.0.1:1", f.dir + "-bad"));
  BOOST_TEST(!fetch_published_weights(base + "/weights", f.dir + "-bad"));
  p.stop();
  server.stop();
  auto gone = fetch_published_weights(base, f.dir + "-gone");
  BOOST_REQUIRE(!gone);
  BOOST_TEST(describe(gone.error()).find("cannot reach " + base + "/weights/latest.safetensors") == 0u,
             describe(gone.error()));
}
