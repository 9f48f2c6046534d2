#pragma once

#include <string>
#include <vector>

namespace ttt::bench {

/// `ttt bench swarm [--trainers 1,2,4] [--mode hivemind|diloco|both]`: a
/// local swarm of trainer processes on loopback training dalle-tiny; prints
/// one result line per (mode, trainers) with the swarm's samples/s and each
/// trainer's compute utilization, the 1-trainer run beside it.
int run_swarm_benchmark(const std::vector<std::string>& args);

} // namespace ttt::bench
