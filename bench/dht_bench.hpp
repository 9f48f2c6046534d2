#pragma once

#include <string>
#include <vector>

namespace ttt::bench {

/// `ttt bench dht`: N DHT peers spread over P processes on loopback; stores
/// then gets M keys; prints success rates and mean/p99 latencies.
int run_dht_benchmark(const std::vector<std::string>& args);

} // namespace ttt::bench
