#include "actors/metrics/publisher.hpp"

#include "actors/common/describe.hpp"
#include "actors/common/file_digest.hpp"
#include "actors/common/node_id.hpp"

#include <cstdio>
#include <filesystem>
#include <system_error>

namespace fs = std::filesystem;

namespace ttt::metrics {

namespace {

std::string epoch_name(const char* prefix, uint64_t epoch, const char* extension) {
  char name[64];
  std::snprintf(name, sizeof name, "%s-epoch-%08llu.%s", prefix, static_cast<unsigned long long>(epoch), extension);
  return name;
}

void remove_quietly(const std::string& path) {
  std::error_code ec;
  fs::remove(path, ec);
}

} // namespace

bool samples_due(std::optional<uint64_t> last_samples_epoch, uint64_t epoch, uint64_t every) {
  if (every == 0)
    return false;
  return !last_samples_epoch || epoch >= *last_samples_epoch + every;
}

std::string weights_file(const std::string& dir, uint64_t epoch) {
  return (fs::path(dir) / epoch_name("weights", epoch, "safetensors")).string();
}

std::string samples_file(const std::string& dir, uint64_t epoch) {
  return (fs::path(dir) / epoch_name("samples", epoch, "png")).string();
}

publisher::publisher(publisher_config config) : cfg_(std::move(config)) {
  // Files of an earlier run of this node: the board names none of them.
  std::error_code ec;
  fs::create_directories(cfg_.dir, ec);
  for (const auto& entry : fs::directory_iterator(cfg_.dir, ec))
    if (entry.is_regular_file(ec))
      remove_quietly(entry.path().string());
  thread_ = std::thread([this] { run(); });
}

publisher::~publisher() {
  stop();
}

void publisher::offer(uint64_t epoch, std::string checkpoint_dir) {
  {
    std::lock_guard<std::mutex> guard(mutex_);
    if (stopping_ || epoch <= newest_taken_ || (waiting_ && epoch <= waiting_->epoch))
      return;
    waiting_ = job{epoch, std::move(checkpoint_dir)};
  }
  wake_.notify_one();
}

void publisher::stop() {
  {
    std::lock_guard<std::mutex> guard(mutex_);
    stopping_ = true;
    waiting_.reset();
  }
  wake_.notify_one();
  if (thread_.joinable())
    thread_.join();
}

void publisher::run() {
  for (;;) {
    job next;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || waiting_; });
      if (stopping_)
        return;
      next = std::move(*waiting_);
      waiting_.reset();
      newest_taken_ = next.epoch;
    }
    publish_files(next);
  }
}

void publisher::publish_files(const job& next) {
  bool pictures = !cfg_.prompts.empty() && samples_due(last_samples_epoch_, next.epoch, cfg_.sample_every);
  auto weights = weights_file(cfg_.dir, next.epoch);
  auto samples = pictures ? samples_file(cfg_.dir, next.epoch) : std::string();
  render_request req{next.checkpoint, weights + ".tmp", pictures ? samples + ".tmp" : std::string(), cfg_.prompts};
  auto fail = [&](const std::string& why) {
    cfg_.log("cannot publish epoch " + std::to_string(next.epoch) + ": " + why);
    remove_quietly(req.weights_out);
    if (pictures)
      remove_quietly(req.samples_out);
  };
  auto parameters = cfg_.render(req);
  if (!parameters)
    return fail(describe(parameters.error()));
  auto digest = file_digest(req.weights_out);
  if (!digest)
    return fail(describe(digest.error()));
  std::error_code ec;
  auto bytes = fs::file_size(req.weights_out, ec);
  if (ec)
    return fail("cannot read the size of " + req.weights_out + ": " + ec.message());
  fs::rename(req.weights_out, weights, ec);
  if (ec)
    return fail("cannot rename its weights into " + cfg_.dir + ": " + ec.message());
  if (pictures) {
    fs::rename(req.samples_out, samples, ec);
    if (ec) {
      remove_quietly(weights);
      return fail("cannot rename its pictures into " + cfg_.dir + ": " + ec.message());
    }
  }

  auto previous = current_;
  published_state state = previous.value_or(published_state{});
  state.epoch = next.epoch;
  state.state_digest = *parameters;
  state.weights_path = weights;
  state.weights_digest = to_hex(*digest);
  state.weights_bytes = bytes;
  if (pictures) {
    state.samples_path = samples;
    state.samples_epoch = next.epoch;
    state.prompts = cfg_.prompts;
    last_samples_epoch_ = next.epoch;
  }
  state.time = cfg_.clock();
  cfg_.board->set_published(state);
  current_ = state;
  // A download of an older file already open goes on reading it.
  if (previous) {
    remove_quietly(previous->weights_path);
    if (pictures && !previous->samples_path.empty())
      remove_quietly(previous->samples_path);
  }

  char size[32];
  std::snprintf(size, sizeof size, "%.1f MB", static_cast<double>(state.weights_bytes) / 1e6);
  std::string pictures_note = pictures ? "samples for " + std::to_string(cfg_.prompts.size()) + " prompts"
                              : state.samples_path.empty()
                                ? std::string("no samples")
                                : "samples of epoch " + std::to_string(state.samples_epoch) + " kept";
  cfg_.log("published epoch " + std::to_string(next.epoch) + " (parameters " + state.state_digest + "): weights " +
           state.weights_digest.substr(0, 16) + " (" + size + "), " + pictures_note);
}

} // namespace ttt::metrics
