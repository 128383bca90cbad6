#version 450
// mul_mm_cm: Y[t][r] = dot(W row r, X[t]) for a batch of tokens on tensor cores
// (GL_NV_cooperative_matrix, f16 x f16 -> f32, 16 x 16 x 16 fragments, subgroups of 32).
//
// A workgroup of NT threads (NT / 32 subgroups) computes a BM x BN tile of (rows x tokens),
// BM = 128, and walks k in steps of BK = 32 (one sub-block of every block type). Each
// subgroup owns a WM x WN sub-tile (WM / 16 x WN / 16 accumulator fragments in f32), the
// subgroups arranged BM / WM along rows and BN / WN along tokens: a k step of 16 loads
// WM / 16 + WN / 16 fragments from shared memory for WM WN / 256 products.
// Variants (shaders.cmake): mul_mm_cm 256 threads, 64 x 32 sub-tiles (BN = 128), loads two
// steps ahead; mul_mm_cm_n64 128 threads, 64 x 32 (BN = 64).
//
// H100, 512 tokens, TFLOP/s Q4_K / Q6_K / Q8_0 (the former kernel, f32 x converted in the
// tile loads, 512 threads, 32 x 32 sub-tiles, BK = 64, one buffer, in brackets):
// 4096 -> 14336 111 / 105 / 120 (64 / 64 / 68); 14336 -> 4096 139 / 130 / 151 (70 / 69 /
// 74); 4096 -> 4096 118 / 111 / 126 (85 / 77 / 78); 4096 -> 1024 (mul_mm_cm_n64) 46 / 40
// / 47 (35 / 32 / 38). From a sweep of shapes with the x tiles (mul_mm_cm, 4096 ->
// 14336, Q4_K): 512 threads 32 x 32 two steps ahead 92, one step 89; 1024 threads 32 x 16
// 79; 128 threads 64 x 64 101; 256 threads 64 x 32 one step ahead 108. With f32 x
// (converted in the tile loads) no shape passed 68. In that kernel (512 threads, 32 x 32,
// 60 at 4096 -> 14336 Q4_K), diagnostic builds gave: x loads hitting L1 instead 87, half
// the bytes with the same loads and cache lines 59, loading two steps ahead 60, no
// dequantization or conversion 85; the f16 tiles (half the loads and cache lines per
// step, no conversion in the loop) 88. An array of cooperative matrices for the
// accumulators instead of the plain variables of FOR_IJ measured the same.
//
// Pipelining: two (W, X) buffers in shared memory (2 x (BM + BN) x 80 bytes: 40 KiB at
// BN = 128). In step s every thread issues the global loads of step s + 1 (CM_PF2: s + 2)
// into registers, runs the products of step s out of buffer s % 2, then dequantizes and
// stores step s + 1 into the other buffer; one barrier per step.
//
// The W tile: 128 rows x 32 k, 256 units of 16 elements (row u / 2, half u % 2), one
// 16-byte quant load each (threads past 256 load none). The X tile: BN tokens x 32 k from
// x_tiles (shaders/x_tiles.comp: f16, 32-element tiles of all tokens contiguous, already
// in the element order below), 4 BN 16-byte words copied to shared memory unchanged. Within
// each group of 4 consecutive k the tiles hold the elements in the order (0, 2, 1, 3) for
// both W and X, so the dot products are unchanged: this is the order in which packed f16
// pairs come out of the bytes of a quant word.
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
// bindings: 0 weights (GPU layout, types.glsl), 1 x tiles (x_tiles.comp), 2 y (f32),
//           3 bias (f32)
// push:     as mul_mm: n_in, n_out, B, off1, off2, n_tokens, x_off, x_stride, y_off,
//           y_stride, flags (1: add bias, 2: accumulate into y); but x_off is the first
//           16-byte word of the tiles and x_stride their token count (>= n_tokens)
// defines:  TYPE_*; CM_NT, CM_WM, CM_WN (threads and sub-tile; default 128, 64, 64;
//           WM 32 or 64, WN 16, 32 or 64), CM_PF2 (load two steps ahead)
// spec:     none
// grid:     x = ceil(n_out / BM), y = ceil(n_tokens / BN)
#extension GL_GOOGLE_include_directive : enable
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#define W_BINDING 0
#define W_COUNT 1
#include "types.glsl"

#ifndef CM_NT
#define CM_NT 128
#endif
#ifndef CM_WM
#define CM_WM 64
#endif
#ifndef CM_WN
#define CM_WN 64
#endif
#define BM 128u
#define NT uint(CM_NT)
#define WM uint(CM_WM)
#define WN uint(CM_WN)
#define FM (WM / 16u)              // accumulator fragments along rows, per subgroup
#define FN (WN / 16u)              // ... along tokens
#define SG_M (BM / WM)             // subgroups along rows
#define BN ((NT / 32u / SG_M) * WN)
#define WU max(1u, 2u * BM / NT)   // W units (16 elements of one row) per thread
#define W_ALL (NT <= 2u * BM)      // every thread loads W (else only the first 2 BM)
#define LDV 5u                     // shared row stride in uvec4 (32 halves + 8 skew)
#define W_TILE (BM * LDV)          // uvec4s of one W tile
#define BUF ((BM + BN) * LDV)      // uvec4s of one (W, X) buffer
layout(local_size_x = CM_NT) in;

layout(binding = 1) readonly buffer XT { uvec4 xt[]; };
layout(binding = 2) buffer Y { float y[]; };
layout(binding = 3) readonly buffer Bias { float bias[]; };

layout(push_constant) uniform Push {
  uint n_in, n_out, B, off1, off2, n_tokens, x_off, x_stride, y_off, y_stride, flags;
} p;

// two [W tile: BM rows][X tile: BN tokens] buffers, each row 32 f16 + 8 skew; after the k
// loop, the first NT / 32 x 64 uvec4 hold the epilogue's f32 fragments (one per subgroup).
shared uvec4 sh[2u * BUF];

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

// ---- one k step (32 elements) of this thread's W units and X words, in registers ----
#define XU (BN * 4u)               // uvec4s of X per step (BN tokens x 32 halves)
#define XV max(1u, XU / NT)        // ... per thread
#define X_ALL (NT <= XU)           // every thread loads X (else only the first XU)
struct Step { WRaw w[WU]; uvec4 x[XV]; };

// W unit i's row: rows past n_out repeat the last one (their outputs are not written).
uint w_row(uint mrow, uint i) { return min(mrow + (NT / 2u) * i, p.n_out - 1u); }

// X word u of step s (token u / 4 of the tile, elements 8 (u % 4) ..): tokens past n_tokens
// repeat the last one (their outputs are not written).
uvec4 load_xt(uint s, uint n0, uint u) {
  const uint t = min(n0 + u / 4u, p.n_tokens - 1u);
  return xt[p.x_off + (s * p.x_stride + t) * 4u + u % 4u];
}

Step load_step(uint s, uint mrow, uint lr0, uint h, uint n0, uint tid) {
  Step r;
  if (W_ALL || lr0 < BM)
    [[unroll]] for (uint i = 0u; i < WU; ++i) r.w[i] = load_w(w_row(mrow, i), 32u * s, h);
  if (X_ALL || tid < XU)
    [[unroll]] for (uint i = 0u; i < XV; ++i) r.x[i] = load_xt(s, n0, tid + NT * i);
  return r;
}

// Dequantizes `r` (step s) into buffer `b`: W unit i at tile row lr0 + NT / 2 i, half h;
// X word u at row u / 4 of the X tile, column u % 4 (already f16 in the tile order).
void store_step(Step r, uint b, uint s, uint mrow, uint lr0, uint h, uint tid) {
  const uint base = b * BUF;
  [[unroll]] for (uint i = 0u; i < WU; ++i) {
    if (!W_ALL && lr0 >= BM) break;
    uvec4 o0, o1;
    dequant_w(r.w[i], w_row(mrow, i), 32u * s, h, o0, o1);
    const uint at = base + (lr0 + (NT / 2u) * i) * LDV + 2u * h;
    sh[at] = o0;
    sh[at + 1u] = o1;
  }
  [[unroll]] for (uint i = 0u; i < XV; ++i) {
    if (!X_ALL && tid >= XU) break;
    const uint u = tid + NT * i;
    sh[base + W_TILE + (u / 4u) * LDV + u % 4u] = r.x[i];
  }
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

// Code for every fragment: FOR_I(M) is M(0) .. M(FM - 1), FOR_J likewise along tokens,
// FOR_IJ(M) is M(i, j) for every pair.
#if CM_WM == 64
#define FOR_I(M) M(0) M(1) M(2) M(3)
#define FOR_IJ(M) FOR_JI(M, 0) FOR_JI(M, 1) FOR_JI(M, 2) FOR_JI(M, 3)
#else
#define FOR_I(M) M(0) M(1)
#define FOR_IJ(M) FOR_JI(M, 0) FOR_JI(M, 1)
#endif
#if CM_WN == 64
#define FOR_J(M) M(0) M(1) M(2) M(3)
#define FOR_JI(M, i) M(i, 0) M(i, 1) M(i, 2) M(i, 3)
#elif CM_WN == 16
#define FOR_J(M) M(0)
#define FOR_JI(M, i) M(i, 0)
#else
#define FOR_J(M) M(0) M(1)
#define FOR_JI(M, i) M(i, 0) M(i, 1)
#endif
#define ACC_DECL(i, j) CMAT_ACC c##i##j = CMAT_ACC(0.0);
#define LOAD_A(i)    \
  CMAT_IN a##i;      \
  coopMatLoadNV(a##i, sh, base + (wm + 16u * i) * LDV + kk, LDV, false);
// B (k x tokens) is X^T: element (k, t) in row t of the X tile, i.e. column-major
#define LOAD_B(j)    \
  CMAT_IN b##j;      \
  coopMatLoadNV(b##j, sh, base + W_TILE + (wn + 16u * j) * LDV + kk, LDV, true);
#define MMA(i, j) c##i##j = coopMatMulAddNV(a##i, b##j, c##i##j);
// the products of one step out of the buffer at uvec4 `buf`
#define MMA_STEP(buf)                                    \
  [[unroll]] for (uint kk = 0u; kk < 4u; kk += 2u) {     \
    const uint base = buf;                               \
    FOR_I(LOAD_A)                                        \
    FOR_J(LOAD_B)                                        \
    FOR_IJ(MMA)                                          \
  }
#define WRITE(i, j) write_frag(c##i##j, sbase, lane, m0 + wm + 16u * i, n0 + wn + 16u * j);

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint sg = tid / 32u, lane = tid % 32u;
  const uint m0 = gl_WorkGroupID.x * BM;
  const uint n0 = gl_WorkGroupID.y * BN;
  const uint wm = (sg % SG_M) * WM, wn = (sg / SG_M) * WN;
  // W: units tid + NT i = tile rows tid / 2 + NT / 2 i, half tid % 2
  const uint lr0 = tid / 2u, h = tid % 2u;
  const uint mrow = m0 + lr0;

  // accumulators and fragments as plain variables (FOR_IJ)
  FOR_IJ(ACC_DECL)
  const uint n_steps = p.B * QK / 32u;  // 32-element sub-blocks of the padded row
#if defined(CM_PF2)
  // loads two steps ahead: the loop body runs twice per iteration, with the registers of
  // the two steps in flight swapping roles (a copy would wait for the loads)
  Step sa = load_step(0u, mrow, lr0, h, n0, tid);
  Step sb = load_step(min(1u, n_steps - 1u), mrow, lr0, h, n0, tid);
  store_step(sa, 0u, 0u, mrow, lr0, h, tid);
  barrier();
  for (uint s = 0u; s < n_steps; s += 2u) {
    if (s + 2u < n_steps) sa = load_step(s + 2u, mrow, lr0, h, n0, tid);
    MMA_STEP(0u)
    if (s + 1u < n_steps) store_step(sb, 1u, s + 1u, mrow, lr0, h, tid);
    barrier();
    if (s + 1u >= n_steps) break;
    if (s + 3u < n_steps) sb = load_step(s + 3u, mrow, lr0, h, n0, tid);
    MMA_STEP(BUF)
    if (s + 2u < n_steps) store_step(sa, 0u, s + 2u, mrow, lr0, h, tid);
    barrier();
  }
#else
  Step st = load_step(0u, mrow, lr0, h, n0, tid);
  store_step(st, 0u, 0u, mrow, lr0, h, tid);
  barrier();
  for (uint s = 0u; s < n_steps; ++s) {
    const bool more = s + 1u < n_steps;
    if (more) st = load_step(s + 1u, mrow, lr0, h, n0, tid);
    MMA_STEP((s % 2u) * BUF)
    if (more) store_step(st, (s + 1u) % 2u, s + 1u, mrow, lr0, h, tid);
    barrier();
  }
#endif

  const uint sbase = sg * 64u;
  FOR_IJ(WRITE)
}
