#version 450
// mul_mm: Y[t][r] = dot(W row r, X[t]) for a batch of tokens (prompt processing).
// Tiled: a workgroup computes a BM x BN tile of (rows x tokens) and walks k in steps of
// BK = 32 (one sub-block of every block type), dequantizing the W tile and loading the X
// tile into shared memory; each thread then accumulates TM x TN outputs in registers.
//
// bindings: 0 weights (GPU layout, types.glsl), 1 x (f32), 2 y (f32), 3 bias (f32)
// push:     n_in, n_out, B, off1, off2, n_tokens, x_off, x_stride, y_off, y_stride,
//           flags (1: add bias, 2: accumulate into y)
// spec:     none (tile shape fixed: BM = BN = 64, BK = 32, 256 threads, 4 x 4 per thread)
// grid:     x = ceil(n_out / BM), y = ceil(n_tokens / BN)
#extension GL_GOOGLE_include_directive : enable
#define W_BINDING 0
#define W_COUNT 1
#include "types.glsl"

#define BM 64u
#define BN 64u
#define BK 32u
#define TM 4u
#define TN 4u
layout(local_size_x = 256) in;

layout(binding = 1) readonly buffer X { float x[]; };
layout(binding = 2) buffer Y { float y[]; };
layout(binding = 3) readonly buffer Bias { float bias[]; };

layout(push_constant) uniform Push {
  uint n_in, n_out, B, off1, off2, n_tokens, x_off, x_stride, y_off, y_stride, flags;
} p;

shared float ws[BK][BM + 1u];
shared float xs[BK][BN + 1u];

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint m0 = gl_WorkGroupID.x * BM;
  const uint n0 = gl_WorkGroupID.y * BN;
  const uint tx = tid % 16u, ty = tid / 16u;
  float acc[TM][TN];
  [[unroll]] for (uint i = 0u; i < TM; ++i)
    [[unroll]] for (uint j = 0u; j < TN; ++j) acc[i][j] = 0.0;

  const uint n_k = p.B * QK;  // padded row length (F types pad rows to 32)
  for (uint k0 = 0u; k0 < n_k; k0 += BK) {
    // W tile: BM rows x BK elements = 512 groups of 4
    [[unroll]] for (uint it = 0u; it < 2u; ++it) {
      uint idx = tid + it * 256u;
      uint r = idx / 8u, e4 = idx % 8u;
      uint row = min(m0 + r, p.n_out - 1u);
      uint k = k0 + e4 * 4u;
      vec4 v = dequant4(0u, row * p.B + k / QK, (k % QK) / 4u, p.off1, p.off2);
      [[unroll]] for (uint c = 0u; c < 4u; ++c) ws[e4 * 4u + c][r] = v[c];
    }
    // X tile: BN tokens x BK elements
    [[unroll]] for (uint it = 0u; it < 8u; ++it) {
      uint idx = tid + it * 256u;
      uint t = idx / BK, kk = idx % BK;
      uint k = k0 + kk;
      float v = 0.0;
      if (n0 + t < p.n_tokens && k < p.n_in) v = x[p.x_off + (n0 + t) * p.x_stride + k];
      xs[kk][t] = v;
    }
    barrier();
    for (uint kk = 0u; kk < BK; ++kk) {
      float a[TM], b[TN];
      [[unroll]] for (uint i = 0u; i < TM; ++i) a[i] = ws[kk][tx + 16u * i];
      [[unroll]] for (uint j = 0u; j < TN; ++j) b[j] = xs[kk][ty + 16u * j];
      [[unroll]] for (uint i = 0u; i < TM; ++i)
        [[unroll]] for (uint j = 0u; j < TN; ++j) acc[i][j] += a[i] * b[j];
    }
    barrier();
  }
  [[unroll]] for (uint j = 0u; j < TN; ++j) {
    uint t = n0 + ty + 16u * j;
    if (t >= p.n_tokens) continue;
    [[unroll]] for (uint i = 0u; i < TM; ++i) {
      uint row = m0 + tx + 16u * i;
      if (row >= p.n_out) continue;
      uint yi = p.y_off + t * p.y_stride + row;
      float s = acc[i][j];
      if ((p.flags & 1u) != 0u) s += bias[row];
      if ((p.flags & 2u) != 0u) s += y[yi];
      y[yi] = s;
    }
  }
}
