// The loaded model as the backends see it: hyper-parameters and views of every weight
// (pointing into the mmapped file, or into converted copies the Model owns). Shared by
// the CPU forward pass and the Vulkan backend; not part of the public API.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/matmul.h"
#include "kernels/ops.h"

namespace petrel {

struct HParams {
  std::string arch;          // "llama" or "qwen2"
  int n_vocab = 0;
  int n_ctx_train = 0;
  int n_embd = 0;
  int n_layer = 0;
  int n_head = 0;
  int n_head_kv = 0;
  int head_dim = 0;          // key/value length per head
  int n_ff = 0;
  int n_rot = 0;             // rotated dims per head (rope.dimension_count, default head_dim)
  float norm_eps = 1e-5f;
  float rope_base = 10000.f;
  kernels::RopeMode rope_mode = kernels::RopeMode::kAdjacent;
};

struct LayerWeights {
  const float* attn_norm = nullptr;   // [n_embd]
  kernels::WeightView wq;             // [n_embd] -> [n_head * head_dim]
  kernels::WeightView wk;             // [n_embd] -> [n_head_kv * head_dim]
  kernels::WeightView wv;             // [n_embd] -> [n_head_kv * head_dim]
  const float* bq = nullptr;          // qwen2 biases, or nullptr
  const float* bk = nullptr;
  const float* bv = nullptr;
  kernels::WeightView wo;             // [n_head * head_dim] -> [n_embd]
  const float* ffn_norm = nullptr;    // [n_embd]
  kernels::WeightView w_gate;         // [n_embd] -> [n_ff]
  kernels::WeightView w_up;           // [n_embd] -> [n_ff]
  kernels::WeightView w_down;         // [n_ff] -> [n_embd]
};

struct ModelWeights {
  HParams hp;
  kernels::WeightView tok_embd;       // n_vocab rows of n_embd
  const float* output_norm = nullptr; // [n_embd]
  kernels::WeightView output;         // n_vocab rows of n_embd (tok_embd when tied)
  const float* rope_freqs = nullptr;  // [n_rot/2] frequency divisors (Llama 3.1), or nullptr
  std::vector<LayerWeights> layers;
};

}  // namespace petrel
