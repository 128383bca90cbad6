// STREAM-like CPU bandwidth: plain loops the compiler vectorizes (cloned per ISA with
// target_clones), split among OpenMP threads with a static schedule so each thread reads
// the pages it first touched.
#include "bench/lib/memory_bench.h"

#include <omp.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "bench/lib/units.h"

namespace petrel::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<float[], FreeDeleter>;

Buffer alloc_floats(size_t n) {
  const size_t bytes = (n * sizeof(float) + 4095) / 4096 * 4096;
  void* p = std::aligned_alloc(4096, bytes);
  if (p == nullptr)
    throw Error("bench memory: cannot allocate " + format_size(bytes) +
                " for the bandwidth buffer");
  return Buffer(static_cast<float*>(p));
}

// Sum of n floats with 8 independent accumulators per lane so the loads, not the adds,
// set the pace.
__attribute__((target_clones("avx512f", "avx2", "default"))) float sum_chunk(const float* p,
                                                                             size_t n) {
  float acc[32] = {};
  size_t i = 0;
  for (; i + 32 <= n; i += 32)
    for (int k = 0; k < 32; ++k) acc[k] += p[i + k];
  float s = 0;
  for (; i < n; ++i) s += p[i];
  for (float a : acc) s += a;
  return s;
}

__attribute__((target_clones("avx512f", "avx2", "default"))) void copy_chunk(
    float* __restrict dst, const float* __restrict src, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = src[i];
}

// Seconds for one multi-threaded pass of the read test; the sum goes to `sink`.
double time_read(const float* buf, size_t n, int threads, volatile float& sink) {
  const auto t0 = Clock::now();
  float total = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
  {
    const size_t nt = static_cast<size_t>(omp_get_num_threads());
    const size_t id = static_cast<size_t>(omp_get_thread_num());
    const size_t begin = n * id / nt, end = n * (id + 1) / nt;
    total += sum_chunk(buf + begin, end - begin);
  }
  const auto t1 = Clock::now();
  sink = total;
  return std::chrono::duration<double>(t1 - t0).count();
}

double time_copy(float* dst, const float* src, size_t n, int threads) {
  const auto t0 = Clock::now();
#pragma omp parallel num_threads(threads)
  {
    const size_t nt = static_cast<size_t>(omp_get_num_threads());
    const size_t id = static_cast<size_t>(omp_get_thread_num());
    const size_t begin = n * id / nt, end = n * (id + 1) / nt;
    copy_chunk(dst + begin, src + begin, end - begin);
  }
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Fills the buffer with the same thread split the tests use (first touch places pages).
void first_touch(float* buf, size_t n, int threads) {
#pragma omp parallel num_threads(threads)
  {
    const size_t nt = static_cast<size_t>(omp_get_num_threads());
    const size_t id = static_cast<size_t>(omp_get_thread_num());
    const size_t begin = n * id / nt, end = n * (id + 1) / nt;
    for (size_t i = begin; i < end; ++i) buf[i] = static_cast<float>(i & 1023) * 1e-3f;
  }
}

}  // namespace

int resolve_threads(int n_threads) { return n_threads > 0 ? n_threads : omp_get_max_threads(); }

std::vector<MemoryResult> run_memory_bench(const MemoryBenchOptions& opt) {
  if (opt.bytes < (1u << 20))
    throw Error("bench memory: buffer of " + format_size(opt.bytes) + " is too small (min 1 MiB)");
  if (opt.repeats < 1)
    throw Error("bench memory: repeats must be >= 1, got " + std::to_string(opt.repeats));
  const int threads = resolve_threads(opt.n_threads);
  const size_t n = opt.bytes / sizeof(float) / 64 * 64;
  if (opt.progress)
    opt.progress("memory: allocating " + format_size(n * sizeof(float)) + ", " +
                 std::to_string(threads) + " threads");
  Buffer buf = alloc_floats(n);
  first_touch(buf.get(), n, threads);
  volatile float sink = 0;
  std::vector<MemoryResult> out;
  if (opt.read) {
    time_read(buf.get(), n, threads, sink);  // warm-up
    std::vector<double> gbps;
    for (int r = 0; r < opt.repeats; ++r) {
      if (opt.progress) opt.progress(strf("memory: read, repeat %d/%d", r + 1, opt.repeats));
      const double s = time_read(buf.get(), n, threads, sink);
      gbps.push_back(static_cast<double>(n * sizeof(float)) / s / 1e9);
    }
    out.push_back({"cpu", "read", n * sizeof(float), threads, summarize(gbps)});
  }
  if (opt.copy) {
    const size_t half = n / 2;
    time_copy(buf.get() + half, buf.get(), half, threads);  // warm-up
    std::vector<double> gbps;
    for (int r = 0; r < opt.repeats; ++r) {
      if (opt.progress) opt.progress(strf("memory: copy, repeat %d/%d", r + 1, opt.repeats));
      const double s = time_copy(buf.get() + half, buf.get(), half, threads);
      gbps.push_back(static_cast<double>(2 * half * sizeof(float)) / s / 1e9);
    }
    out.push_back({"cpu", "copy", 2 * half * sizeof(float), threads, summarize(gbps)});
  }
  return out;
}

double measure_read_bandwidth(uint64_t bytes, int n_threads, int repeats,
                              const ProgressFn& progress) {
  MemoryBenchOptions o;
  o.bytes = bytes;
  o.n_threads = n_threads;
  o.repeats = repeats;
  o.copy = false;
  o.progress = progress;
  return run_memory_bench(o).at(0).gbps.median;
}

Table memory_table(const std::vector<MemoryResult>& results) {
  Table t;
  t.columns = {{"device", "device"},
               {"test", "test"},
               {"bytes", "size", Align::kRight},
               {"threads", "threads", Align::kRight},
               {"gbps", "GB/s", Align::kRight, Shown::kHuman},
               {"gbps_median", "median", Align::kRight, Shown::kMachine},
               {"gbps_mean", "mean", Align::kRight, Shown::kMachine},
               {"gbps_sd", "sd", Align::kRight, Shown::kMachine},
               {"gbps_min", "min", Align::kRight},
               {"gbps_max", "max", Align::kRight},
               {"repeats", "repeats", Align::kRight}};
  for (const auto& r : results) {
    t.add_row({r.device, r.test, Cell(format_size(r.bytes), r.bytes), Cell::integer(r.threads),
               format_pm(r.gbps.median, r.gbps.sd), Cell::num(r.gbps.median, 2),
               Cell::num(r.gbps.mean, 2), Cell::num(r.gbps.sd, 2), Cell::num(r.gbps.min, 2),
               Cell::num(r.gbps.max, 2), Cell::integer(r.gbps.n)});
  }
  return t;
}

}  // namespace petrel::bench
