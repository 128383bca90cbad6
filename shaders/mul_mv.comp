#version 450
// mul_mv: y[t][r] = dot(W row r, x[t]) for a weight of any block type, dequantization fused.
// A workgroup owns NR consecutive rows; all its threads stride over the row's 16-byte
// chunks of quant data (coalesced uvec4 loads), load the matching x values once and reuse
// them for the NR rows, then reduce with subgroupAdd and shared memory.
// Variant GLU (W_COUNT 2): y = silu(Wgate x) * (Wup x), both weights the same type/shape.
//
// bindings: 0 weights[W_COUNT] (GPU layout, types.glsl), 1 x (f32), 2 y (f32),
//           3 bias (f32 [n_out], read when flags & 1)
// push:     n_in, n_out, B (blocks per row), off1, off2 (region word offsets),
//           x_off, x_stride, y_off, y_stride (floats; x_off/x_stride multiples of 4 for
//           block types), flags (1: add bias, 2: accumulate into y)
// spec:     0 WG (threads), 1 NR (rows per workgroup)
// grid:     x * z = ceil(n_out / NR) workgroups, y = tokens
#extension GL_KHR_shader_subgroup_arithmetic : enable
#extension GL_KHR_shader_subgroup_basic : enable
#extension GL_GOOGLE_include_directive : enable

#define W_BINDING 0
#ifdef GLU
#define W_COUNT 2
#else
#define W_COUNT 1
#endif
#include "types.glsl"

layout(constant_id = 0) const uint WG = 128;
layout(constant_id = 1) const uint NR = 2;
layout(local_size_x_id = 0) in;

layout(binding = 1) readonly buffer XF { float xf[]; };
layout(binding = 1) readonly buffer X4 { vec4 x4[]; };
layout(binding = 2) buffer Y { float y[]; };
layout(binding = 3) readonly buffer Bias { float bias[]; };

layout(push_constant) uniform Push {
  uint n_in, n_out, B, off1, off2, x_off, x_stride, y_off, y_stride, flags;
} p;

// chunks (16 bytes of region-0 data) per block
#if defined(TYPE_F32)
#define CPB 8u
#elif defined(TYPE_F16) || defined(TYPE_BF16)
#define CPB 4u
#elif defined(TYPE_Q8_0)
#define CPB 2u
#elif defined(TYPE_Q4_K) || defined(TYPE_Q5_K) || defined(TYPE_Q6_K)
#define CPB 8u
#else
#define CPB 1u
#endif

shared float red[NR * WG];

float sum4(vec4 v) { return dot(v, vec4(1.0)); }

// x values the chunk c of block b multiplies (xb: first vec4 of this token's x). For block
// types xv is pre-scaled by kLaneScale (see magic4) and sx holds the plain sums of the two
// halves (first 4 and last 4 vectors), for the min/offset terms.
void load_x(uint xb, uint b, uint c, out vec4 xv[8], out vec2 sx) {
  sx = vec2(0.0);
#if defined(TYPE_F32) || defined(TYPE_F16) || defined(TYPE_BF16)
  // float path: rows need not be a multiple of 4; elements past n_in read as 0
  const uint per = 32u / CPB;  // elements per chunk (4 or 8)
  uint e0 = b * 32u + c * per;
  uint xo = p.x_off + gl_WorkGroupID.y * p.x_stride;
  if (((p.n_in | xo) & 3u) == 0u) {  // aligned rows: whole vec4s, in or past the end
    [[unroll]] for (uint i = 0u; i < 8u; ++i) xv[i] = vec4(0.0);
    [[unroll]] for (uint i = 0u; i < per / 4u; ++i)
      if (e0 + 4u * i < p.n_in) xv[i] = x4[(xo + e0) / 4u + i];
    return;
  }
  [[unroll]] for (uint i = 0u; i < 2u; ++i) {
    vec4 v = vec4(0.0);
    [[unroll]] for (uint k = 0u; k < 4u; ++k) {
      uint e = e0 + i * 4u + k;
      if (i * 4u + k < per && e < p.n_in) v[k] = xf[xo + e];
    }
    xv[i] = v;
  }
  [[unroll]] for (uint i = 2u; i < 8u; ++i) xv[i] = vec4(0.0);
  return;
#else
#if defined(TYPE_Q8_0)
  [[unroll]] for (uint i = 0u; i < 4u; ++i) xv[i] = x4[xb + b * 8u + c * 4u + i];
  [[unroll]] for (uint i = 4u; i < 8u; ++i) xv[i] = vec4(0.0);
#elif defined(TYPE_Q4_K) || defined(TYPE_Q5_K)
  uint base = xb + b * 64u + (c / 2u) * 16u + (c & 1u) * 4u;
  [[unroll]] for (uint i = 0u; i < 4u; ++i) {
    xv[i] = x4[base + i];
    xv[4u + i] = x4[base + 8u + i];
  }
#elif defined(TYPE_Q6_K)
  uint n = c / 4u, L = 16u * (c % 4u), qd0 = L / 32u, l = L % 32u;
  uint base = xb + b * 64u + (128u * n + 32u * qd0 + l) / 4u;
  [[unroll]] for (uint i = 0u; i < 4u; ++i) {
    xv[i] = x4[base + i];
    xv[4u + i] = x4[base + 16u + i];
  }
#else
  [[unroll]] for (uint i = 0u; i < 8u; ++i) xv[i] = x4[xb + b * 8u + i];
#endif
  vec4 s0 = xv[0] + xv[1] + xv[2] + xv[3], s1 = xv[4] + xv[5] + xv[6] + xv[7];
  sx = vec2(sum4(s0), sum4(s1));
  [[unroll]] for (uint i = 0u; i < 8u; ++i) xv[i] *= kLaneScale;
#endif
}

// dot of chunk c of block blk of weight w with the x values of load_x.
float chunk_dot(uint w, uint blk, uint c, vec4 xv[8], vec2 sx) {
#if defined(TYPE_F32)
  return dot(uintBitsToFloat(w4[w].v[blk * 8u + c]), xv[0]);
#elif defined(TYPE_F16)
  uvec4 q = w4[w].v[blk * 4u + c];
  return dot(vec4(unpackHalf2x16(q.x), unpackHalf2x16(q.y)), xv[0]) +
         dot(vec4(unpackHalf2x16(q.z), unpackHalf2x16(q.w)), xv[1]);
#elif defined(TYPE_BF16)
  uvec4 q = w4[w].v[blk * 4u + c];
  return dot(uintBitsToFloat(uvec4(q.x << 16, q.x & 0xFFFF0000u, q.y << 16, q.y & 0xFFFF0000u)), xv[0]) +
         dot(uintBitsToFloat(uvec4(q.z << 16, q.z & 0xFFFF0000u, q.w << 16, q.w & 0xFFFF0000u)), xv[1]);
#elif defined(TYPE_Q8_0)
  // bytes biased to unsigned (q + 128), the bias removed through the sum of x
  uvec4 q = w4[w].v[blk * 2u + c] ^ 0x80808080u;
  float s = dot(magic4(q.x), xv[0]) + dot(magic4(q.y), xv[1]) + dot(magic4(q.z), xv[2]) +
            dot(magic4(q.w), xv[3]);
  return half_at(w, p.off1, blk) * (s - 128.0 * sx.x);
#elif defined(TYPE_Q4_0) || defined(TYPE_Q4_1) || defined(TYPE_Q5_0) || defined(TYPE_Q5_1)
  uvec4 q = w4[w].v[blk];
#if defined(TYPE_Q5_0) || defined(TYPE_Q5_1)
  uint h = w1[w].v[p.off1 + blk];
#endif
  float s = 0.0;
  [[unroll]] for (uint i = 0u; i < 4u; ++i) {
    uint lo = q[i] & 0x0F0F0F0Fu, hi = (q[i] >> 4) & 0x0F0F0F0Fu;
#if defined(TYPE_Q5_0) || defined(TYPE_Q5_1)
    lo |= spread4((h >> (4u * i)) & 0xFu) << 4;
    hi |= spread4((h >> (16u + 4u * i)) & 0xFu) << 4;
#endif
    s += dot(magic4(lo), xv[i]) + dot(magic4(hi), xv[4u + i]);
  }
  float sxx = sx.x + sx.y;
#if defined(TYPE_Q4_0)
  return half_at(w, p.off1, blk) * (s - 8.0 * sxx);
#elif defined(TYPE_Q5_0)
  return half_at(w, p.off2, blk) * (s - 16.0 * sxx);
#elif defined(TYPE_Q4_1)
  vec2 dm = unpackHalf2x16(w1[w].v[p.off1 + blk]);
  return dm.x * s + dm.y * sxx;
#else
  vec2 dm = unpackHalf2x16(w1[w].v[p.off2 + blk]);
  return dm.x * s + dm.y * sxx;
#endif
#elif defined(TYPE_Q4_K) || defined(TYPE_Q5_K)
#if defined(TYPE_Q4_K)
  const uint vecs = 9u, qs0 = 1u;
#else
  const uint vecs = 11u, qs0 = 3u;
#endif
  uvec4 meta = w4[w].v[blk * vecs];
  uvec4 q = w4[w].v[blk * vecs + qs0 + c];
  uint cc = c / 2u;
#if defined(TYPE_Q5_K)
  uvec4 qh = w4[w].v[blk * vecs + 1u + (c & 1u)];
#endif
  float alo = 0.0, ahi = 0.0;
  [[unroll]] for (uint i = 0u; i < 4u; ++i) {
    uint lo = q[i] & 0x0F0F0F0Fu, hi = (q[i] >> 4) & 0x0F0F0F0Fu;
#if defined(TYPE_Q5_K)
    lo |= ((qh[i] >> (2u * cc)) & 0x01010101u) << 4;
    hi |= ((qh[i] >> (2u * cc + 1u)) & 0x01010101u) << 4;
#endif
    alo += dot(magic4(lo), xv[i]);
    ahi += dot(magic4(hi), xv[4u + i]);
  }
  vec2 dm = unpackHalf2x16(meta.x);
  vec4 sm = kscale_min_pair(meta, 2u * cc);
  return dm.x * (sm.x * alo + sm.z * ahi) - dm.y * (sm.y * sx.x + sm.w * sx.y);
#elif defined(TYPE_Q6_K)
  uint n = c / 4u, L = 16u * (c % 4u), qd0 = L / 32u, l = L % 32u;
  uvec4 ql = w4[w].v[blk * 12u + c];
  uvec4 qh = w4[w].v[blk * 12u + 8u + 2u * n + l / 16u];
  float alo = 0.0, ahi = 0.0;
  [[unroll]] for (uint i = 0u; i < 4u; ++i) {
    uint lo = (ql[i] & 0x0F0F0F0Fu) | (((qh[i] >> (2u * qd0)) & 0x03030303u) << 4);
    uint hi = ((ql[i] >> 4) & 0x0F0F0F0Fu) | (((qh[i] >> (2u * qd0 + 4u)) & 0x03030303u) << 4);
    alo += dot(magic4(lo), xv[i]);
    ahi += dot(magic4(hi), xv[4u + i]);
  }
  uvec4 sc = w4[w].v[p.off1 / 4u + blk];
  uint is = 8u * n + l / 16u + 2u * qd0;
  return half_at(w, p.off2, blk) *
         (q6_scale(sc, is) * (alo - 32.0 * sx.x) + q6_scale(sc, is + 4u) * (ahi - 32.0 * sx.y));
#endif
}

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint row0 = (gl_WorkGroupID.z * gl_NumWorkGroups.x + gl_WorkGroupID.x) * NR;
  if (row0 >= p.n_out) return;  // whole workgroup leaves together
  const uint xb = (p.x_off + gl_WorkGroupID.y * p.x_stride) / 4u;
  const uint n_chunks = p.B * CPB;

  float acc[NR];
#ifdef GLU
  float acc_up[NR];
#endif
  [[unroll]] for (uint r = 0u; r < NR; ++r) {
    acc[r] = 0.0;
#ifdef GLU
    acc_up[r] = 0.0;
#endif
  }
  for (uint ch = tid; ch < n_chunks; ch += WG) {
    uint b = ch / CPB, c = ch % CPB;
    vec4 xv[8];
    vec2 sx;
    load_x(xb, b, c, xv, sx);
    [[unroll]] for (uint r = 0u; r < NR; ++r) {
      uint row = min(row0 + r, p.n_out - 1u);
      acc[r] += chunk_dot(0u, row * p.B + b, c, xv, sx);
#ifdef GLU
      acc_up[r] += chunk_dot(1u, row * p.B + b, c, xv, sx);
#endif
    }
  }

#ifdef GLU
  // reduce gate and up in two passes over the shared array
  [[unroll]] for (uint r = 0u; r < NR; ++r) {
    float s = subgroupAdd(acc[r]);
    if (subgroupElect()) red[r * WG + gl_SubgroupID] = s;
  }
  barrier();
  float gate = 0.0;
  if (tid < NR) {
    for (uint i = 0u; i < gl_NumSubgroups; ++i) gate += red[tid * WG + i];
  }
  barrier();
  [[unroll]] for (uint r = 0u; r < NR; ++r) {
    float s = subgroupAdd(acc_up[r]);
    if (subgroupElect()) red[r * WG + gl_SubgroupID] = s;
  }
  barrier();
  if (tid < NR && row0 + tid < p.n_out) {
    float up = 0.0;
    for (uint i = 0u; i < gl_NumSubgroups; ++i) up += red[tid * WG + i];
    y[p.y_off + gl_WorkGroupID.y * p.y_stride + row0 + tid] = gate / (1.0 + exp(-gate)) * up;
  }
#else
  [[unroll]] for (uint r = 0u; r < NR; ++r) {
    float s = subgroupAdd(acc[r]);
    if (subgroupElect()) red[r * WG + gl_SubgroupID] = s;
  }
  barrier();
  if (tid < NR && row0 + tid < p.n_out) {
    float s = 0.0;
    for (uint i = 0u; i < gl_NumSubgroups; ++i) s += red[tid * WG + i];
    uint row = row0 + tid;
    uint yi = p.y_off + gl_WorkGroupID.y * p.y_stride + row;
    if ((p.flags & 1u) != 0u) s += bias[row];
    if ((p.flags & 2u) != 0u) s += y[yi];
    y[yi] = s;
  }
#endif
}
