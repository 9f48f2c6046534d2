#pragma once
// The deterministic inputs of the averaging tests and `ttt bench allreduce`:
// every process computes its own vector from (seed, member, index), so that
// drivers can check results without shipping data around.

#include <cstddef>
#include <cstdint>

namespace ttt::bench {

/// Member `member`'s value at element `k`: a quarter integer in [-64, 64],
/// so that weighted means with integer weights are exact in double.
inline float allreduce_input(uint64_t seed, size_t member, uint64_t k) {
  uint64_t z = seed * 0x9e3779b97f4a7c15ull + member * 0xbf58476d1ce4e5b9ull + k;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return static_cast<float>(static_cast<int>(z % 513) - 256) / 4.0f;
}

/// The weight of member `member` in tests and benchmarks.
inline double allreduce_weight(size_t member) {
  return static_cast<double>(1 + member);
}

} // namespace ttt::bench
