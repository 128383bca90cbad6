// Matrix products of quantized weights with f32 activations, threaded with OpenMP.
// A weight of ne = [n_in, n_out] is n_out rows of n_in values; y = W x means
// y[r] = dot(row r, x).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/types.h"

namespace petrel::kernels {

struct WeightView {
  Type type = Type::kF32;
  int64_t n_in = 0;          // row length (elements)
  int64_t n_out = 0;         // rows
  const void* data = nullptr;
  size_t row_bytes = 0;
};

// Reusable scratch (quantized activations, dequantized tiles); grows on first use and is
// then reused, so the per-token loop does not allocate.
class Workspace {
 public:
  void* get(size_t bytes, int slot = 0);
 private:
  std::vector<std::vector<uint8_t>> bufs_;
};

// y[t][r] = sum_i W[r][i] * x[t][i] for t < n_tokens.  x: [n_tokens, n_in] (row stride
// n_in), y: [n_tokens, n_out] (row stride n_out). n_tokens == 1 takes the matrix-vector
// path; larger batches take the blocked GEMM that reuses each weight block across tokens.
void matmul(const WeightView& w, const float* x, int64_t n_tokens, float* y, Workspace& ws,
            int n_threads);

// y[j] = W[j] x for `count` weights that share the input x (e.g. Q, K and V). Decode
// (n_tokens == 1) runs as one parallel region whose threads split the weights' bytes
// evenly, with x quantized once per activation format; batches call matmul per weight.
void matmul_multi(const WeightView* w, float* const* y, int count, const float* x,
                  int64_t n_tokens, Workspace& ws, int n_threads);

// Same through the scalar reference vec_dot only (the spec the fast paths are tested against).
void matmul_ref(const WeightView& w, const float* x, int64_t n_tokens, float* y);

// Copies row `row` of w into dst as f32 (embedding lookup).
void dequantize_row(const WeightView& w, int64_t row, float* dst);

}  // namespace petrel::kernels
