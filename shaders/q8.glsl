// q8.glsl: 8-bit activation blocks as quantize_q8.comp lays them out (the layout mul_mvq
// reads): q = round(x / d) with d = amax / 127, four values per word (byte k = value k).

// The four values of v times id (1 / d, or 0 for an all-zero block) rounded to int8 and
// packed into one word; their sum is added to `sum`.
uint q8_word(vec4 v, float id, inout int sum) {
  const ivec4 q = ivec4(roundEven(v * id));
  sum += q.x + q.y + q.z + q.w;
  const uvec4 u = uvec4(q) & 0xFFu;
  return u.x | (u.y << 8) | (u.z << 16) | (u.w << 24);
}
