// Kernel throughput per block type: kernels::matmul on random weights of each type, as a
// matrix-vector product (decode, N = 1) and a matrix-matrix product (prompt, N = batch).
// Shape "AxB" means rows of A elements (n_in) producing B outputs (n_out): 4096x14336 is
// the ffn_up of an 8B llama. The matvec rotates among copies of the weights so that the
// working set exceeds the last-level cache and GB/s counts DRAM reads honestly.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "bench/lib/memory_bench.h"
#include "bench/lib/svg.h"
#include "kernels/isa.h"
#include "kernels/types.h"

namespace petrel::bench {

struct KernelBenchOptions {
  std::vector<kernels::Type> types;  // empty: all_kernel_types()
  std::vector<kernels::Isa> isas;    // empty: the active ISA only
  int64_t n_in = 4096, n_out = 14336;
  int batch = 512;  // N of the matrix-matrix test
  bool matvec = true, matmul = true;
  int n_threads = 0;  // 0: all cores
  int repeats = 5;
  double min_time_s = 0.2;         // each repeat runs calls until at least this long
  double max_case_s = 20;          // fewer repeats when one call is slow (scalar GEMM)
  uint64_t working_set_bytes = 0;  // matvec rotation target; 0: auto (see default_working_set)
  uint64_t seed = 42;
  ProgressFn progress;
};

struct KernelResult {
  std::string type;    // "Q4_K"
  std::string device;  // "cpu" or "vulkan:N"
  std::string isa;     // "avx512", "avx2", "scalar" ("" on Vulkan)
  std::string op;      // "matvec" or "matmul"
  int64_t n_in = 0, n_out = 0, n_tokens = 0;
  bool is_reference = false;  // the ISA table fell back to the scalar reference
  uint64_t weight_bytes = 0;  // bytes of one weight matrix
  int copies = 1;             // weight copies rotated through
  int threads = 0;
  std::vector<double> seconds;  // per call, one per repeat
  Summary time() const { return summarize(seconds); }
  Summary gbps() const;    // weight bytes read per second / 1e9
  Summary gflops() const;  // 2 * n_in * n_out * n_tokens per second / 1e9
};

// The eleven weight types the engine supports, in table order.
std::vector<kernels::Type> all_kernel_types();
// "q4_k,Q6_K" or "all" -> types; throws Error naming an unknown type.
std::vector<kernels::Type> parse_kernel_types(const std::string& list);
// "avx2", "scalar,avx512" or "all" -> ISAs; throws Error naming an unknown one.
std::vector<kernels::Isa> parse_isas(const std::string& list);
// "4096x14336" -> {n_in, n_out}; throws Error on a malformed or non-positive shape.
std::pair<int64_t, int64_t> parse_shape(const std::string& s);
// Rotation target: max(256 MiB, 2 x L3 size), at most 2 GiB.
uint64_t default_working_set();

// Runs every (type, ISA, op) case on the CPU; ISAs the CPU lacks are skipped (reported
// through progress). Restores the active ISA. Throws Error on bad options.
std::vector<KernelResult> run_kernel_bench(const KernelBenchOptions& opt);

// Columns: type, device, isa, op, shape, N, weights, time/call, GB/s, GFLOP/s, % of read
// bandwidth (read_gbps <= 0: column left empty), note.
Table kernel_table(const std::vector<KernelResult>& results, double read_gbps);

// Panel 1: GB/s per type (series = op x isa/device), the read bandwidth as a line;
// panel 2: GFLOP/s per type.
std::vector<BarChart> kernel_charts(const std::vector<KernelResult>& results, double read_gbps);

}  // namespace petrel::bench
