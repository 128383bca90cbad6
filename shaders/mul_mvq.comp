#version 450
// mul_mvq: y[t][r] = dot(W row r, q8(x[t])) for Q8_0, Q4_K and Q6_K weights with 8-bit
// integer dot products (SPIR-V OpSDot, 4x8-bit packed). Each workgroup first quantizes its
// token's activation row into shared memory as Q8_1-like blocks of 32 (int8 q, f32 scale
// d = amax / 127, f32 s = d * sum(q)), optionally applying rms_norm first (flags & 4:
// x = x / sqrt(mean(x^2) + eps) * norm_w), so no separate norm or quantize dispatch runs.
// The workgroup then owns NR consecutive rows; its threads stride over the rows' 16-byte
// chunks of quant data (coalesced uvec4 loads) and reuse the shared q8 x for the NR rows.
// Variant GLU (W_COUNT 2): y = silu(Wgate x) * (Wup x), both weights the same type/shape.
//
// bindings: 0 weights[W_COUNT] (GPU layout, types.glsl), 1 x (f32), 2 y (f32),
//           3 bias (f32 [n_out], read when flags & 1), 4 norm_w (f32 [n_in], flags & 4)
// push:     n_in, n_out, B (blocks per row), off1, off2 (region word offsets),
//           x_off, x_stride, y_off, y_stride (floats; multiples of 4),
//           flags (1: add bias, 2: accumulate into y, 4: rms_norm x first), eps
// spec:     0 WG (threads), 1 NR (rows per workgroup), 2 MAX_IN (longest n_in, multiple of 32)
// grid:     x * z = ceil(n_out / NR) workgroups, y = tokens
#extension GL_KHR_shader_subgroup_arithmetic : enable
#extension GL_KHR_shader_subgroup_basic : enable
#extension GL_GOOGLE_include_directive : enable
#extension GL_EXT_spirv_intrinsics : require

#define W_BINDING 0
#ifdef GLU
#define W_COUNT 2
#else
#define W_COUNT 1
#endif
#include "types.glsl"

layout(constant_id = 0) const uint WG = 128;
layout(constant_id = 1) const uint NR = 2;
layout(constant_id = 2) const uint MAX_IN = 16384;
layout(local_size_x_id = 0) in;
#include "reduce.glsl"

layout(binding = 1) readonly buffer X4 { vec4 x4[]; };
layout(binding = 2) buffer Y { float y[]; };
layout(binding = 3) readonly buffer Bias { float bias[]; };
layout(binding = 4) readonly buffer NormW { vec4 norm_w4[]; };

layout(push_constant) uniform Push {
  uint n_in, n_out, B, off1, off2, x_off, x_stride, y_off, y_stride, flags;
  float eps;
} p;

// OpSDot with PackedVectorFormat4x8Bit: sum of the products of the four signed bytes.
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6019, 6018], id = 4450)
int sdot4x8(uint a, uint b, spirv_literal int packed_format);
int dot4(uint a, uint b) { return sdot4x8(a, b, 0); }
int dot16(uvec4 a, uvec4 b) {
  return dot4(a.x, b.x) + dot4(a.y, b.y) + dot4(a.z, b.z) + dot4(a.w, b.w);
}

// chunks (16 bytes of region-0 data) per block
#if defined(TYPE_Q8_0)
#define CPB 2u
#elif defined(TYPE_Q4_K) || defined(TYPE_Q6_K)
#define CPB 8u
#else
#error "mul_mvq supports Q8_0, Q4_K and Q6_K"
#endif

shared uvec4 xq[MAX_IN / 16u];  // int8 x, 16 per entry
shared vec2 xds[MAX_IN / 32u];  // (d, d * sum q) per block of 32
// per-subgroup partial sums of each row (subgroups have at least 4 invocations)
const uint NSG = WG / 4u;
shared float red[NR * NSG];

// Quantizes this workgroup's x row (rms-normalized when flags & 4) into xq/xds.
void quantize_x(uint xb) {
  const uint tid = gl_LocalInvocationID.x;
  float scale = 1.0;
  if ((p.flags & 4u) != 0u) {
    float ss = 0.0;
    for (uint i = tid; i < p.n_in / 4u; i += WG) {
      vec4 v = x4[xb + i];
      ss += dot(v, v);
    }
    ss = wg_sum(ss);
    scale = 1.0 / sqrt(ss / float(p.n_in) + p.eps);
  }
  for (uint b = tid; b < p.n_in / 32u; b += WG) {
    vec4 v[8];
    float amax = 0.0;
    [[unroll]] for (uint i = 0u; i < 8u; ++i) {
      v[i] = x4[xb + b * 8u + i];
      if ((p.flags & 4u) != 0u) v[i] *= scale * norm_w4[b * 8u + i];
      vec4 a = abs(v[i]);
      amax = max(amax, max(max(a.x, a.y), max(a.z, a.w)));
    }
    const float d = amax / 127.0;
    const float id = d > 0.0 ? 1.0 / d : 0.0;
    int sum = 0;
    uint words[8];
    [[unroll]] for (uint i = 0u; i < 8u; ++i) {
      ivec4 q = ivec4(round(v[i] * id));
      sum += q.x + q.y + q.z + q.w;
      uvec4 u = uvec4(q) & 0xFFu;
      words[i] = u.x | (u.y << 8) | (u.z << 16) | (u.w << 24);
    }
    xq[2u * b] = uvec4(words[0], words[1], words[2], words[3]);
    xq[2u * b + 1u] = uvec4(words[4], words[5], words[6], words[7]);
    xds[b] = vec2(d, d * float(sum));
  }
  barrier();
}

// dot of chunk c of block blk of weight w with the shared q8 x from x block b on.
float chunk_dot(uint w, uint blk, uint b, uint c) {
#if defined(TYPE_Q8_0)
  // Q8_0 blocks line up with the x blocks; chunk c is x bytes 16c..16c+15
  int s = dot16(w4[w].v[blk * 2u + c], xq[2u * b + c]);
  return half_at(w, p.off1, blk) * xds[b].x * float(s);
#elif defined(TYPE_Q4_K)
  // chunk c: qs[16c..16c+15]; low nibbles are elements 64cc + 16h + [0,16) (sub-block
  // 2cc), high nibbles the same + 32 (sub-block 2cc + 1), cc = c / 2, h = c & 1
  uvec4 meta = w4[w].v[blk * 9u];
  uvec4 q = w4[w].v[blk * 9u + 1u + c];
  const uint cc = c / 2u, h = c & 1u;
  const uint xlo = b + 2u * cc;  // x block of the low nibbles
  int dlo = dot16(q & 0x0F0F0F0Fu, xq[2u * xlo + h]);
  int dhi = dot16((q >> 4) & 0x0F0F0F0Fu, xq[2u * xlo + 2u + h]);
  vec2 dm = unpackHalf2x16(meta.x);
  vec4 sm = kscale_min_pair(meta, 2u * cc);
  vec2 ds_lo = xds[xlo], ds_hi = xds[xlo + 1u];
  float r = dm.x * (sm.x * ds_lo.x * float(dlo) + sm.z * ds_hi.x * float(dhi));
  // the min term covers the whole sub-block: count it in the h == 0 chunk only
  if (h == 0u) r -= dm.y * (sm.y * ds_lo.y + sm.w * ds_hi.y);
  return r;
#elif defined(TYPE_Q6_K)
  // chunk c: ql[16c..+16] of half n = c / 4 at L = 16 (c % 4) = 32 qd0 + l; low nibbles
  // are elements 128n + 32qd0 + l + [0,16), high nibbles the same + 64
  const uint n = c / 4u, L = 16u * (c % 4u), qd0 = L / 32u, l = L % 32u;
  uvec4 ql = w4[w].v[blk * 12u + c];
  uvec4 qh = w4[w].v[blk * 12u + 8u + 2u * n + l / 16u];
  uvec4 lo = (ql & 0x0F0F0F0Fu) | (((qh >> (2u * qd0)) & 0x03030303u) << 4);
  uvec4 hi = ((ql >> 4) & 0x0F0F0F0Fu) | (((qh >> (2u * qd0 + 4u)) & 0x03030303u) << 4);
  // q - 32 per byte without borrows: ((q | 0x80) - 0x20) ^ 0x80
  lo = ((lo | 0x80808080u) - 0x20202020u) ^ 0x80808080u;
  hi = ((hi | 0x80808080u) - 0x20202020u) ^ 0x80808080u;
  const uint xlo = b + 4u * n + qd0;
  int dlo = dot16(lo, xq[2u * xlo + l / 16u]);
  int dhi = dot16(hi, xq[2u * (xlo + 2u) + l / 16u]);
  uvec4 sc = w4[w].v[p.off1 / 4u + blk];
  const uint is = 8u * n + l / 16u + 2u * qd0;
  return half_at(w, p.off2, blk) * (q6_scale(sc, is) * xds[xlo].x * float(dlo) +
                                    q6_scale(sc, is + 4u) * xds[xlo + 2u].x * float(dhi));
#endif
}

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint row0 = (gl_WorkGroupID.z * gl_NumWorkGroups.x + gl_WorkGroupID.x) * NR;
  if (row0 >= p.n_out) return;  // whole workgroup leaves together
  quantize_x((p.x_off + gl_WorkGroupID.y * p.x_stride) / 4u);
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
    const uint blk = ch / CPB, c = ch % CPB;
    // x block of the chunk's block start (Q8_0: one x block; K-quants: eight)
    const uint b = blk * (QK / 32u);
    [[unroll]] for (uint r = 0u; r < NR; ++r) {
      uint row = min(row0 + r, p.n_out - 1u);
      acc[r] += chunk_dot(0u, row * p.B + blk, b, c);
#ifdef GLU
      acc_up[r] += chunk_dot(1u, row * p.B + blk, b, c);
#endif
    }
  }

#ifdef GLU
  // reduce gate and up in two passes over the shared array
  [[unroll]] for (uint r = 0u; r < NR; ++r) {
    float s = subgroupAdd(acc[r]);
    if (subgroupElect()) red[r * NSG + gl_SubgroupID] = s;
  }
  barrier();
  float gate = 0.0;
  if (tid < NR) {
    for (uint i = 0u; i < gl_NumSubgroups; ++i) gate += red[tid * NSG + i];
  }
  barrier();
  [[unroll]] for (uint r = 0u; r < NR; ++r) {
    float s = subgroupAdd(acc_up[r]);
    if (subgroupElect()) red[r * NSG + gl_SubgroupID] = s;
  }
  barrier();
  if (tid < NR && row0 + tid < p.n_out) {
    float up = 0.0;
    for (uint i = 0u; i < gl_NumSubgroups; ++i) up += red[tid * NSG + i];
    y[p.y_off + gl_WorkGroupID.y * p.y_stride + row0 + tid] = gate / (1.0 + exp(-gate)) * up;
  }
#else
  [[unroll]] for (uint r = 0u; r < NR; ++r) {
    float s = subgroupAdd(acc[r]);
    if (subgroupElect()) red[r * NSG + gl_SubgroupID] = s;
  }
  barrier();
  if (tid < NR && row0 + tid < p.n_out) {
    float s = 0.0;
    for (uint i = 0u; i < gl_NumSubgroups; ++i) s += red[tid * NSG + i];
    uint row = row0 + tid;
    uint yi = p.y_off + gl_WorkGroupID.y * p.y_stride + row;
    if ((p.flags & 1u) != 0u) s += bias[row];
    if ((p.flags & 2u) != 0u) s += y[yi];
    y[yi] = s;
  }
#endif
}
