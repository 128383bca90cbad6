#version 450
// get_rows: embedding lookup. out[t][i] = dequant(W row ids[t])[i] for i < n_in.
//
// bindings: 0 weights (GPU layout, types.glsl), 1 ids (int32 token ids), 2 out (f32)
// push:     n_in, B (blocks per row), off1, off2, ids_off (ints), out_off, out_stride (floats)
// spec:     0 WG (threads)
// grid:     x = ceil(n_in / 4 / WG), y = tokens
#extension GL_GOOGLE_include_directive : enable
#define W_BINDING 0
#define W_COUNT 1
#include "types.glsl"

layout(constant_id = 0) const uint WG = 64;
layout(local_size_x_id = 0) in;

layout(binding = 1) readonly buffer Ids { int ids[]; };
layout(binding = 2) writeonly buffer Out { float o[]; };

layout(push_constant) uniform Push {
  uint n_in, B, off1, off2, ids_off, out_off, out_stride;
} p;

void main() {
  uint e4 = gl_GlobalInvocationID.x;
  uint e = e4 * 4u;
  if (e >= p.n_in) return;
  uint t = gl_WorkGroupID.y;
  uint row = uint(ids[p.ids_off + t]);
  uint b = e / QK;
  vec4 v = dequant4(0u, row * p.B + b, (e % QK) / 4u, p.off1, p.off2);
  uint o0 = p.out_off + t * p.out_stride + e;
  [[unroll]] for (uint k = 0u; k < 4u; ++k) {
    if (e + k < p.n_in) o[o0 + k] = v[k];
  }
}
