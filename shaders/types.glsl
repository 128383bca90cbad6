// types.glsl: the GPU-side layout of every weight type and element-wise dequantization.
//
// Weights are uploaded in a "GPU layout" (engine/vulkan/vk_repack.cpp) made of up to three
// regions in one buffer, addressed in 32-bit words: region 0 at word 0 holds the quant bytes
// of every block (row-major, rows of B blocks), region 1 at word `off1` and region 2 at
// word `off2` hold per-block metadata. Every region starts on a 16-byte boundary and region
// 0 is read as uvec4 (16-byte loads). The C block structs of kernels/blocks.h map as:
//   F32   block of 32 elems: r0 32 words (rows zero-padded to a multiple of 32)
//   F16   block of 32 elems: r0 16 words (f16 pairs)           BF16: same, bf16 pairs
//   Q4_0  { half d; u8 qs[16]; }        r0 qs (4 words)   r1 d (f16, two per word)
//   Q4_1  { half d, m; u8 qs[16]; }     r0 qs (4 words)   r1 d|m (1 word)
//   Q5_0  { half d; u8 qh[4]; u8 qs[16]; } r0 qs (4 words) r1 qh (1 word) r2 d (f16 pairs)
//   Q5_1  { half d, m; u8 qh[4]; u8 qs[16]; } r0 qs  r1 qh (1 word)  r2 d|m (1 word)
//   Q8_0  { half d; i8 qs[32]; }        r0 qs (8 words)   r1 d (f16 pairs)
//   Q4_K  { half d, dmin; u8 scales[12]; u8 qs[128]; }              r0 raw block (36 words)
//   Q5_K  { half d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]; }   r0 raw block (44 words)
//   Q6_K  { u8 ql[128]; u8 qh[64]; i8 scales[16]; half d; }
//         r0 ql|qh (48 words)   r1 scales (4 words)   r2 d (f16 pairs)
//
// The including shader defines W_BINDING (binding number) and W_COUNT (array size: 2 when
// it reads two weights at once), and one of TYPE_F32 ... TYPE_Q6_K.
#extension GL_EXT_control_flow_attributes : enable

layout(binding = W_BINDING) readonly buffer WeightVec4 { uvec4 v[]; } w4[W_COUNT];
layout(binding = W_BINDING) readonly buffer WeightWord { uint v[]; } w1[W_COUNT];

#if defined(TYPE_F32)
#define QK 32u
#elif defined(TYPE_F16) || defined(TYPE_BF16)
#define QK 32u
#elif defined(TYPE_Q4_0) || defined(TYPE_Q4_1) || defined(TYPE_Q5_0) || defined(TYPE_Q5_1) || defined(TYPE_Q8_0)
#define QK 32u
#elif defined(TYPE_Q4_K) || defined(TYPE_Q5_K) || defined(TYPE_Q6_K)
#define QK 256u
#else
#error "no TYPE_* defined"
#endif

// idx-th f16 of a region of packed halves starting at word `off`.
float half_at(uint w, uint off, uint idx) {
  uint word = w1[w].v[off + (idx >> 1)];
  return unpackHalf2x16(word >> ((idx & 1u) * 16u)).x;
}

uvec4 bytes4(uint word) { return uvec4(word, word >> 8, word >> 16, word >> 24) & 0xFFu; }
vec4 lo_nibbles(uint word) { return vec4(uvec4(word, word >> 8, word >> 16, word >> 24) & 0xFu); }
vec4 hi_nibbles(uint word) { return vec4((uvec4(word, word >> 8, word >> 16, word >> 24) >> 4) & 0xFu); }
vec4 signed_bytes(uint word) {
  int s = int(word);
  return vec4(ivec4(s << 24, s << 16, s << 8, s) >> 24);
}
// Bits b..b+3 of h as a vec4 of 0/1.
vec4 bits4(uint h, uint b) { return vec4((uvec4(h) >> uvec4(b, b + 1u, b + 2u, b + 3u)) & 1u); }

// Each byte lane of v as a float, without int->float conversions: the lane is placed in
// the low mantissa bits of 2^23 and 2^23 subtracted, giving (b0, 256 b1, 256 b2, b3)
// exactly for any bytes; pair it with x scaled by kLaneScale.
vec4 magic4(uint v) {
  return uintBitsToFloat(uvec4(v & 0xFFu, v & 0xFF00u, (v >> 8) & 0xFF00u, v >> 24) | 0x4B000000u) -
         8388608.0;
}
const vec4 kLaneScale = vec4(1.0, 1.0 / 256.0, 1.0 / 256.0, 1.0);
// Bits 0..3 of b moved to bit 0 of byte lanes 0..3.
uint spread4(uint b) { return (b * 0x00204081u) & 0x01010101u; }

#if defined(TYPE_Q4_K) || defined(TYPE_Q5_K)
// Scales (x) and mins (y) of sub-blocks j and j + 1 (j even), branch-free.
vec4 kscale_min_pair(uvec4 meta, uint j) {
  uint sc_lo = meta.y & 0x3F3F3F3Fu, m_lo = meta.z & 0x3F3F3F3Fu;
  uint sc_hi = (meta.w & 0x0F0F0F0Fu) | ((meta.y >> 2) & 0x30303030u);
  uint m_hi = ((meta.w >> 4) & 0x0F0F0F0Fu) | ((meta.z >> 2) & 0x30303030u);
  uint sw = j < 4u ? sc_lo : sc_hi, mw = j < 4u ? m_lo : m_hi;
  uint sh = (j & 3u) * 8u;
  return vec4((sw >> sh) & 0xFFu, (mw >> sh) & 0xFFu, (sw >> (sh + 8u)) & 0xFFu, (mw >> (sh + 8u)) & 0xFFu);
}
// Byte k (0..11) of the scales packed in meta.yzw.
uint kscale_byte(uvec4 meta, uint k) {
  uint word = k < 4u ? meta.y : (k < 8u ? meta.z : meta.w);
  return (word >> ((k & 3u) * 8u)) & 0xFFu;
}
// 6-bit scale and min of sub-block j (FORMATS.md, Q4_K).
vec2 kscale_min(uvec4 meta, uint j) {
  uint sc, m;
  if (j < 4u) {
    sc = kscale_byte(meta, j) & 63u;
    m = kscale_byte(meta, j + 4u) & 63u;
  } else {
    sc = (kscale_byte(meta, j + 4u) & 15u) | ((kscale_byte(meta, j - 4u) >> 6) << 4);
    m = (kscale_byte(meta, j + 4u) >> 4) | ((kscale_byte(meta, j) >> 6) << 4);
  }
  return vec2(sc, m);
}
#endif

#if defined(TYPE_Q6_K)
// Signed scale k (0..15) of a Q6_K block.
float q6_scale(uvec4 sc, uint k) {
  uint word = sc[k >> 2];
  return float(int(word << (24u - (k & 3u) * 8u)) >> 24);
}
#endif

// Elements 4*e4 .. 4*e4+3 of block `blk` of weight `w`.
vec4 dequant4(uint w, uint blk, uint e4, uint off1, uint off2) {
  uint e = e4 * 4u;
#if defined(TYPE_F32)
  uvec4 q = w4[w].v[blk * 8u + e4];
  return uintBitsToFloat(q);
#elif defined(TYPE_F16)
  uint a = w1[w].v[blk * 16u + e4 * 2u], b = w1[w].v[blk * 16u + e4 * 2u + 1u];
  return vec4(unpackHalf2x16(a), unpackHalf2x16(b));
#elif defined(TYPE_BF16)
  uint a = w1[w].v[blk * 16u + e4 * 2u], b = w1[w].v[blk * 16u + e4 * 2u + 1u];
  return uintBitsToFloat(uvec4(a << 16, a & 0xFFFF0000u, b << 16, b & 0xFFFF0000u));
#elif defined(TYPE_Q4_0) || defined(TYPE_Q4_1) || defined(TYPE_Q5_0) || defined(TYPE_Q5_1)
  uint word = w1[w].v[blk * 4u + (e4 & 3u)];
  vec4 q = e < 16u ? lo_nibbles(word) : hi_nibbles(word);
#if defined(TYPE_Q5_0) || defined(TYPE_Q5_1)
  q += 16.0 * bits4(w1[w].v[off1 + blk], e);
#endif
#if defined(TYPE_Q4_0)
  return half_at(w, off1, blk) * (q - 8.0);
#elif defined(TYPE_Q5_0)
  return half_at(w, off2, blk) * (q - 16.0);
#elif defined(TYPE_Q4_1)
  vec2 dm = unpackHalf2x16(w1[w].v[off1 + blk]);
  return dm.x * q + dm.y;
#else
  vec2 dm = unpackHalf2x16(w1[w].v[off2 + blk]);
  return dm.x * q + dm.y;
#endif
#elif defined(TYPE_Q8_0)
  return half_at(w, off1, blk) * signed_bytes(w1[w].v[blk * 8u + e4]);
#elif defined(TYPE_Q4_K) || defined(TYPE_Q5_K)
#if defined(TYPE_Q4_K)
  const uint words = 36u, qs0 = 4u;
#else
  const uint words = 44u, qs0 = 12u;
#endif
  uvec4 meta = w4[w].v[blk * (words / 4u)];
  uint cc = e / 64u, r = e % 64u, l = r % 32u, hi = r / 32u;
  uint word = w1[w].v[blk * words + qs0 + (32u * cc + l) / 4u];
  vec4 q = hi == 0u ? lo_nibbles(word) : hi_nibbles(word);
#if defined(TYPE_Q5_K)
  uvec4 h = bytes4(w1[w].v[blk * words + 4u + l / 4u]);
  q += 16.0 * vec4((h >> (2u * cc + hi)) & 1u);
#endif
  vec2 dm = unpackHalf2x16(meta.x);
  vec2 sm = kscale_min(meta, 2u * cc + hi);
  return dm.x * sm.x * q - dm.y * sm.y;
#elif defined(TYPE_Q6_K)
  uint n = e / 128u, r = e % 128u, qd = r / 32u, l = r % 32u;
  uint ql = w1[w].v[blk * 48u + (64u * n + l + (qd & 1u) * 32u) / 4u];
  vec4 lo = qd >= 2u ? hi_nibbles(ql) : lo_nibbles(ql);
  uvec4 h = bytes4(w1[w].v[blk * 48u + 32u + (32u * n + l) / 4u]);
  vec4 q = lo + 16.0 * vec4((h >> (2u * qd)) & 3u) - 32.0;
  uvec4 sc = w4[w].v[off1 / 4u + blk];
  return half_at(w, off2, blk) * q6_scale(sc, 8u * n + l / 16u + 2u * qd) * q;
#endif
}
