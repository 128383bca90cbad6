// Petrel's model tools: inspect a GGUF file, quantize a model, make a synthetic model.
// Part of the public API next to petrel.h; errors are thrown as petrel::Error.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace petrel::tools {

// ---- inspect ---------------------------------------------------------------------------
struct InspectTensor {
  std::string name;
  std::string type;              // "Q4_K"
  std::vector<uint64_t> shape;   // ne, innermost first
  uint64_t n_elements = 0;
  uint64_t n_bytes = 0;
  uint64_t offset = 0;           // absolute byte offset
};
struct InspectTypeTotal {
  std::string type;
  uint64_t count = 0, n_elements = 0, n_bytes = 0;
};
struct InspectKey {
  std::string key;
  std::string type;      // "u32", "string", "array[string]", ...
  std::string summary;   // value as text; long arrays summarized ("[32000 strings] ...")
};
struct InspectReport {
  std::string path;
  uint64_t file_bytes = 0;
  uint32_t version = 0;
  uint64_t alignment = 0;
  std::string architecture;                          // "" if absent
  std::vector<std::pair<std::string, std::string>> hparams;  // e.g. {"embedding_length", "2048"}
  std::vector<std::pair<std::string, std::string>> tokenizer;  // model, pre, n_vocab, bos, eos, ...
  std::vector<InspectKey> metadata;
  std::vector<InspectTensor> tensors;
  std::vector<InspectTypeTotal> type_totals;
  uint64_t n_params = 0;  // sum of tensor elements
};
InspectReport inspect_file(const std::string& path);

// ---- quantize --------------------------------------------------------------------------
using Progress = std::function<void(size_t done, size_t total, const std::string& what)>;

struct QuantizeOptions {
  std::string ftype;   // Q4_K_M, Q5_K_M, Q6_K, Q8_0, Q4_0, Q5_0, F16, BF16
  int n_threads = 0;   // 0: all cores
  Progress progress;
};
// Reads an F32/F16/BF16 model and writes it with llama.cpp's per-tensor type choice.
void quantize_model(const std::string& in_path, const std::string& out_path,
                    const QuantizeOptions& opt);
std::vector<std::string> quantize_ftypes();

// ---- synth -----------------------------------------------------------------------------
struct SynthOptions {
  std::string shape;       // llama-1b, llama-8b, qwen2-1.5b, qwen2-7b, tiny
  std::string ftype;       // as for quantize
  std::string out_path;
  uint64_t seed = 1;
  std::string vocab_path;  // copy the tokenizer from this GGUF ("" = built-in byte-level)
  int n_threads = 0;
  Progress progress;
};
void synth_model(const SynthOptions& opt);
std::vector<std::string> synth_shapes();

}  // namespace petrel::tools
