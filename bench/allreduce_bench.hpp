#pragma once

#include <string>
#include <vector>

namespace ttt::bench {

/// `ttt bench allreduce --peers 4 --floats N --codec C`: ttt's butterfly
/// all-reduce over real processes on loopback, beside Gloo's ring all-reduce
/// on the same data in the same run; prints one result line.
int run_allreduce_benchmark(const std::vector<std::string>& args);

} // namespace ttt::bench
