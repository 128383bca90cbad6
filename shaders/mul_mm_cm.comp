#version 450
// mul_mm_cm: Y[t][r] = dot(W row r, X[t]) for a batch of tokens on tensor cores
// (GL_NV_cooperative_matrix, f16 x f16 -> f32, 16 x 16 x 16 fragments, subgroups of 32).
//
// A workgroup of 512 threads (16 subgroups) computes a BM x BN tile of (rows x tokens),
// BM = 128 and BN = 128 (or 64 with BN_64: twice the workgroups, for grids that would not
// fill the GPU), and walks k in steps of BK = 64 (two sub-steps of 32, one sub-block of
// every block type). Each step, every thread fills 16 f16 of the W tile (row tid / 4,
// sub-step (tid / 2) % 2, elements 16 (tid % 2) ..; two 16-byte stores) and 2 x BN / 64
// x 4 of the X tile (for each sub-step, tokens tid / 8 + 64 g, elements 4 (tid % 8) ..: 8
// lanes read one token's 128 bytes, so global loads stay coalesced) in shared memory; |x|
// is clamped to the f16 range. Within each group of 4 consecutive k the tiles hold the
// elements in the order (0, 2, 1, 3) for both W and X, so the dot products are unchanged:
// this is the order in which packed f16 pairs come out of the bytes of a quant word.
//
// Pipelining: one (W, X) buffer in shared memory (36 KiB; two of BK = 64 would not fit in
// 48 KiB). The global loads of step s + 1 are issued into registers before the MMAs of
// step s, then dequantized and stored after them between two barriers. Each of the 16
// subgroups (4 along rows x 4 along tokens) multiplies a 32 x BN / 4 sub-tile (2 x BN / 64
// accumulator fragments in f32): fewer registers per thread and twice the warps of the
// former 256-thread, BK = 32, double-buffered kernel, so global latency is better hidden.
// H100, 512 tokens, TFLOP/s Q4_K / Q6_K / Q8_0 (former kernel, two runs, in brackets):
// 4096 -> 14336 64 / 63 / 68 (43 / 42 / 44), 14336 -> 4096 71 / 69 / 76 (25-47 / 35-48 /
// 34-48), both 128 x 128; 4096 -> 4096 68 / 61 / 64 (43-48 / 35-39 / 36-37) and 4096 ->
// 1024 34 / 32 / 38 (22-24 / 19-21 / 23-25) with 128 x 64 (the host's choice, vk_ops.cpp).
//
// Dequantization: Q4_K, Q5_K, Q6_K, Q8_0 and F16 have fast paths that load one 16-byte
// chunk of quants per thread, decode the block scale once and build f16 pairs with bit tricks
// (quant q in the mantissa of 1024.0: bits (0x6400 | q) are 1024 + q; subtracting 1024 +
// offset is exact) and one f16x2 fma per pair (one rounding, like the f32 path). Their
// scales are clamped so that no product leaves the f16 range (no effect on real weights).
// The other types go through the generic dequant4 of types.glsl.
//
// The epilogue stages one 16 x 16 fragment per subgroup through shared memory (reusing
// the tile buffers) and writes it with the bias/accumulate of mul_mm.
//
// bindings: 0 weights (GPU layout, types.glsl), 1 x (f32), 2 y (f32), 3 bias (f32)
// push:     as mul_mm: n_in, n_out, B, off1, off2, n_tokens, x_off, x_stride, y_off,
//           y_stride, flags (1: add bias, 2: accumulate into y)
// defines:  TYPE_*, BN_64 (BN = 64 tokens instead of 128)
// spec:     none (BM = 128, BK = 64, 512 threads = 16 subgroups of 32)
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
#if defined(BN_64)
#define BN_I 64
#else
#define BN_I 128
#endif
#define NT_I 512                   // threads: 16 subgroups
#define BN uint(BN_I)
#define NT uint(NT_I)
#define WN_I (BN_I * 128 / NT_I)   // tokens per subgroup (4 subgroups along rows)
#define BK 64u
#define KS (BK / 32u)              // 32-element sub-steps per step
#define SG_M (BM / 32u)            // subgroups along rows (x 4 along tokens)
#define XP (NT / 8u)               // tokens of the X tile loaded per pass (8 lanes each)
#define XG (BN / XP)               // passes: vec4s of X per thread and sub-step
#define LDV (4u * KS + 1u)         // shared row stride in uvec4 (BK halves + 8 skew)
#define W_TILE (BM * LDV)          // uvec4s of one W tile
#define BUF ((BM + BN) * LDV)      // uvec4s of the (W, X) tiles
#define TPR (NT / BM)              // threads per W tile row (16 k each per sub-step)
#define WJ (2u * KS / TPR)         // W sub-steps loaded per thread and step (1)
layout(local_size_x = NT_I) in;

layout(binding = 1) readonly buffer X { float x[]; };
layout(binding = 1) readonly buffer X4 { vec4 x4[]; };
layout(binding = 2) buffer Y { float y[]; };
layout(binding = 3) readonly buffer Bias { float bias[]; };

layout(push_constant) uniform Push {
  uint n_in, n_out, B, off1, off2, n_tokens, x_off, x_stride, y_off, y_stride, flags;
} p;

// [W tile: BM rows][X tile: BN tokens], each row BK f16 + 8 skew; after the k loop, the
// first 16 x 64 uvec4 hold the epilogue's f32 fragments (one per subgroup).
shared uvec4 sh[BUF];

const float kHalfMax = 65504.0;

// Packed f16 pair (lo, hi) from two floats, clamped to the f16 range.
uint pack_clamped(vec2 v) { return packHalf2x16(clamp(v, -kHalfMax, kHalfMax)); }

// ---- W: the raw data one thread loads for one step, and its dequantization ----
#if defined(TYPE_Q4_K)
struct WRaw { uvec4 q; uvec4 meta; };
#elif defined(TYPE_Q5_K)
struct WRaw { uvec4 q; uvec4 meta; uvec4 qh; };
#elif defined(TYPE_Q6_K)
struct WRaw { uvec4 ql; uvec4 qh; uint sc; uint d; };
#elif defined(TYPE_Q8_0)
struct WRaw { uvec4 q; uint d; };
#elif defined(TYPE_F16)
struct WRaw { uvec4 q[2]; };
#else
struct WRaw { vec4 v[4]; };
#endif

// Loads what row `row`, elements k0 + 16 h .. k0 + 16 h + 15 (k0 a multiple of 32), need.
WRaw load_w(uint row, uint k0, uint h) {
  WRaw r;
  const uint blk = row * p.B + k0 / QK;
#if defined(TYPE_Q4_K)
  // sub-block j = 2c + hi: nibble hi of qs bytes 32c + l (l = 0..31), qs at word 4
  r.meta = w4[0].v[blk * 9u];
  r.q = w4[0].v[blk * 9u + 1u + 2u * ((k0 % QK) / 64u) + h];
#elif defined(TYPE_Q5_K)
  // as Q4_K with qs at word 12; bit j of qh byte l (qh at word 4) adds 16
  r.meta = w4[0].v[blk * 11u];
  r.q = w4[0].v[blk * 11u + 3u + 2u * ((k0 % QK) / 64u) + h];
  r.qh = w4[0].v[blk * 11u + 1u + h];
#elif defined(TYPE_Q6_K)
  // element e = 128 n + 32 qd + l: ql byte 64 n + 32 (qd & 1) + l (nibble qd / 2),
  // qh byte 32 n + l (bits 2 qd, 2 qd + 1), scale 8 n + l / 16 + 2 qd
  const uint e = k0 % QK, n = e / 128u, qd = (e / 32u) % 4u;
  r.ql = w4[0].v[blk * 12u + 4u * n + 2u * (qd & 1u) + h];
  r.qh = w4[0].v[blk * 12u + 8u + 2u * n + h];
  r.sc = w1[0].v[p.off1 + blk * 4u + (8u * n + h + 2u * qd) / 4u];
  r.d = w1[0].v[p.off2 + blk / 2u];
#elif defined(TYPE_Q8_0)
  r.q = w4[0].v[blk * 2u + h];
  r.d = w1[0].v[p.off1 + blk / 2u];
#elif defined(TYPE_F16)
  r.q[0] = w4[0].v[blk * 4u + 2u * h];
  r.q[1] = w4[0].v[blk * 4u + 2u * h + 1u];
#else
  [[unroll]] for (uint g = 0u; g < 4u; ++g)
    r.v[g] = dequant4(0u, blk, ((k0 % QK) + 16u * h + 4u * g) / 4u, p.off1, p.off2);
#endif
  return r;
}

// f16 pair (q0 - off, q1 - off) * s + t from bits 0x6400 | q in each half (q < 1024).
uint pair(uint bits, float16_t off, f16vec2 s, f16vec2 t) {
  return packFloat2x16(fma(unpackFloat2x16(bits) - f16vec2(off), s, t));
}

// The 16 f16 of `r` (loaded for row, k0, h) in the (0, 2, 1, 3) order, 8 per uvec4.
void dequant_w(WRaw r, uint row, uint k0, uint h, out uvec4 o0, out uvec4 o1) {
  uint o[8];
#if defined(TYPE_Q4_K) || defined(TYPE_Q5_K)
  const uint j = (k0 % QK) / 32u, shq = 4u * (j & 1u);
  const vec2 dm = unpackHalf2x16(r.meta.x);
  const vec2 sm = kscale_min(r.meta, j);
  // |q ds - m| <= 15 * 4000 + 4000 (Q5_K: 31 * 2000 + 2000) stays finite in f16
#if defined(TYPE_Q4_K)
  const float lim = 4000.0;
#else
  const float lim = 2000.0;
#endif
  const f16vec2 ds = f16vec2(clamp(dm.x * sm.x, -lim, lim));
  const f16vec2 mn = -f16vec2(clamp(dm.y * sm.y, -lim, lim));
  [[unroll]] for (uint i = 0u; i < 4u; ++i) {
    uint a = ((r.q[i] >> shq) & 0x000F000Fu) | 0x64006400u;         // elements 0, 2
    uint b = ((r.q[i] >> (shq + 8u)) & 0x000F000Fu) | 0x64006400u;  // elements 1, 3
#if defined(TYPE_Q5_K)
    a |= ((r.qh[i] >> j) & 0x00010001u) << 4;
    b |= ((r.qh[i] >> (j + 8u)) & 0x00010001u) << 4;
#endif
    o[2u * i] = pair(a, float16_t(1024.0), ds, mn);
    o[2u * i + 1u] = pair(b, float16_t(1024.0), ds, mn);
  }
#elif defined(TYPE_Q6_K)
  const uint blk = row * p.B + k0 / QK;
  const uint e = k0 % QK, n = e / 128u, qd = (e / 32u) % 4u;
  const uint k = 8u * n + h + 2u * qd, shl = 4u * (qd / 2u), shh = 2u * qd;
  const float sc = float(int(r.sc << (24u - (k & 3u) * 8u)) >> 24);
  const float d = unpackHalf2x16(r.d >> (16u * (blk & 1u))).x;
  // |q - 32| <= 32: |q ds| <= 32 * 2000 stays finite in f16
  const f16vec2 ds = f16vec2(clamp(d * sc, -2000.0, 2000.0));
  [[unroll]] for (uint i = 0u; i < 4u; ++i) {
    const uint a = ((r.ql[i] >> shl) & 0x000F000Fu) | (((r.qh[i] >> shh) & 0x00030003u) << 4) |
                   0x64006400u;
    const uint b = ((r.ql[i] >> (shl + 8u)) & 0x000F000Fu) |
                   (((r.qh[i] >> (shh + 8u)) & 0x00030003u) << 4) | 0x64006400u;
    o[2u * i] = pair(a, float16_t(1056.0), ds, f16vec2(0.0));
    o[2u * i + 1u] = pair(b, float16_t(1056.0), ds, f16vec2(0.0));
  }
#elif defined(TYPE_Q8_0)
  // byte b of a signed quant q: (b ^ 0x80) = q + 128 in 0..255
  const uint blk = row * p.B + k0 / QK;
  const float d = unpackHalf2x16(r.d >> (16u * (blk & 1u))).x;
  const f16vec2 ds = f16vec2(clamp(d, -500.0, 500.0));  // |q| <= 128: finite in f16
  [[unroll]] for (uint i = 0u; i < 4u; ++i) {
    const uint a = (r.q[i] & 0x00FF00FFu) ^ 0x64806480u;
    const uint b = ((r.q[i] >> 8) & 0x00FF00FFu) ^ 0x64806480u;
    o[2u * i] = pair(a, float16_t(1152.0), ds, f16vec2(0.0));
    o[2u * i + 1u] = pair(b, float16_t(1152.0), ds, f16vec2(0.0));
  }
#elif defined(TYPE_F16)
  // words (e0, e1), (e2, e3) -> (e0, e2), (e1, e3)
  [[unroll]] for (uint g = 0u; g < 4u; ++g) {
    const uint u0 = r.q[g / 2u][2u * (g % 2u)], u1 = r.q[g / 2u][2u * (g % 2u) + 1u];
    o[2u * g] = (u0 & 0xFFFFu) | (u1 << 16);
    o[2u * g + 1u] = (u0 >> 16) | (u1 & 0xFFFF0000u);
  }
#else
  [[unroll]] for (uint g = 0u; g < 4u; ++g) {
    o[2u * g] = pack_clamped(r.v[g].xz);
    o[2u * g + 1u] = pack_clamped(r.v[g].yw);
  }
#endif
  o0 = uvec4(o[0], o[1], o[2], o[3]);
  o1 = uvec4(o[4], o[5], o[6], o[7]);
}

// ---- X: 4 consecutive floats of XG tokens, zero outside [0, n_tokens) x [0, n_in) ----
// Thread tid reads k + 4 (tid % 8) .. + 3 of tokens tid / 8 + XP g (g < XG): 8 lanes cover
// the 32 k of one token (128 bytes), so a warp's load touches 4 cache lines.
struct XRaw { vec4 v[XG]; };

// Out-of-range elements read index 0 (always valid) and are replaced by 0: no branches.
XRaw load_x(uint t0, uint k, bool vec_ok) {
  XRaw r;
  [[unroll]] for (uint g = 0u; g < XG; ++g) {
    const uint t = t0 + XP * g;
    const bool t_ok = t < p.n_tokens;
    const uint base = p.x_off + t * p.x_stride + k;
    if (vec_ok) {
      const bool ok = t_ok && k < p.n_in;
      const vec4 v = x4[ok ? base / 4u : 0u];
      r.v[g] = ok ? v : vec4(0.0);
    } else {
      [[unroll]] for (uint c = 0u; c < 4u; ++c) {
        const bool ok = t_ok && k + c < p.n_in;
        const float v = x[ok ? base + c : 0u];
        r.v[g][c] = ok ? v : 0.0;
      }
    }
  }
  return r;
}

// Stores the XG x 4 floats as f16 in the (0, 2, 1, 3) order at uvec4 `at` + XP g LDV, half
// `hi` (8 bytes each).
void store_x(XRaw r, uint at, bool hi) {
  [[unroll]] for (uint g = 0u; g < XG; ++g) {
    const uvec2 u = uvec2(pack_clamped(r.v[g].xz), pack_clamped(r.v[g].yw));
    if (hi)
      sh[at + XP * g * LDV].zw = u;
    else
      sh[at + XP * g * LDV].xy = u;
  }
}

// Dequantizes and stores step s (KS sub-steps of 32) into the tiles; W of sub-steps past
// the padded row (n32 odd) is stored as 0 (X is 0 there).
void store_step(WRaw wr[WJ], XRaw xr[KS], uint s, uint n32, uint row, uint h, uint jt,
                uint w_st, uint x_st, bool x_hi) {
  [[unroll]] for (uint i = 0u; i < WJ; ++i) {
    const uint j = jt + (TPR / 2u) * i, q = s * KS + j;
    uvec4 o0, o1;
    dequant_w(wr[i], row, min(q, n32 - 1u) * 32u, h, o0, o1);
    if (q >= n32) {
      o0 = uvec4(0u);
      o1 = uvec4(0u);
    }
    sh[w_st + 4u * j] = o0;
    sh[w_st + 4u * j + 1u] = o1;
  }
  [[unroll]] for (uint j = 0u; j < KS; ++j) store_x(xr[j], x_st + 4u * j, x_hi);
}

#define CMAT_ACC fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>
#define CMAT_IN fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>

// Epilogue of accumulator fragment c (rows r0.., tokens t0..): staged column-major at
// sh[sbase..] (token-major rows of 16 f32 = 4 uvec4), then each lane writes 8 outputs (half
// a token row) with bias / accumulate.
void write_frag(CMAT_ACC c, uint sbase, uint lane, uint r0, uint t0) {
  coopMatStoreNV(c, sh, sbase, 4u, true);
  subgroupMemoryBarrierShared();
  subgroupBarrier();
  const uint tl = lane / 2u, rl0 = (lane % 2u) * 8u;
  const uint t = t0 + tl;
  if (t < p.n_tokens) {
    const vec4 v0 = uintBitsToFloat(sh[sbase + tl * 4u + rl0 / 4u]);
    const vec4 v1 = uintBitsToFloat(sh[sbase + tl * 4u + rl0 / 4u + 1u]);
    [[unroll]] for (uint q = 0u; q < 8u; ++q) {
      const uint r = r0 + rl0 + q;
      if (r >= p.n_out) continue;
      const uint yi = p.y_off + t * p.y_stride + r;
      float v = q < 4u ? v0[q] : v1[q - 4u];
      if ((p.flags & 1u) != 0u) v += bias[r];
      if ((p.flags & 2u) != 0u) v += y[yi];
      y[yi] = v;
    }
  }
  subgroupMemoryBarrierShared();
  subgroupBarrier();
}

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint sg = tid / 32u, lane = tid % 32u;
  const uint m0 = gl_WorkGroupID.x * BM;
  const uint n0 = gl_WorkGroupID.y * BN;
  const uint wm = (sg % SG_M) * 32u, wn = (sg / SG_M) * uint(WN_I);
  // W: this thread's row, 16-element half h of sub-steps jt + TPR / 2 i; X: its first token
  // and k quad
  const uint lr = tid / TPR, h = tid % 2u, jt = (tid / 2u) % (TPR / 2u);
  const uint row = min(m0 + lr, p.n_out - 1u);
  const uint xt = tid / 8u, xq = tid % 8u;
  const uint tok = n0 + xt;
  const bool vec_ok = (p.x_off % 4u) == 0u && (p.x_stride % 4u) == 0u && (p.n_in % 4u) == 0u;
  const uint w_st = lr * LDV + 2u * h, x_st = W_TILE + xt * LDV + xq / 2u;
  const bool x_hi = (xq % 2u) == 1u;

  // the 2 x (WN / 16) accumulators as plain variables (no arrays of cooperative matrices)
  CMAT_ACC c00 = CMAT_ACC(0.0), c10 = CMAT_ACC(0.0);
#if WN_I >= 32
  CMAT_ACC c01 = CMAT_ACC(0.0), c11 = CMAT_ACC(0.0);
#endif
#if WN_I >= 64
  CMAT_ACC c02 = CMAT_ACC(0.0), c03 = CMAT_ACC(0.0), c12 = CMAT_ACC(0.0), c13 = CMAT_ACC(0.0);
#endif

  const uint n32 = p.B * QK / 32u;  // 32-element sub-steps of the padded row (F: pad to 32)
  const uint n_steps = (n32 + KS - 1u) / KS;
  WRaw wr[WJ];
  XRaw xr[KS];
  [[unroll]] for (uint i = 0u; i < WJ; ++i)
    wr[i] = load_w(row, min(jt + (TPR / 2u) * i, n32 - 1u) * 32u, h);
  [[unroll]] for (uint j = 0u; j < KS; ++j) xr[j] = load_x(tok, 32u * j + 4u * xq, vec_ok);
  store_step(wr, xr, 0u, n32, row, h, jt, w_st, x_st, x_hi);
  barrier();
  for (uint s = 0u; s < n_steps; ++s) {
    // issue the next step's global loads (the last step reloads itself), then the MMAs of
    // this step, then (once every subgroup is done with the tiles) dequantize + store
    const uint s1 = min(s + 1u, n_steps - 1u);
    [[unroll]] for (uint i = 0u; i < WJ; ++i)
      wr[i] = load_w(row, min(s1 * KS + jt + (TPR / 2u) * i, n32 - 1u) * 32u, h);
    [[unroll]] for (uint j = 0u; j < KS; ++j)
      xr[j] = load_x(tok, (s1 * KS + j) * 32u + 4u * xq, vec_ok);

    const uint xb = W_TILE;
    [[unroll]] for (uint kk = 0u; kk < BK / 8u; kk += 2u) {  // kk in uvec4 (8 halves)
      CMAT_IN a0, a1, b0;
      coopMatLoadNV(a0, sh, wm * LDV + kk, LDV, false);
      coopMatLoadNV(a1, sh, (wm + 16u) * LDV + kk, LDV, false);
      // B (k x tokens) is X^T: element (k, t) in row t of the X tile, i.e. column-major
      coopMatLoadNV(b0, sh, xb + wn * LDV + kk, LDV, true);
      c00 = coopMatMulAddNV(a0, b0, c00);
      c10 = coopMatMulAddNV(a1, b0, c10);
#if WN_I >= 32
      CMAT_IN b1;
      coopMatLoadNV(b1, sh, xb + (wn + 16u) * LDV + kk, LDV, true);
      c01 = coopMatMulAddNV(a0, b1, c01);
      c11 = coopMatMulAddNV(a1, b1, c11);
#endif
#if WN_I >= 64
      CMAT_IN b2, b3;
      coopMatLoadNV(b2, sh, xb + (wn + 32u) * LDV + kk, LDV, true);
      coopMatLoadNV(b3, sh, xb + (wn + 48u) * LDV + kk, LDV, true);
      c02 = coopMatMulAddNV(a0, b2, c02);
      c03 = coopMatMulAddNV(a0, b3, c03);
      c12 = coopMatMulAddNV(a1, b2, c12);
      c13 = coopMatMulAddNV(a1, b3, c13);
#endif
    }
    barrier();
    store_step(wr, xr, s1, n32, row, h, jt, w_st, x_st, x_hi);
    barrier();
  }

  const uint sbase = sg * 64u;
  write_frag(c00, sbase, lane, m0 + wm, n0 + wn);
  write_frag(c10, sbase, lane, m0 + wm + 16u, n0 + wn);
#if WN_I >= 32
  write_frag(c01, sbase, lane, m0 + wm, n0 + wn + 16u);
  write_frag(c11, sbase, lane, m0 + wm + 16u, n0 + wn + 16u);
#endif
#if WN_I >= 64
  write_frag(c02, sbase, lane, m0 + wm, n0 + wn + 32u);
  write_frag(c03, sbase, lane, m0 + wm, n0 + wn + 48u);
  write_frag(c12, sbase, lane, m0 + wm + 16u, n0 + wn + 32u);
  write_frag(c13, sbase, lane, m0 + wm + 16u, n0 + wn + 48u);
#endif
}
