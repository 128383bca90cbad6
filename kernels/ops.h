// Elementwise and normalization kernels on f32 rows. Contracts give shapes; all pointers
// are to contiguous f32 unless said otherwise.
#pragma once
#include <cstdint>

namespace petrel::kernels {

// y[i] = x[i] / sqrt(mean(x^2) + eps) * w[i], n elements (y may alias x).
void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps);

enum class RopeMode { kAdjacent = 0, kNeox = 2 };
// Rotates one head of head_dim values in place at position pos: pairs (2i, 2i+1) for
// kAdjacent, (i, i + n_rot/2) for kNeox, over the first n_rot dims; theta_i =
// pos * base^(-2i/n_rot) / freq_factors[i] (freq_factors may be null).
void rope(float* x, int64_t head_dim, int64_t n_rot, int64_t pos, float base, RopeMode mode,
          const float* freq_factors);

// In place softmax over n values.
void softmax(float* x, int64_t n);

// out[i] = silu(gate[i]) * up[i]  (out may alias gate).
void silu_mul(const float* gate, const float* up, float* out, int64_t n);

// y[i] += x[i]
void add(float* y, const float* x, int64_t n);

}  // namespace petrel::kernels
