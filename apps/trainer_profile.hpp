#pragma once
// The trainer role's mode and DiLoCo settings as a profile's [trainer]
// section gives them (configs/trainer.ini documents each key).

#include "actors/trainer/diloco.hpp"
#include "apps/profile.hpp"
#include "model/adamw_settings.hpp"

#include <set>
#include <string>

namespace ttt::apps {

struct trainer_mode_settings {
  trainer::trainer_mode mode = trainer::trainer_mode::hivemind;
  trainer::diloco_settings diloco;
  model::adamw_settings inner; ///< DiLoCo's inner AdamW
};

/// The [trainer] keys read here, "trainer.mode", "trainer.inner_steps", ...
const std::set<std::string>& trainer_mode_keys();

/// Reads the mode (default hivemind) and the DiLoCo settings (defaults for
/// dalle-tiny); false with `error` set on a malformed or out-of-range value.
bool read_trainer_mode(const profile& prof, trainer_mode_settings& out, std::string& error);

} // namespace ttt::apps
