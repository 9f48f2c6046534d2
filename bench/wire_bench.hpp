#pragma once

#include <string>
#include <vector>

namespace ttt::bench {

/// `ttt bench wire`: handshakes per second and the memory of many idle
/// authenticated connections to one peer, beside plain TCP connects.
int run_wire_benchmark(const std::vector<std::string>& args);

} // namespace ttt::bench
