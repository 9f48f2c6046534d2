#pragma once
// What a node that holds the run's state (an aux peer: checkpointer and
// monitor roles) publishes on its dashboard: the latest sample pictures and
// the latest weights, each of one epoch of the swarm's state, and the run's
// kit for volunteers who join. The publisher
// writes the files and sets this on the dashboard board; the HTTP server
// serves them and the page shows them.

#include <cstdint>
#include <string>
#include <vector>

namespace ttt::metrics {

struct published_state {
  uint64_t epoch = 0;            ///< the swarm epoch of the state these came from
  std::string state_digest;      ///< hex: the parameter digest trainers log for that epoch
  std::string weights_path;      ///< safetensors with dalle-pytorch names (ttt export); empty: none yet
  std::string weights_digest;    ///< hex BLAKE2b-256 of that file
  uint64_t weights_bytes = 0;
  std::string samples_path;      ///< PNG grid, a row per prompt; empty: none yet
  uint64_t samples_epoch = 0;    ///< the epoch the pictures were drawn at (every sample_every epochs)
  std::vector<std::string> prompts; ///< the grid's rows, top to bottom
  double time = 0;               ///< unix seconds of the latest publication
};

/// The run's kit an aux peer hands `ttt join` (GET /run, /run/model.ini,
/// /run/run.manifest; apps/run_kit.hpp makes it).
struct run_kit_files {
  std::string profile;      ///< a trainer profile naming model.ini (and run.manifest)
  std::string model_config; ///< the model config's bytes
  std::string manifest;     ///< the signed manifest's bytes; empty: the run has none
};

} // namespace ttt::metrics
