// CPU memory bandwidth, STREAM-like: a multi-threaded read (sum of a float buffer) and copy
// (one half into the other). The figure quoted is the median over repeats.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "bench/lib/stats.h"
#include "bench/lib/table.h"

namespace petrel::bench {

// Progress messages for the caller to print (the library never prints).
using ProgressFn = std::function<void(const std::string&)>;

struct MemoryBenchOptions {
  uint64_t bytes = 1ull << 30;  // buffer size (the read test sums all of it)
  int n_threads = 0;            // 0: OpenMP's default (all cores)
  int repeats = 5;
  bool read = true, copy = true;
  ProgressFn progress;
};

struct MemoryResult {
  std::string device = "cpu";
  std::string test;    // "read" or "copy"
  uint64_t bytes = 0;  // bytes moved per pass (copy: read half + written half)
  int threads = 0;
  Summary gbps;  // 1e9 bytes/s per repeat
};

// Runs the read and/or copy tests; throws Error if the buffer cannot be allocated.
std::vector<MemoryResult> run_memory_bench(const MemoryBenchOptions& opt);

// Median read bandwidth in GB/s from a shorter run (for "% of bandwidth" columns).
double measure_read_bandwidth(uint64_t bytes, int n_threads, int repeats,
                              const ProgressFn& progress);

// Columns: device, test, size, threads, GB/s (median ± sd), min, max, repeats.
Table memory_table(const std::vector<MemoryResult>& results);

// OpenMP thread count that n_threads = 0 resolves to.
int resolve_threads(int n_threads);

}  // namespace petrel::bench
