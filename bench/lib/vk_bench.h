// Vulkan kernel and memory benchmarks (GPU-timed through engine/vulkan/vk_bench.h); they
// throw a clear Error in a build without Vulkan.
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
