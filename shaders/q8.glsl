// q8.glsl: 8-bit activation blocks as quantize_q8.comp lays them out (the layout mul_mvq
// reads): q = round(x / d) with d = amax / 127, four values per word (byte k = value k).
#extension GL_KHR_shader_subgroup_arithmetic : enable
#extension GL_KHR_shader_subgroup_shuffle : enable

// The four values of v times id (1 / d, or 0 for an all-zero block) rounded to int8 and
// packed into one word; their sum is added to `sum`.
uint q8_word(vec4 v, float id, inout int sum) {
  const ivec4 q = ivec4(roundEven(v * id));
  sum += q.x + q.y + q.z + q.w;
  const uvec4 u = uvec4(q) & 0xFFu;
  return u.x | (u.y << 8) | (u.z << 16) | (u.w << 24);
}

// A block of 32 values (v[0..7] in order) quantized: its bytes as two uvec4 and
// (d, d * sum(q)).
void q8_block(vec4 v[8], out uvec4 lo, out uvec4 hi, out vec2 ds) {
  float amax = 0.0;
  [[unroll]] for (uint i = 0u; i < 8u; ++i) {
    const vec4 a = abs(v[i]);
    amax = max(amax, max(max(a.x, a.y), max(a.z, a.w)));
  }
  const float d = amax / 127.0;
  const float id = d > 0.0 ? 1.0 / d : 0.0;
  int sum = 0;
  uint w[8];
  [[unroll]] for (uint i = 0u; i < 8u; ++i) w[i] = q8_word(v[i], id, sum);
  lo = uvec4(w[0], w[1], w[2], w[3]);
  hi = uvec4(w[4], w[5], w[6], w[7]);
  ds = vec2(d, d * float(sum));
}

// q8_block by two neighbouring invocations of a subgroup, an even one with the block's
// first 16 values (v[0..3] in order) and the odd one after it with the last 16: returns
// this half's bytes; ds (d, d * sum(q)) of the whole block in both. The same bits as
// q8_block.
uvec4 q8_half_block(vec4 v[4], out vec2 ds) {
  float amax = 0.0;
  [[unroll]] for (uint i = 0u; i < 4u; ++i) {
    const vec4 a = abs(v[i]);
    amax = max(amax, max(max(a.x, a.y), max(a.z, a.w)));
  }
  amax = max(amax, subgroupShuffleXor(amax, 1u));
  const float d = amax / 127.0;
  const float id = d > 0.0 ? 1.0 / d : 0.0;
  int sum = 0;
  uint w[4];
  [[unroll]] for (uint i = 0u; i < 4u; ++i) w[i] = q8_word(v[i], id, sum);
  sum += subgroupShuffleXor(sum, 1u);
  ds = vec2(d, d * float(sum));
  return uvec4(w[0], w[1], w[2], w[3]);
}

// The same with one block per subgroup: invocation i of the subgroup holds value i of the
// block (mine false past its 32 values: they add nothing). Returns the word of values
// 4k..4k+3 in invocation 4k (byte j = value 4k + j, as q8_word packs them); d and the sum
// of the block's q in every invocation.
uint q8_subgroup_word(float v, bool mine, out float d, out int sum) {
  d = subgroupMax(mine ? abs(v) : 0.0) / 127.0;
  const float id = d > 0.0 ? 1.0 / d : 0.0;
  const int q = mine ? int(roundEven(v * id)) : 0;
  sum = subgroupAdd(q);
  uint w = (uint(q) & 0xFFu) << (8u * (gl_SubgroupInvocationID & 3u));
  w |= subgroupShuffleXor(w, 1u);
  w |= subgroupShuffleXor(w, 2u);
  return w;
}
