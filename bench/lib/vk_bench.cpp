// Vulkan benchmark hooks: placeholders that fail clearly until engine/vulkan exposes timing
// entry points (see vk_bench.h for the functions needed).
#include "bench/lib/vk_bench.h"

namespace petrel::bench {
namespace {

[[noreturn]] void not_available(const std::string& what, int device_index) {
#ifdef PETREL_HAVE_VULKAN
  throw Error(
      what + " on vulkan:" + std::to_string(device_index) +
      " is not available in this build: the Vulkan backend has no benchmark entry points yet "
      "(the model benchmark `petrel bench -m FILE --device vulkan` works)");
#else
  throw Error(what + " on vulkan:" + std::to_string(device_index) +
              " is not available in this build: petrel was built without Vulkan");
#endif
}

}  // namespace

bool vulkan_bench_available() { return false; }

std::vector<KernelResult> run_vulkan_kernel_bench(const KernelBenchOptions&, int device_index) {
  not_available("bench kernels", device_index);
}

std::vector<MemoryResult> run_vulkan_memory_bench(const MemoryBenchOptions&, int device_index) {
  not_available("bench memory", device_index);
}

}  // namespace petrel::bench
