// Hooks for the Vulkan kernel and memory benchmarks. They need timing entry points from the
// Vulkan backend (engine/vulkan) that do not exist yet; until then every call throws a
// clear "not available in this build" Error. Needed from engine/vulkan (proposed):
//   double vk::bench_matmul(int device, kernels::Type type, int64_t n_in, int64_t n_out,
//                           int64_t n_tokens, int reps);   // seconds per call, GPU-timed
//   double vk::bench_read_bandwidth(int device, uint64_t bytes, int reps);  // bytes/s
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "bench/lib/kernel_bench.h"
#include "bench/lib/memory_bench.h"

namespace petrel::bench {

// True when this build can time kernels and bandwidth on a Vulkan device.
bool vulkan_bench_available();

// Kernel results on Vulkan device `device_index` for the cases in opt; throws Error when
// not available in this build.
std::vector<KernelResult> run_vulkan_kernel_bench(const KernelBenchOptions& opt, int device_index);

// Read bandwidth of Vulkan device `device_index`; throws Error when not available.
std::vector<MemoryResult> run_vulkan_memory_bench(const MemoryBenchOptions& opt, int device_index);

}  // namespace petrel::bench
