#pragma once
// The aux peer's publisher: each checkpoint of a newer epoch becomes the
// weights (and, every `sample_every` epochs, the sample pictures) its
// dashboard serves. Exporting and drawing are the model's work and block for
// seconds to minutes, so they run on a thread of the publisher's own, one
// checkpoint at a time; a checkpoint that arrives meanwhile waits in a slot
// of one, a newer one replacing it, so a slow publisher skips to the newest
// instead of falling behind.
//
// Files are written under temporary names and renamed, and each epoch's
// file has a name of its own (weights-epoch-NNNNNNNN.safetensors,
// samples-epoch-NNNNNNNN.png): a download never sees half a file, and the
// server, which opens the file the board names, never sends one epoch's
// bytes under another's digest. The older files go once the board names
// the new ones.

#include "actors/metrics/dashboard.hpp"
#include "actors/metrics/published.hpp"

#include <caf/expected.hpp>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace ttt::metrics {

/// What the model makes of one checkpoint.
struct render_request {
  std::string checkpoint;  ///< the checkpoint directory
  std::string weights_out; ///< where to write its weights (safetensors, dalle-pytorch names)
  std::string samples_out; ///< where to write the PNG grid, a row per prompt; empty: no pictures this time
  std::vector<std::string> prompts;
};

/// The model's part (model::publish_checkpoint): writes the files and
/// returns the digest of the parameters as the trainers log it.
using renderer = std::function<caf::expected<std::string>(const render_request&)>;

struct publisher_config {
  std::string dir;               ///< <data_dir>/published: the publisher's own, emptied at start
  uint64_t sample_every = 1;     ///< epochs between pictures (0: none)
  std::vector<std::string> prompts;
  renderer render;
  std::shared_ptr<dashboard_board> board;
  std::function<double()> clock; ///< unix seconds
  std::function<void(const std::string&)> log;
};

/// Whether the weights of `epoch` come with pictures: when none were drawn
/// yet, or `every` epochs have passed since the last (0: never). Epochs a
/// slow publisher skipped do not delay them.
bool samples_due(std::optional<uint64_t> last_samples_epoch, uint64_t epoch, uint64_t every);

/// The publisher's files for `epoch` under `dir`.
std::string weights_file(const std::string& dir, uint64_t epoch);
std::string samples_file(const std::string& dir, uint64_t epoch);

class publisher {
public:
  /// Creates (and empties) config.dir and starts the thread.
  explicit publisher(publisher_config config);
  ~publisher();
  publisher(const publisher&) = delete;
  publisher& operator=(const publisher&) = delete;

  /// A checkpoint of `epoch` (epochs completed) is in `checkpoint_dir`: it is
  /// published next unless a newer one is published, under way or waiting.
  /// Never waits for a publication.
  void offer(uint64_t epoch, std::string checkpoint_dir);

  /// Lets the publication under way finish, drops a waiting one, and ends
  /// the thread; later offers are ignored.
  void stop();

private:
  struct job {
    uint64_t epoch = 0;
    std::string checkpoint;
  };

  void run();
  void publish_files(const job& next);

  const publisher_config cfg_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::optional<job> waiting_;  ///< guarded by mutex_
  uint64_t newest_taken_ = 0;   ///< guarded by mutex_: the newest epoch published or under way
  bool stopping_ = false;       ///< guarded by mutex_
  // The thread's own:
  std::optional<published_state> current_;
  std::optional<uint64_t> last_samples_epoch_;
  std::thread thread_;
};

} // namespace ttt::metrics
