// attn_common.glsl: pieces attn_fused.comp and attn_decode.comp share. The including shader
// declares, before including: WG, MAX_HD, binding 5 as oq (uvec4), oqw (uint) and ods
// (vec2), shared float of[MAX_HD], the push block p (with ds_off) and, with CLOCKS,
// binding 10 as clk (uvec2) and the clock extensions.

// Rounded to f16 and back: fresh keys and values are used as the cache holds them. The
// half is widened with integer ops (the NVIDIA compiler folds unpackHalf2x16(packHalf2x16
// (x)) to x): normal halves by rebasing the exponent (a 2^112 multiply), subnormal ones
// (which would be f32 denormals there, flushed to zero) as mantissa * 2^-24.
float f16r(float x) {
  const uint h = packHalf2x16(vec2(x, 0.0)), e = h & 0x7FFFu;
  const float mag = e < 0x400u ? float(e) * 5.9604644775390625e-8                 // 2^-24
                               : uintBitsToFloat(e << 13) * 5.192296858534828e33;  // 2^112
  return uintBitsToFloat(floatBitsToUint(mag) | ((h & 0x8000u) << 16));
}

#ifdef CLOCKS
// thread 0 of token 0's split 0 of head hq writes the device clock (ns) to clk[hq * 32 + i]
// and its SM's clock (cycles) to clk[hq * 32 + 16 + i]
void mark(uint i) {
  if (gl_LocalInvocationID.x == 0u && gl_WorkGroupID.y == 0u && gl_WorkGroupID.z == 0u) {
    clk[gl_WorkGroupID.x * 32u + i] = clockRealtime2x32EXT();
    clk[gl_WorkGroupID.x * 32u + 16u + i] = clock2x32ARB();
  }
}
#else
#define mark(i)
#endif

// A head's output quantized to 8 bits (blocks of 32 along the head, as quantize_q8.comp)
// at element ob of binding 5, with subgroups of 32 and WG >= head_dim: a subgroup a block,
// thread tid holding dim tid (v; threads past head_dim add nothing).
void attn_q8_subgroup(uint ob, uint tid, uint hd, float v) {
  const bool mine = tid < hd;
  float d;
  int sum;
  const uint w = q8_subgroup_word(mine ? v : 0.0, mine, d, sum);
  if (mine && (tid & 3u) == 0u) oqw[(ob + tid) / 4u] = w;
  if (mine && (tid & 31u) == 0u) ods[p.ds_off + (ob + tid) / 32u] = vec2(d, d * float(sum));
}

// The same from of[0..hd) (written before a barrier), a block a thread.
void attn_q8_shared(uint ob, uint tid, uint hd) {
  for (uint b = tid; b < hd / 32u; b += WG) {
    vec4 v[8];
    [[unroll]] for (uint i = 0u; i < 8u; ++i) {
      const uint e = 32u * b + 4u * i;
      v[i] = vec4(of[e], of[e + 1u], of[e + 2u], of[e + 3u]);
    }
    const uint qb = ob / 16u + 2u * b;
    q8_block(v, oq[qb], oq[qb + 1u], ods[p.ds_off + ob / 32u + b]);
  }
}
