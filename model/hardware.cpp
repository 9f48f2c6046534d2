#include "model/hardware.hpp"

#include "model/device.hpp"

#include <fstream>
#include <sstream>

// A GPU's total memory needs CUDA's headers (as in device.cpp).
#if defined(TTT_WITH_CUDA) && __has_include(<cusparse.h>)
#define TTT_CUDA_TOOLKIT_HEADERS 1
#include <ATen/cuda/CUDAContext.h>
#endif

namespace ttt::model {

namespace {

/// MemAvailable of /proc/meminfo in bytes; 0 where there is none.
int64_t available_host_memory() {
  std::ifstream in("/proc/meminfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string key;
    int64_t kib = 0;
    if (fields >> key >> kib && key == "MemAvailable:")
      return kib * 1024;
  }
  return 0;
}

/// A GPU's total memory in bytes; 0 where CUDA's headers are missing.
int64_t gpu_memory(const torch::Device& device) {
#ifdef TTT_CUDA_TOOLKIT_HEADERS
  return static_cast<int64_t>(at::cuda::getDeviceProperties(device.index())->totalGlobalMem);
#else
  (void)device;
  return 0;
#endif
}

} // namespace

result<device_probe> probe_device(const std::string& spec) {
  auto device = select_device(spec);
  if (!device)
    return failure{device.error()};
  device_probe p;
  p.description = describe_device(*device);
  p.gpu = device->is_cuda();
  p.memory_bytes = p.gpu ? gpu_memory(*device) : available_host_memory();
  return p;
}

} // namespace ttt::model
