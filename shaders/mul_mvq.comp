#version 450
// mul_mvq: y[t][r] = dot(W row r, x[t]) for Q8_0, Q4_K and Q6_K weights with 8-bit
// integer dot products (SPIR-V OpSDot, 4x8-bit packed), x already quantized by
// quantize_q8.comp into Q8_1-like blocks of 32 (int8 q, f32 d = amax / 127, f32
// s = d * sum(q)); see that shader for the buffer layout. A row group of threads owns NR
// consecutive rows; its threads stride over the rows' 16-byte chunks of quant data (Q4_K:
// 32-byte pairs; coalesced uvec4 loads) and reuse the x values they load for the NR rows.
// Variant GLU (W_COUNT 2): y = silu(Wgate x) * (Wup x), both weights the same type/shape.
// flags & 16: x holds blocks of x * norm_w written by a QOUT variant with norm (below),
// whose d is amax / 127 of the unnormalized values; the per-block sums of squares of x
// next to them give 1 / sqrt(mean(x^2) + eps), which scales W x (before bias/accumulate/
// silu): the same result as quantizing rms_norm(x) * norm_w.
// Variant QOUT: a workgroup holds NG row groups, 32 rows together (one block of y), and
// also writes y's rows quantized into the Q8 buffer of binding 4 (row t at element
// t * n_out): with flags & 8 the values y * norm_w (binding 5), with d = amax / 127 of
// those and the sum of y^2 of each block at o_ps_off (the input side of flags & 16).
//
// bindings: 0 weights[W_COUNT] (GPU layout, types.glsl), 1 x (Q8 activations), 2 y (f32),
//           3 bias (f32 [n_out], read when flags & 1), 4 y quantized (QOUT) or per head
//           (HEADS), 5 norm_w
// push:     n_in, n_out, B (blocks per row), off1, off2 (region word offsets),
//           x_off, x_stride (elements of x; multiples of 32), y_off, y_stride (floats),
//           flags (1: add bias, 2: accumulate into y, 8: QOUT with norm, 16: x with sums
//           of squares), ds_off (vec2 index of x's scales), ps_off (float index of x's
//           sums of squares), o_ds_off, o_ps_off (the same in binding 4), eps
// spec:     0 WG (threads of the workgroup), 1 NR (rows per row group), 2 NG (QOUT: row
//           groups per workgroup, NR * NG == 32; WG / NG a multiple of the subgroup size),
//           3 UNR (chunks a thread loads at once)
// grid:     x * z = ceil(n_out / (NR * NG)) workgroups, y = tokens
// Variant QKV (W_COUNT 3): q, k and v of one type and row length in one dispatch; weight
// w (binding 0 element w) writes binding 2 element w and adds binding 3 element w (flags
// & 1). Weight 0 has n_out rows (off1, off2, y_off, y_stride as above), weights 1 and 2
// kv_rows each (kv_off1, kv_off2, y_off 0, y_stride kv_rows); n_w 2 leaves weight 2 out. The
// grid covers ceil(n_out / NR) + (n_w - 1) ceil(kv_rows / NR) workgroups, in that order.
// Variant HEADS (not with GLU or QOUT; one token; Tuning::attn_wait): y goes not to binding
// 2 but to binding 4 laid out per query head for attn_decode_wait, which polls it: head h's
// q, k and v (3 h_hd values; slot 0 q, 1 k, 2 v) from 3 h_hd h, each kv head's k and v
// written once for each of its h_group query heads. Slot: QKV weight w's is w, the plain
// variant's h_slot. A value whose bits are HEAD_EMPTY (what attn_decode_wait leaves there
// after reading) is written as another NaN.
// Variant XF32: x arrives as f32 (binding 1, x_off/x_stride in floats, multiples of 4;
// n_in <= XF32_MAX); each workgroup first quantizes its token's row into shared memory
// exactly as quantize_q8.comp would (no norm, no flags & 16), saving that stage; two
// neighbouring invocations a block (q8_half_block), and Q6_K's first round of weights is
// requested before it (FIRST_ROUND_EARLY).
// Variant YH16 (GLU, no QOUT): y also written as f16 into binding 4 (a value of f16's range
// or more, or NaN, as infinity), for an XH16 reader. Variant XH16 (XF32): x read as those
// halves from binding 6 (rows as in binding 1, x_off/x_stride multiples of 8), each half
// block of 16 that holds an infinity or NaN from the f32 of binding 1 instead: half the
// bytes each workgroup reads before it starts (a Q8 block rounds the halves as it would
// the floats, or by one step where the rounding of a half crossed a step's midpoint).
#extension GL_KHR_shader_subgroup_arithmetic : enable
#extension GL_KHR_shader_subgroup_basic : enable
#extension GL_KHR_shader_subgroup_shuffle : enable
#extension GL_GOOGLE_include_directive : enable
#extension GL_EXT_spirv_intrinsics : require

#define W_BINDING 0
#ifdef GLU
#define W_COUNT 2
#elif defined(QKV)
#define W_COUNT 3
#else
#define W_COUNT 1
#endif
#include "types.glsl"
#include "q8.glsl"

layout(constant_id = 0) const uint WG = 128;
layout(constant_id = 1) const uint NR = 2;
#ifdef QOUT
layout(constant_id = 2) const uint NG = 16;
#else
const uint NG = 1u;
#endif
// chunks a thread loads before using any (Tuning::MvqoShape::unroll, o_unroll)
layout(constant_id = 3) const uint UNR = 1;
layout(local_size_x_id = 0) in;
const uint GT = WG / NG;  // threads per row group
const uint RW = NR * NG;  // rows per workgroup
const uint UNR_NR = UNR * NR;  // chunks of weight data a thread loads a round

#ifdef XF32
const uint XF32_MAX = 32768u;  // Ops::kMvqF32MaxIn
layout(binding = 1) readonly buffer XF { vec4 xf4[]; };
shared uvec4 sxq[XF32_MAX / 16u];
shared vec2 sxds[XF32_MAX / 32u];
#define XQ sxq
#define XDS sxds
#else
layout(binding = 1) readonly buffer XQ { uvec4 xq[]; };
layout(binding = 1) readonly buffer XDS { vec2 xds[]; };
layout(binding = 1) readonly buffer XPS { float xps[]; };
#define XQ xq
#define XDS xds
#endif
#ifdef QKV
layout(binding = 2) buffer Y { float v[]; } ys[W_COUNT];
layout(binding = 3) readonly buffer Bias { float v[]; } bs[W_COUNT];
#define Y_AT(w, i) ys[w].v[i]
#define BIAS_AT(w, i) bs[w].v[i]
#else
layout(binding = 2) buffer Y { float y[]; };
layout(binding = 3) readonly buffer Bias { float bias[]; };
#define Y_AT(w, i) y[i]
#define BIAS_AT(w, i) bias[i]
#endif
#ifdef YH16
#extension GL_EXT_shader_16bit_storage : require
layout(binding = 4) writeonly buffer YH { float16_t yh[]; };
#endif
#ifdef XH16
layout(binding = 6) readonly buffer XH { uvec4 xh4[]; };
#endif
#ifdef HEADS
layout(binding = 4) coherent writeonly buffer Heads { uint hw[]; };
const uint HEAD_EMPTY = 0xFFFFFFFFu;  // as in attn_decode.comp
#endif
#ifdef QOUT
layout(binding = 4) writeonly buffer OQ { uint oq[]; };
layout(binding = 4) writeonly buffer ODS { vec2 ods[]; };
layout(binding = 4) writeonly buffer OPS { float ops[]; };
layout(binding = 5) readonly buffer NormW { float norm_w[]; };
#endif

layout(push_constant) uniform Push {
  uint n_in, n_out, B, off1, off2, x_off, x_stride, y_off, y_stride, flags, ds_off, ps_off,
      o_ds_off, o_ps_off;
  float eps;
#ifdef QKV
  uint kv_rows, kv_off1, kv_off2, n_w;
#endif
#ifdef HEADS
  uint h_hd, h_slot, h_group;
#endif
} p;

// the metadata regions of weight w (QKV: weights 1 and 2 have their own)
#ifdef QKV
#define OFF1(w) ((w) == 0u ? p.off1 : p.kv_off1)
#define OFF2(w) ((w) == 0u ? p.off2 : p.kv_off2)
#else
#define OFF1(w) p.off1
#define OFF2(w) p.off2
#endif

// OpSDot with PackedVectorFormat4x8Bit: sum of the products of the four signed bytes.
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6019, 6018], id = 4450)
int sdot4x8(uint a, uint b, spirv_literal int packed_format);
int dot4(uint a, uint b) { return sdot4x8(a, b, 0); }
int dot16(uvec4 a, uvec4 b) {
  return dot4(a.x, b.x) + dot4(a.y, b.y) + dot4(a.z, b.z) + dot4(a.w, b.w);
}

// chunks (16 bytes of region-0 data; Q4_K: 32 bytes, one pair of sub-blocks, so the
// scales are decoded once for both halves) per block
#if defined(TYPE_Q8_0)
#define CPB 2u
#elif defined(TYPE_Q4_K)
#define CPB 4u
#elif defined(TYPE_Q6_K)
#define CPB 8u
#else
#error "mul_mvq supports Q8_0, Q4_K and Q6_K"
#endif

// per-subgroup partial sums of each row of each weight (subgroups have at least 4
// invocations)
const uint NSG = WG / 4u;
shared float red[W_COUNT * NR * NSG];

// The x values chunk c of a block multiplies: 16 int8 for the low and the high nibbles
// (Q8_0: lo only) and the (d, s) of their blocks. b: x block where the weight block starts.
struct XChunk {
  uvec4 qlo, qhi;
  uvec4 qlo2, qhi2;  // Q4_K: the second 16 bytes of each
  vec2 dlo, dhi;
};

XChunk load_x(uint qb, uint db, uint b, uint c) {
  XChunk x;
  x.qlo2 = x.qhi2 = uvec4(0u);
#if defined(TYPE_Q8_0)
  // Q8_0 blocks line up with the x blocks; chunk c is x bytes 16c..16c+15
  x.qlo = XQ[qb + 2u * b + c];
  x.qhi = uvec4(0u);
  x.dlo = XDS[db + b];
  x.dhi = vec2(0.0);
#elif defined(TYPE_Q4_K)
  // chunk c: qs[32c..32c+31]; low nibbles are elements 64c + [0,32) (sub-block 2c), high
  // nibbles the same + 32 (sub-block 2c + 1)
  const uint xlo = b + 2u * c;
  x.qlo = XQ[qb + 2u * xlo];
  x.qlo2 = XQ[qb + 2u * xlo + 1u];
  x.qhi = XQ[qb + 2u * xlo + 2u];
  x.qhi2 = XQ[qb + 2u * xlo + 3u];
  x.dlo = XDS[db + xlo];
  x.dhi = XDS[db + xlo + 1u];
#elif defined(TYPE_Q6_K)
  // chunk c: ql[16c..+16] of half n = c / 4 at L = 16 (c % 4) = 32 qd0 + l; low nibbles
  // are elements 128n + 32qd0 + l + [0,16), high nibbles the same + 64
  const uint n = c / 4u, L = 16u * (c % 4u), qd0 = L / 32u, l = L % 32u;
  const uint xlo = b + 4u * n + qd0;
  x.qlo = XQ[qb + 2u * xlo + l / 16u];
  x.qhi = XQ[qb + 2u * (xlo + 2u) + l / 16u];
  x.dlo = XDS[db + xlo];
  x.dhi = XDS[db + xlo + 2u];
#endif
  return x;
}

#if defined(TYPE_Q6_K)
// The scale of chunk c's low nibbles (is) within its block; its high nibbles' is is + 4.
uint q6_chunk_scale(uint c) { return 8u * (c / 4u) + (c % 4u) % 2u + 2u * ((c % 4u) / 2u); }
// Signed byte b (0..3) of a scale word.
float q6_scale_byte(uint word, uint b) { return float(int(word << (24u - b * 8u)) >> 24); }
#endif

// The weight data of chunk c of block blk of weight w, loaded apart from its use so that a
// thread can have the loads of UNR chunks in flight at once.
struct WChunk {
#if defined(TYPE_Q8_0)
  uvec4 q;
  float d;
#elif defined(TYPE_Q4_K)
  uvec4 meta, q, q2;
#elif defined(TYPE_Q6_K)
  uvec4 ql, qh;
  uvec2 sc;  // the scale words holding scales is and is + 4 (is: q6_chunk_scale)
  float d;
#endif
};

WChunk load_w(uint w, uint blk, uint c) {
  WChunk k;
#if defined(TYPE_Q8_0)
  k.q = w4[w].v[blk * 2u + c];
  k.d = half_at(w, OFF1(w), blk);
#elif defined(TYPE_Q4_K)
  k.meta = w4[w].v[blk * 9u];
  k.q = w4[w].v[blk * 9u + 1u + 2u * c];
  k.q2 = w4[w].v[blk * 9u + 2u + 2u * c];
#elif defined(TYPE_Q6_K)
  const uint n = c / 4u, l = 16u * (c % 4u) % 32u;
  k.ql = w4[w].v[blk * 12u + c];
  k.qh = w4[w].v[blk * 12u + 8u + 2u * n + l / 16u];
  const uint is = q6_chunk_scale(c);
  k.sc = uvec2(w1[w].v[OFF1(w) + 4u * blk + is / 4u], w1[w].v[OFF1(w) + 4u * blk + is / 4u + 1u]);
  k.d = half_at(w, OFF2(w), blk);
#endif
  return k;
}

// Round ch0 of a thread's loop: its u-th chunk (a chunk past the row repeats ch0 and adds
// nothing).
uint round_chunk(uint ch0, uint u, uint n_chunks) {
  return ch0 + u * GT < n_chunks ? ch0 + u * GT : ch0;
}

// The weight data of round ch0 of weight w: UNR chunks of each of the NR rows from row0.
void load_round_w(uint w, uint ch0, uint n_chunks, uint row0, uint n_rows,
                  out WChunk wu[UNR_NR]) {
  [[unroll]] for (uint u = 0u; u < UNR; ++u) {
    const uint ch = round_chunk(ch0, u, n_chunks);
    [[unroll]] for (uint r = 0u; r < NR; ++r)
      wu[u * NR + r] = load_w(w, min(row0 + r, n_rows - 1u) * p.B + ch / CPB, ch % CPB);
  }
}

// The x values of round ch0's chunks (the x block where each chunk's weight block starts;
// Q8_0: one x block, K-quants: eight).
void load_round_x(uint qb, uint db, uint ch0, uint n_chunks, out XChunk xu[UNR]) {
  [[unroll]] for (uint u = 0u; u < UNR; ++u) {
    const uint ch = round_chunk(ch0, u, n_chunks);
    xu[u] = load_x(qb, db, (ch / CPB) * (QK / 32u), ch % CPB);
  }
}

// dot of chunk c (weight data k) with the x values x.
float chunk_dot(WChunk k, uint c, XChunk x) {
#if defined(TYPE_Q8_0)
  int s = dot16(k.q, x.qlo);
  return k.d * x.dlo.x * float(s);
#elif defined(TYPE_Q4_K)
  uvec4 q = k.q, q2 = k.q2;
  int dlo = dot16(q & 0x0F0F0F0Fu, x.qlo) + dot16(q2 & 0x0F0F0F0Fu, x.qlo2);
  int dhi = dot16((q >> 4) & 0x0F0F0F0Fu, x.qhi) + dot16((q2 >> 4) & 0x0F0F0F0Fu, x.qhi2);
  vec2 dm = unpackHalf2x16(k.meta.x);
  vec4 sm = kscale_min_pair(k.meta, 2u * c);
  return dm.x * (sm.x * x.dlo.x * float(dlo) + sm.z * x.dhi.x * float(dhi)) -
         dm.y * (sm.y * x.dlo.y + sm.w * x.dhi.y);
#elif defined(TYPE_Q6_K)
  const uint qd0 = (c % 4u) / 2u;  // which 2-bit field of qh
  uvec4 ql = k.ql, qh = k.qh;
  uvec4 lo = (ql & 0x0F0F0F0Fu) | (((qh >> (2u * qd0)) & 0x03030303u) << 4);
  uvec4 hi = ((ql >> 4) & 0x0F0F0F0Fu) | (((qh >> (2u * qd0 + 4u)) & 0x03030303u) << 4);
  // q - 32 per byte without borrows: ((q | 0x80) - 0x20) ^ 0x80
  lo = ((lo | 0x80808080u) - 0x20202020u) ^ 0x80808080u;
  hi = ((hi | 0x80808080u) - 0x20202020u) ^ 0x80808080u;
  int dlo = dot16(lo, x.qlo);
  int dhi = dot16(hi, x.qhi);
  const uint is = q6_chunk_scale(c);
  return k.d * (q6_scale_byte(k.sc.x, is % 4u) * x.dlo.x * float(dlo) +
                q6_scale_byte(k.sc.y, is % 4u) * x.dhi.x * float(dhi));
#endif
}

#ifndef GLU
// Round ch0's products added to each row's sum. A chunk past the row adds nothing through
// a select: a branch (as gate/up has) made the H100's two-chunk q/k/v 7% slower (Q6_K 480
// against 446 us a token).
void round_products(uint ch0, uint n_chunks, XChunk xu[UNR], WChunk wu[UNR_NR],
                    inout float acc[NR]) {
  [[unroll]] for (uint u = 0u; u < UNR; ++u) {
    const bool in_row = ch0 + u * GT < n_chunks;
    const uint c = (in_row ? ch0 + u * GT : ch0) % CPB;
    [[unroll]] for (uint r = 0u; r < NR; ++r) {
      const float d = chunk_dot(wu[u * NR + r], c, xu[u]);
      acc[r] += in_row ? d : 0.0;
    }
  }
}
#endif

// Sum of each row's per-subgroup partials, for thread tid < RW (row group tid / NR, row
// tid % NR); the row group's subgroups are consecutive (GT a multiple of the subgroup size
// when NG > 1).
float row_total(uint tid, uint w) {
  const uint spg = NG == 1u ? gl_NumSubgroups : GT / gl_SubgroupSize;
  const uint r = (w * NR + tid % NR) * NSG, s0 = (tid / NR) * spg;
  float s = 0.0;
  for (uint i = 0u; i < spg; ++i) s += red[r + s0 + i];
  return s;
}

// the per-subgroup sums of acc (weight w's rows) into red
void reduce_rows(float acc[NR], uint w) {
  [[unroll]] for (uint r = 0u; r < NR; ++r) {
    float s = subgroupAdd(acc[r]);
    if (subgroupElect()) red[(w * NR + r) * NSG + gl_SubgroupID] = s;
  }
}

#ifdef QOUT
shared float q_val[RW], q_sq[RW];

// Thread tid < RW holds v (y, or y * norm_w) and sq (y^2) of row row0w + tid; the
// workgroup's RW = 32 rows are one block of the quantized output row of token t.
void quantize_out(uint tid, uint t, uint row0w, float v, float sq) {
  const uint e = t * p.n_out + row0w;  // first element of the block
  if (gl_SubgroupSize >= RW) {
    // the block's values are in subgroup 0 (tid < RW; its other invocations add nothing)
    if (gl_SubgroupID != 0u) return;
    const bool mine = tid < RW;
    float d;
    int sum;
    const uint w = q8_subgroup_word(v, mine, d, sum);
    const float ss = subgroupAdd(mine ? sq : 0.0);
    if (mine && (tid & 3u) == 0u) oq[e / 4u + tid / 4u] = w;
    if (tid == 0u) {
      ods[p.o_ds_off + e / 32u] = vec2(d, d * float(sum));
      if ((p.flags & 8u) != 0u) ops[p.o_ps_off + e / 32u] = ss;
    }
    return;
  }
  // smaller subgroups: through shared memory
  if (tid < RW) {
    q_val[tid] = v;
    q_sq[tid] = sq;
  }
  barrier();
  if (tid < RW / 4u) {
    float amax = 0.0;
    for (uint i = 0u; i < RW; ++i) amax = max(amax, abs(q_val[i]));
    const float d = amax / 127.0;
    const float id = d > 0.0 ? 1.0 / d : 0.0;
    int unused = 0;
    oq[e / 4u + tid] = q8_word(vec4(q_val[4u * tid], q_val[4u * tid + 1u], q_val[4u * tid + 2u],
                                    q_val[4u * tid + 3u]), id, unused);
    if (tid == 0u) {
      int sum = 0;
      float ss = 0.0;
      for (uint i = 0u; i < RW; ++i) {
        sum += int(roundEven(q_val[i] * id));
        ss += q_sq[i];
      }
      ods[p.o_ds_off + e / 32u] = vec2(d, d * float(sum));
      if ((p.flags & 8u) != 0u) ops[p.o_ps_off + e / 32u] = ss;
    }
  }
}
#endif

#ifdef HEADS
// row `row` of weight ws into its query heads' slots (see Variant HEADS)
void heads_store(uint ws, uint row, float v) {
  uint bits = floatBitsToUint(v);
  if (bits == HEAD_EMPTY) bits = 0x7FC00000u;
  const uint hd = p.h_hd, h = row / hd, d = row % hd;
#ifdef QKV
  const uint slot = ws;
#else
  const uint slot = p.h_slot;
#endif
  if (slot == 0u) {
    hw[3u * hd * h + d] = bits;
    return;
  }
  for (uint j = 0u; j < p.h_group; ++j) hw[((h * p.h_group + j) * 3u + slot) * hd + d] = bits;
}
#endif

void main() {
  const uint tid = gl_LocalInvocationID.x;
  uint wg_index = gl_WorkGroupID.z * gl_NumWorkGroups.x + gl_WorkGroupID.x;
#ifdef QKV
  // the workgroup's weight ws (uniform) and its rows, y offset and stride
  uint ws = 0u, n_rows = p.n_out, y_off = p.y_off, y_stride = p.y_stride;
  const uint gq = (p.n_out + RW - 1u) / RW, gkv = (p.kv_rows + RW - 1u) / RW;
  if (wg_index >= gq) {
    wg_index -= gq;
    ws = 1u + wg_index / gkv;
    wg_index %= gkv;
    n_rows = p.kv_rows;
    y_off = 0u;
    y_stride = p.kv_rows;
    if (ws >= p.n_w) return;
  }
#else
  const uint ws = 0u, n_rows = p.n_out, y_off = p.y_off, y_stride = p.y_stride;
#endif
  const uint wrow0 = wg_index * RW;
  if (wrow0 >= n_rows) return;  // whole workgroup leaves together
  const uint gt = tid % GT;                  // thread of the row group
  const uint row0 = wrow0 + (tid / GT) * NR;  // the row group's first row
  const uint t = gl_WorkGroupID.y;
  const uint xe = p.x_off + t * p.x_stride;  // first x element of the token
  const uint n_chunks = p.B * CPB;
#if defined(QOUT) && !defined(GLU)
#define EARLY_ROW_LOADS
#endif
#if defined(XF32) && defined(TYPE_Q6_K)
// mul_mvqox_q6_k requests its first round's weights before quantizing x (H100, Q6_K down
// with this and q8_half_block: 806.6 / 805.3 against 837.7 / 858.6 us a token);
// mul_mvqox_q8_0 gained nothing from it (951 / 953 against 954 / 957), and its unrolled
// variants then rounded unlike its one-chunk loop
#define FIRST_ROUND_EARLY
#endif
#ifdef EARLY_ROW_LOADS
  // what the end adds to (or scales) the row of thread tid < RW, loaded now so that their
  // latency overlaps the weights' instead of following the reduction. Only in mul_mvqo and
  // mul_mvqox: on the H100 it made mul_mvqo_glu's gate/up 29.6 -> 36.2 us a layer (its
  // registers are at the limit that keeps four workgroups on an SM) and the plain Q4_K
  // matvec 2172 -> 2107 GB/s (petrel bench kernels, 4096x14336)
  const uint row = wrow0 + tid;
  const bool live = tid < RW && row < p.n_out;
  const uint yi = p.y_off + t * p.y_stride + row;
  const float pre_bias = live && (p.flags & 1u) != 0u ? bias[row] : 0.0;
  const float pre_y = live && (p.flags & 2u) != 0u ? y[yi] : 0.0;
  const bool norm = (p.flags & 8u) != 0u;
  const float pre_norm = live && norm ? norm_w[row] : 1.0;
#endif
#ifdef XF32
#ifdef FIRST_ROUND_EARLY
  // the first round's weights, requested before x is quantized so that their latency
  // overlaps it (the loop below starts at the second round)
  WChunk w_first[UNR_NR];
  load_round_w(ws, gt, n_chunks, row0, n_rows, w_first);
#endif
  // the token's row quantized into shared memory (blocks of 32 as quantize_q8.comp), each
  // block by two neighbouring invocations, 16 values each (fewer registers held across it)
  for (uint hb = tid; hb < p.n_in / 16u; hb += WG) {
    vec4 v[4];
#ifdef XH16
    bool fits = true;
    [[unroll]] for (uint i = 0u; i < 2u; ++i) {
      const uvec4 h = xh4[xe / 8u + 2u * hb + i];
      v[2u * i] = vec4(unpackHalf2x16(h.x), unpackHalf2x16(h.y));
      v[2u * i + 1u] = vec4(unpackHalf2x16(h.z), unpackHalf2x16(h.w));
      fits = fits && all(lessThan(abs(v[2u * i]), vec4(65504.0))) &&
             all(lessThan(abs(v[2u * i + 1u]), vec4(65504.0)));
    }
    if (!fits)
      [[unroll]] for (uint i = 0u; i < 4u; ++i) v[i] = xf4[xe / 4u + 4u * hb + i];
#else
    [[unroll]] for (uint i = 0u; i < 4u; ++i) v[i] = xf4[xe / 4u + 4u * hb + i];
#endif
    vec2 ds;
    sxq[hb] = q8_half_block(v, ds);
    if ((hb & 1u) == 0u) sxds[hb / 2u] = ds;
  }
  barrier();
  const uint qb = 0u, db = 0u;
  const bool x_rms = false;
  float x_ss = 0.0;
#else
  const uint qb = xe / 16u, db = p.ds_off + xe / 32u;
  // flags & 16: this thread's share of the sums of squares of x (summed at the end)
  const bool x_rms = (p.flags & 16u) != 0u;
  float x_ss = 0.0;
  if (x_rms)
    for (uint i = gl_SubgroupInvocationID; i < p.n_in / 32u; i += gl_SubgroupSize)
      x_ss += xps[p.ps_off + xe / 32u + i];
#endif
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
#ifdef GLU
  if (UNR == 1u) {
    // gate/up one chunk a round: each row's products follow its loads (all NR rows' loads
    // of both weights first took more registers than the 4 workgroups an SM of
    // mul_mvqo_glu_q4_k have on the H100: 955 -> 1013 us a token)
    for (uint ch = gt; ch < n_chunks; ch += GT) {
      const uint blk = ch / CPB, c = ch % CPB;
      const XChunk x = load_x(qb, db, blk * (QK / 32u), c);
      [[unroll]] for (uint r = 0u; r < NR; ++r) {
        const uint row = min(row0 + r, n_rows - 1u);
        acc[r] += chunk_dot(load_w(0u, row * p.B + blk, c), c, x);
        acc_up[r] += chunk_dot(load_w(1u, row * p.B + blk, c), c, x);
      }
    }
  } else
#endif
  {
    // UNR chunks a round: every load of the round (GLU: of both weights) is issued before
    // any product, so a thread has UNR chunks' loads in flight
#ifdef FIRST_ROUND_EARLY
    uint ch0 = gt + UNR * GT;
    if (gt < n_chunks) {
      XChunk xu[UNR];
      load_round_x(qb, db, gt, n_chunks, xu);
      round_products(gt, n_chunks, xu, w_first, acc);
    }
#else
    uint ch0 = gt;
#endif
    for (; ch0 < n_chunks; ch0 += UNR * GT) {
      XChunk xu[UNR];
      WChunk wu[UNR_NR];
      load_round_x(qb, db, ch0, n_chunks, xu);
      load_round_w(ws, ch0, n_chunks, row0, n_rows, wu);
#ifdef GLU
      WChunk wup[UNR_NR];
      load_round_w(1u, ch0, n_chunks, row0, n_rows, wup);
      [[unroll]] for (uint u = 0u; u < UNR; ++u) {
        // a branch, not a select, so that the sums round as in the one-chunk loop above
        // (the NVIDIA compiler fuses the add into chunk_dot's last multiply only there)
        if (ch0 + u * GT >= n_chunks) break;
        const uint c = (ch0 + u * GT) % CPB;
        [[unroll]] for (uint r = 0u; r < NR; ++r) {
          acc[r] += chunk_dot(wu[u * NR + r], c, xu[u]);
          acc_up[r] += chunk_dot(wup[u * NR + r], c, xu[u]);
        }
      }
#else
      round_products(ch0, n_chunks, xu, wu, acc);
#endif
    }
  }
  // every subgroup sums the whole x row's squares itself (no barrier needed)
  const float x_scale = x_rms ? 1.0 / sqrt(subgroupAdd(x_ss) / float(p.n_in) + p.eps) : 1.0;

  float res = 0.0;
#ifndef EARLY_ROW_LOADS
  const uint row = wrow0 + tid;
  const bool live = tid < RW && row < n_rows;
  const uint yi = y_off + t * y_stride + row;
#endif
#ifdef GLU
  reduce_rows(acc, 0u);
  reduce_rows(acc_up, 1u);
  barrier();
  if (live) {
    const float gate = row_total(tid, 0u) * x_scale, up = row_total(tid, 1u) * x_scale;
    res = gate / (1.0 + exp(-gate)) * up;
    y[yi] = res;
#ifdef YH16
    yh[yi] = float16_t(abs(res) < 65504.0 ? res : uintBitsToFloat(0x7F800000u));
#endif
  }
#else
  reduce_rows(acc, 0u);
  barrier();
  if (live) {
    res = row_total(tid, 0u) * x_scale;
#ifdef EARLY_ROW_LOADS
    if ((p.flags & 1u) != 0u) res += pre_bias;
    if ((p.flags & 2u) != 0u) res += pre_y;
#else
    if ((p.flags & 1u) != 0u) res += BIAS_AT(ws, row);
    if ((p.flags & 2u) != 0u) res += Y_AT(ws, yi);
#endif
#ifdef HEADS
    heads_store(ws, row, res);
#else
    Y_AT(ws, yi) = res;
#endif
  }
#endif
#if defined(EARLY_ROW_LOADS)
  quantize_out(tid, t, wrow0, live && norm ? res * pre_norm : res, res * res);
#elif defined(QOUT)
  const bool norm = (p.flags & 8u) != 0u;
  quantize_out(tid, t, wrow0, live && norm ? res * norm_w[row] : res, res * res);
#endif
}
