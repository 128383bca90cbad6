// Model file types ("Q4_K_M", "Q8_0", ...) and llama.cpp's per-tensor type choice, shared
// by `petrel quantize` and `petrel synth` so both write the mix that llama.cpp writes.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace petrel::tools {

struct Ftype {
  const char* name;    // "Q4_K_M"
  uint32_t base_type;  // ggml type id of most weights (Q4_K for Q4_K_M)
  uint32_t file_type;  // general.file_type (llama.cpp's LLAMA_FTYPE_* number)
  bool k_mixed;        // _M mixes: Q6_K on some attn_v / ffn_down layers
};

// All file types Petrel writes, in display order.
const std::vector<Ftype>& all_ftypes();
// The file type named `name` (case-insensitive); throws petrel::Error listing valid names.
const Ftype& find_ftype(const std::string& name);

struct TensorDesc {
  std::string name;
  std::vector<uint64_t> ne;  // innermost first
};

// True for tensors that llama.cpp quantizes: 2-D+ weights ("*weight") that are not norms
// or MoE routers. Everything else is stored as F32.
bool is_quantizable(const TensorDesc& t);

// llama.cpp's use_more_bits: layer i of n gets more bits in the _M mixes.
bool use_more_bits(int i_layer, int n_layers);

// The ggml type of every tensor of a model, in order, as llama.cpp's quantizer chooses:
// base type; output.weight (or token_embd.weight when output is tied) in Q6_K (Q8_0 when
// ne[0] % 256 != 0, and kept Q8_0/F16/BF16 for those file types); attn_v / ffn_down in
// Q6_K on use_more_bits layers for _M mixes (counted in tensor order); fall-backs when a
// row does not divide into blocks (Q4_K->Q5_0, Q5_K->Q5_1, Q6_K->Q8_0, else F16).
std::vector<uint32_t> choose_tensor_types(const Ftype& ftype,
                                          const std::vector<TensorDesc>& tensors);

// ---- synthetic model shapes (engine/synth.cpp) ---------------------------------------------

struct SynthOptions;  // petrel/tools.h

struct SynthShape {
  std::string name;  // "llama-1b"
  std::string arch;  // "llama" or "qwen2"
  uint32_t n_embd, n_layer, n_ff, n_head, n_head_kv;
  uint32_t n_vocab;  // 0: the tokenizer's size
  uint32_t n_ctx;
  float rope_base, rms_eps;
  bool qkv_bias;     // attn_q/k/v.bias tensors (qwen2)
  bool tied_output;  // no output.weight
};

// The named shapes of `petrel synth`.
const std::vector<SynthShape>& synth_shape_table();
// synth_model for an explicit shape (opt.shape is ignored); tests use small made-up shapes.
void synth_model_shape(const SynthShape& shape, const SynthOptions& opt);

// Number of worker threads for `requested` (<= 0: all hardware threads).
int resolve_threads(int requested);

// Calls fn(begin, end) on disjoint row ranges covering [0, n_rows), on up to n_threads
// threads (fewer when there is little work); rethrows the first exception after joining.
void parallel_rows(uint64_t n_rows, uint64_t row_elems, int n_threads,
                   const std::function<void(uint64_t begin, uint64_t end)>& fn);

}  // namespace petrel::tools
