#pragma once
// What a volunteer's machine offers the trainer (torch-free): the device a
// setting resolves to, in words, and the memory there is to train in.

#include "model/result.hpp"

#include <cstdint>
#include <string>

namespace ttt::model {

struct device_probe {
  std::string description; ///< e.g. "cpu" or "cuda:0 (NVIDIA H100 80GB HBM3)"
  bool gpu = false;
  /// Memory the trainer may use there: a GPU's total memory, or the CPU's
  /// available memory (MemAvailable); 0 when unknown.
  int64_t memory_bytes = 0;
};

/// Resolves `spec` (auto, cpu, cuda, cuda:N) as the trainer would and measures it.
result<device_probe> probe_device(const std::string& spec);

} // namespace ttt::model
