// Model throughput, shaped like llama-bench: ppN evaluates N random tokens as one batch
// into an empty cache; tgN evaluates N tokens one at a time starting from an empty cache.
// Tokens per second per repeat after a warm-up; the figure quoted is the median.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "bench/lib/memory_bench.h"
#include "bench/lib/params.h"
#include "bench/lib/svg.h"
#include "petrel/petrel.h"

namespace petrel::bench {

struct ModelBenchOptions {
  std::vector<std::string> models;  // GGUF paths
  std::vector<std::string> labels;  // optional display names, parallel to models
  std::vector<int> n_prompt{512};
  std::vector<int> n_gen{128};
  std::vector<int> threads{0};  // 0: all cores
  int repeats = 5;
  ModelOptions model_options;  // device, device_index, device_explicit
  uint64_t seed = 1234;        // random token ids
  ProgressFn progress;
};

struct ModelResult {
  std::string model_path;
  std::string model;        // "llama 1B Q4_K_M" (or the label given)
  uint64_t size_bytes = 0;  // weight bytes
  int64_t n_params = 0;
  std::string backend;
  int threads = 0;
  std::string test;  // "pp512", "tg128"
  TestKind kind = TestKind::kPrompt;
  int n_tokens = 0;
  uint64_t bytes_per_token = 0;
  std::vector<double> seconds;  // per repeat, for n_tokens tokens
  uint64_t peak_rss = 0;        // process peak RSS after the test
  uint64_t gpu_bytes = 0;       // device memory the session holds (Vulkan), else 0
  Summary tps() const;          // tokens/s
  Summary gbps() const;         // tg: bytes_per_token x tokens/s / 1e9 (zeros for pp)
};

// Runs the cross product models x threads x tests. Throws Error on bad options or when a
// model fails to load (the message names the file).
std::vector<ModelResult> run_model_bench(const ModelBenchOptions& opt);

// llama-bench's columns (model, size, params, backend, threads, test, t/s) plus GB/s (tg)
// and peak RSS (and GPU memory when any result ran on a GPU).
Table model_table(const std::vector<ModelResult>& results);

// Tokens/s per test (groups), one series per model x threads; prompt tests and generation
// tests in separate panels (their scales differ by orders of magnitude).
std::vector<BarChart> model_charts(const std::vector<ModelResult>& results);

// A synthetic model (tools::synth_model) in a temporary file, removed on destruction.
class SyntheticModel {
 public:
  // Writes SHAPE with FTYPE under the system temp directory; throws Error on failure.
  SyntheticModel(const std::string& shape, const std::string& ftype, int n_threads,
                 const ProgressFn& progress);
  ~SyntheticModel();
  SyntheticModel(const SyntheticModel&) = delete;
  SyntheticModel& operator=(const SyntheticModel&) = delete;
  const std::string& path() const { return path_; }
  const std::string& label() const { return label_; }  // "synthetic llama-1b Q4_K_M"
 private:
  std::string path_, label_;
};

}  // namespace petrel::bench
