// Causal multi-head attention of a batch of queries against an F16 KV cache, with
// grouped-query heads. Numerics follow llama.cpp's CPU path with an F16 cache: the query
// and the softmax weights are rounded to f16 and dotted with the f16 cache rows.
#pragma once
#include <cstdint>

#include "kernels/matmul.h"

namespace petrel::kernels {

struct AttentionArgs {
  const float* q = nullptr;      // [n_tokens, n_head * head_dim]
  const uint16_t* k = nullptr;   // f16 [n_ctx, n_head_kv * head_dim]: row = position
  const uint16_t* vt = nullptr;  // f16 [n_head_kv * head_dim, vt_stride]: V transposed
  int64_t vt_stride = 0;         // positions per row of vt (the cache's n_ctx)
  float* out = nullptr;          // [n_tokens, n_head * head_dim]
  int n_tokens = 0, n_head = 0, n_head_kv = 0, head_dim = 0;
  int pos0 = 0;                  // token t attends positions [0, pos0 + t]
  float scale = 1.f;             // usually 1/sqrt(head_dim)
};

// Computes out for every (token, head); threads over (token, head) pairs.
void attention_f16(const AttentionArgs& a, Workspace& ws, int n_threads);

}  // namespace petrel::kernels
