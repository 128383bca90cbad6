#version 450
// mul_mm_cm: Y[t][r] = dot(W row r, X[t]) for a batch of tokens on tensor cores
// (GL_NV_cooperative_matrix, f16 x f16 -> f32, 16 x 16 x 16 fragments, subgroups of 32).
// A workgroup computes a BM x BN tile of (rows x tokens) and walks k in steps of BK = 32
// (one sub-block of every block type): the W tile is dequantized and the X tile converted
// to f16 in shared memory (row r / token t at r * LDS, k contiguous; |x| clamped to the f16
// range); each of the 8 subgroups (4 along rows x 2 along tokens) multiplies a 32 x 64
// sub-tile (2 x 4 accumulator fragments in f32). The epilogue stages one 16 x 16 fragment
// per subgroup through shared memory and writes it with the bias/accumulate of mul_mm.
//
// bindings: 0 weights (GPU layout, types.glsl), 1 x (f32), 2 y (f32), 3 bias (f32)
// push:     as mul_mm: n_in, n_out, B, off1, off2, n_tokens, x_off, x_stride, y_off,
//           y_stride, flags (1: add bias, 2: accumulate into y)
// spec:     none (BM = BN = 128, BK = 32, 256 threads = 8 subgroups of 32)
// grid:     x = ceil(n_out / BM), y = ceil(n_tokens / BN)
#extension GL_GOOGLE_include_directive : enable
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#define W_BINDING 0
#define W_COUNT 1
#include "types.glsl"

#define BM 128u
#define BN 128u
#define BK 32u
#define LDS 40u  // shared row stride in halves (80 bytes: 16-byte aligned, skews banks)
#define WM 32u   // rows per subgroup
#define WN 64u   // tokens per subgroup
layout(local_size_x = 256) in;

layout(binding = 1) readonly buffer X { float x[]; };
layout(binding = 2) buffer Y { float y[]; };
layout(binding = 3) readonly buffer Bias { float bias[]; };

layout(push_constant) uniform Push {
  uint n_in, n_out, B, off1, off2, n_tokens, x_off, x_stride, y_off, y_stride, flags;
} p;

shared float16_t ws[BM * LDS];
shared float16_t xs[BN * LDS];
shared float stage[8u * 256u];  // one 16 x 16 f32 fragment per subgroup

const float kHalfMax = 65504.0;

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint sg = tid / 32u, lane = tid % 32u;
  const uint m0 = gl_WorkGroupID.x * BM;
  const uint n0 = gl_WorkGroupID.y * BN;
  const uint wm = (sg % 4u) * WM, wn = (sg / 4u) * WN;

  fcoopmatNV<32, gl_ScopeSubgroup, 16, 16> acc[2][4];
  [[unroll]] for (uint i = 0u; i < 2u; ++i)
    [[unroll]] for (uint j = 0u; j < 4u; ++j)
      acc[i][j] = fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>(0.0);

  const uint n_k = p.B * QK;  // padded row length (F types pad rows to 32)
  for (uint k0 = 0u; k0 < n_k; k0 += BK) {
    // W tile: BM rows x BK elements = 1024 groups of 4
    [[unroll]] for (uint it = 0u; it < 4u; ++it) {
      uint idx = tid + it * 256u;
      uint r = idx / 8u, e4 = idx % 8u;
      uint row = min(m0 + r, p.n_out - 1u);
      uint k = k0 + e4 * 4u;
      vec4 v = dequant4(0u, row * p.B + k / QK, (k % QK) / 4u, p.off1, p.off2);
      f16vec4 h = f16vec4(clamp(v, -kHalfMax, kHalfMax));
      uint base = r * LDS + e4 * 4u;
      ws[base] = h.x;
      ws[base + 1u] = h.y;
      ws[base + 2u] = h.z;
      ws[base + 3u] = h.w;
    }
    // X tile: BN tokens x BK elements (consecutive threads read consecutive k)
    [[unroll]] for (uint it = 0u; it < 16u; ++it) {
      uint idx = tid + it * 256u;
      uint t = idx / BK, kk = idx % BK;
      uint k = k0 + kk;
      float v = 0.0;
      if (n0 + t < p.n_tokens && k < p.n_in) v = x[p.x_off + (n0 + t) * p.x_stride + k];
      xs[t * LDS + kk] = float16_t(clamp(v, -kHalfMax, kHalfMax));
    }
    barrier();
    [[unroll]] for (uint kk = 0u; kk < BK; kk += 16u) {
      fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> a[2];
      fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> b[4];
      [[unroll]] for (uint i = 0u; i < 2u; ++i)
        coopMatLoadNV(a[i], ws, (wm + 16u * i) * LDS + kk, LDS, false);
      // B (k x tokens) is X^T: element (k, t) at t * LDS + k, i.e. column-major
      [[unroll]] for (uint j = 0u; j < 4u; ++j)
        coopMatLoadNV(b[j], xs, (wn + 16u * j) * LDS + kk, LDS, true);
      [[unroll]] for (uint i = 0u; i < 2u; ++i)
        [[unroll]] for (uint j = 0u; j < 4u; ++j)
          acc[i][j] = coopMatMulAddNV(a[i], b[j], acc[i][j]);
    }
    barrier();
  }

  // Epilogue: fragment (i, j) -> stage as column-major (token-major rows of 16 outputs),
  // then each lane writes 8 outputs (half a token row) with bias / accumulate.
  const uint sbase = sg * 256u;
  [[unroll]] for (uint i = 0u; i < 2u; ++i) {
    [[unroll]] for (uint j = 0u; j < 4u; ++j) {
      coopMatStoreNV(acc[i][j], stage, sbase, 16u, true);
      subgroupMemoryBarrierShared();
      subgroupBarrier();
      const uint tl = lane / 2u, rl0 = (lane % 2u) * 8u;
      const uint t = n0 + wn + 16u * j + tl;
      if (t < p.n_tokens) {
        [[unroll]] for (uint q = 0u; q < 8u; ++q) {
          const uint row = m0 + wm + 16u * i + rl0 + q;
          if (row >= p.n_out) continue;
          const uint yi = p.y_off + t * p.y_stride + row;
          float s = stage[sbase + tl * 16u + rl0 + q];
          if ((p.flags & 1u) != 0u) s += bias[row];
          if ((p.flags & 2u) != 0u) s += y[yi];
          y[yi] = s;
        }
      }
      subgroupMemoryBarrierShared();
      subgroupBarrier();
    }
  }
}
