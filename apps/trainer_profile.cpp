#include "apps/trainer_profile.hpp"

namespace ttt::apps {

const std::set<std::string>& trainer_mode_keys() {
  static const std::set<std::string> keys = {
    "trainer.mode",        "trainer.inner_steps",  "trainer.inner_batch_size",
    "trainer.inner_lr",    "trainer.inner_beta1",  "trainer.inner_beta2",
    "trainer.inner_weight_decay", "trainer.inner_warmup_steps", "trainer.inner_max_grad_norm",
    "trainer.inner_total_steps",
    "trainer.outer_lr",    "trainer.outer_momentum", "trainer.outer_nesterov", "trainer.outer_overlap",
  };
  return keys;
}

bool read_trainer_mode(const profile& prof, trainer_mode_settings& out, std::string& error) {
  auto mode = *prof.text("trainer.mode", "hivemind");
  if (!trainer::parse_trainer_mode(mode, out.mode)) {
    error = prof.origin() + ": [trainer] mode must be hivemind or diloco, not '" + mode + "'";
    return false;
  }
  const trainer::diloco_settings d;
  const model::adamw_settings a;
  auto inner_steps = prof.integer("trainer.inner_steps", static_cast<int64_t>(d.inner_steps), error);
  auto inner_batch = prof.integer("trainer.inner_batch_size", static_cast<int64_t>(d.inner_batch_size), error);
  auto inner_lr = prof.real("trainer.inner_lr", a.learning_rate, error);
  auto beta1 = prof.real("trainer.inner_beta1", a.beta1, error);
  auto beta2 = prof.real("trainer.inner_beta2", a.beta2, error);
  auto weight_decay = prof.real("trainer.inner_weight_decay", a.weight_decay, error);
  auto warmup = prof.integer("trainer.inner_warmup_steps", a.warmup_steps, error);
  auto total = prof.integer("trainer.inner_total_steps", a.total_steps, error);
  auto max_norm = prof.real("trainer.inner_max_grad_norm", a.max_grad_norm, error);
  auto outer_lr = prof.real("trainer.outer_lr", d.outer.learning_rate, error);
  auto momentum = prof.real("trainer.outer_momentum", d.outer.momentum, error);
  auto nesterov = prof.boolean("trainer.outer_nesterov", d.outer.nesterov, error);
  auto overlap = prof.boolean("trainer.outer_overlap", d.overlap, error);
  if (!error.empty())
    return false;
  if (*inner_steps < 1 || *inner_batch < 1 || !(*inner_lr > 0) || !(*beta1 >= 0 && *beta1 < 1) ||
      !(*beta2 >= 0 && *beta2 < 1) || !(*weight_decay >= 0) || *warmup < 0 || *total < 0 || !(*max_norm >= 0) ||
      !(*outer_lr > 0) || !(*momentum >= 0 && *momentum < 1)) {
    error = prof.origin() + ": DiLoCo settings out of range";
    return false;
  }
  out.diloco.inner_steps = static_cast<uint64_t>(*inner_steps);
  out.diloco.inner_batch_size = static_cast<uint64_t>(*inner_batch);
  out.diloco.outer.learning_rate = *outer_lr;
  out.diloco.outer.momentum = *momentum;
  out.diloco.outer.nesterov = *nesterov;
  out.diloco.overlap = *overlap;
  out.inner.learning_rate = *inner_lr;
  out.inner.beta1 = *beta1;
  out.inner.beta2 = *beta2;
  out.inner.weight_decay = *weight_decay;
  out.inner.warmup_steps = *warmup;
  out.inner.total_steps = *total;
  out.inner.max_grad_norm = *max_norm;
  return true;
}

} // namespace ttt::apps
