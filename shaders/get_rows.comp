#version 450
// get_rows: embedding lookup. out[t][i] = dequant(W row ids[t])[i] for i < n_in.
// Variant QOUT: also the rows quantized as an int8 matvec's input with a deferred norm,
// the layout mul_mvqo writes with a norm (mul_mvq.comp, flags & 8): blocks of 32 of
// out * norm_w (binding 4) with d = amax / 127 of those, (d, d * sum(q)) at vec2 o_ds_off
// and the sum of out^2 of each block at float o_ps_off, row t at element t * n_in of
// binding 3; needs n_in % 32 == 0 and subgroups of 8 or more (eight invocations a block).
//
// bindings: 0 weights (GPU layout, types.glsl), 1 ids (int32 token ids), 2 out (f32),
//           3 quantized out (QOUT), 4 norm_w (QOUT)
// push:     n_in, B (blocks per row), off1, off2, ids_off (ints), out_off, out_stride
//           (floats), o_ds_off, o_ps_off (QOUT)
// spec:     0 WG (threads; QOUT: a multiple of 8)
// grid:     x = ceil(n_in / 4 / WG), y = tokens
#extension GL_GOOGLE_include_directive : enable
#define W_BINDING 0
#define W_COUNT 1
#include "types.glsl"
#ifdef QOUT
#extension GL_KHR_shader_subgroup_shuffle : enable
#include "q8.glsl"
#endif

layout(constant_id = 0) const uint WG = 64;
layout(local_size_x_id = 0) in;

layout(binding = 1) readonly buffer Ids { int ids[]; };
layout(binding = 2) writeonly buffer Out { float o[]; };
#ifdef QOUT
layout(binding = 3) writeonly buffer OQ { uint oq[]; };
layout(binding = 3) writeonly buffer ODS { vec2 ods[]; };
layout(binding = 3) writeonly buffer OPS { float ops[]; };
layout(binding = 4) readonly buffer NormW { vec4 norm_w4[]; };
#endif

layout(push_constant) uniform Push {
  uint n_in, B, off1, off2, ids_off, out_off, out_stride, o_ds_off, o_ps_off;
} p;

void main() {
  uint e4 = gl_GlobalInvocationID.x;
  uint e = e4 * 4u;
  if (e >= p.n_in) return;  // (QOUT: whole blocks of eight invocations)
  uint t = gl_WorkGroupID.y;
  uint row = uint(ids[p.ids_off + t]);
  uint b = e / QK;
  vec4 v = dequant4(0u, row * p.B + b, (e % QK) / 4u, p.off1, p.off2);
  uint o0 = p.out_off + t * p.out_stride + e;
  [[unroll]] for (uint k = 0u; k < 4u; ++k) {
    if (e + k < p.n_in) o[o0 + k] = v[k];
  }
#ifdef QOUT
  // the block's eight invocations: amax of v * norm_w, then their int8 words and sums
  const vec4 y = v * norm_w4[e4];
  float amax = max(max(abs(y.x), abs(y.y)), max(abs(y.z), abs(y.w)));
  float ss = dot(v, v);
  [[unroll]] for (uint m = 1u; m < 8u; m <<= 1) {
    amax = max(amax, subgroupShuffleXor(amax, m));
    ss += subgroupShuffleXor(ss, m);
  }
  const float d = amax / 127.0;
  const float id = d > 0.0 ? 1.0 / d : 0.0;
  int sum = 0;
  const uint w = q8_word(y, id, sum);
  [[unroll]] for (uint m = 1u; m < 8u; m <<= 1) sum += subgroupShuffleXor(sum, m);
  const uint oe = t * p.n_in + e;
  oq[oe / 4u] = w;
  if ((e4 & 7u) == 0u) {
    ods[p.o_ds_off + oe / 32u] = vec2(d, d * float(sum));
    ops[p.o_ps_off + oe / 32u] = ss;
  }
#endif
}
