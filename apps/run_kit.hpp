#pragma once
// The run's kit, as an aux peer serves it to `ttt join` (GET /run,
// /run/model.ini, /run/run.manifest): the operator's trainer profile ([join]
// profile of the aux's profile) rewritten to stand alone beside its model
// config and manifest, with the aux itself among its initial peers.

#include <caf/expected.hpp>

#include <string>

namespace ttt::apps {

struct run_kit {
  std::string profile;      ///< a trainer profile: config = model.ini, manifest = run.manifest
  std::string model_config; ///< the model config file's bytes
  std::string manifest;     ///< the signed manifest's bytes; empty for a run without one
};

/// Reads the trainer profile at `path` (a relative path in it is its
/// folder's), its model config and its manifest, and rewrites the profile:
/// [trainer] config and [run] manifest name the kit's files, and `entry`
/// (PEERID@HOST:PORT; empty: none) joins [node] initial_peers. Refuses a
/// profile that is not a trainer's or names no run.
caf::expected<run_kit> make_run_kit(const std::string& path, const std::string& entry);

} // namespace ttt::apps
