// Vulkan kernel and memory benchmarks: GPU-timed (timestamp queries) through the backend's
// benchmark entry points in engine/vulkan/vk_bench.h. Each figure is the median of the
// repeats the backend runs on the device.
#include "bench/lib/vk_bench.h"

#ifdef PETREL_HAVE_VULKAN
#include "engine/vulkan/vk_bench.h"
#endif

namespace petrel::bench {

#ifdef PETREL_HAVE_VULKAN

bool vulkan_bench_available() { return true; }

std::vector<KernelResult> run_vulkan_kernel_bench(const KernelBenchOptions& opt, int device_index) {
  const auto types = opt.types.empty() ? all_kernel_types() : opt.types;
  std::vector<KernelResult> out;
  const std::string device = "vulkan:" + std::to_string(device_index);
  for (kernels::Type type : types) {
    for (int op = 0; op < 2; ++op) {
      if ((op == 0 && !opt.matvec) || (op == 1 && !opt.matmul)) continue;
      KernelResult r;
      r.type = kernels::type_traits(type)->name;
      r.device = device;
      r.op = op == 0 ? "matvec" : "matmul";
      r.n_in = opt.n_in;
      r.n_out = opt.n_out;
      r.n_tokens = op == 0 ? 1 : opt.batch;
      r.weight_bytes = vk::gpu_weight_bytes(type, opt.n_in, opt.n_out);
      r.copies = op == 0 ? 4 : 1;
      if (opt.progress) opt.progress(device + " " + r.type + " " + r.op);
      // One GPU-timed median per repeat (each over 10 timed calls) so the spread shows.
      for (int i = 0; i < std::max(1, opt.repeats); ++i)
        r.seconds.push_back(vk::bench_matmul(device_index, type, opt.n_in, opt.n_out, r.n_tokens, 10));
      out.push_back(std::move(r));
    }
  }
  return out;
}

std::vector<MemoryResult> run_vulkan_memory_bench(const MemoryBenchOptions& opt, int device_index) {
  MemoryResult r;
  r.device = "vulkan:" + std::to_string(device_index);
  r.test = "read";
  r.bytes = opt.bytes;
  std::vector<double> gbps;
  if (opt.progress) opt.progress(r.device + " read bandwidth");
  for (int i = 0; i < std::max(1, opt.repeats); ++i)
    gbps.push_back(vk::bench_read_bandwidth(device_index, opt.bytes, 10) / 1e9);
  r.gbps = summarize(gbps);
  return {r};
}

#else

namespace {
[[noreturn]] void not_built(const std::string& what, int device_index) {
  throw Error(what + " on vulkan:" + std::to_string(device_index) +
              " is not available: petrel was built without Vulkan");
}
}  // namespace

bool vulkan_bench_available() { return false; }

std::vector<KernelResult> run_vulkan_kernel_bench(const KernelBenchOptions&, int device_index) {
  not_built("bench kernels", device_index);
}

std::vector<MemoryResult> run_vulkan_memory_bench(const MemoryBenchOptions&, int device_index) {
  not_built("bench memory", device_index);
}

#endif

}  // namespace petrel::bench
