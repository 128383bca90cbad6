#version 450
// softmax: in place over each row of n values, one workgroup per row.
//
// bindings: 0 x (f32 [rows][n])
// push:     n
// spec:     0 WG (threads)
// grid:     x = rows
#extension GL_GOOGLE_include_directive : enable
layout(constant_id = 0) const uint WG = 256;
layout(local_size_x_id = 0) in;
#include "reduce.glsl"
layout(binding = 0) buffer X { float x[]; };
layout(push_constant) uniform Push { uint n; } p;
void main() {
  const uint tid = gl_LocalInvocationID.x, base = gl_WorkGroupID.x * p.n;
  float m = -1.0 / 0.0;
  for (uint i = tid; i < p.n; i += WG) m = max(m, x[base + i]);
  m = wg_max(m);
  float s = 0.0;
  for (uint i = tid; i < p.n; i += WG) {
    float e = exp(x[base + i] - m);
    x[base + i] = e;
    s += e;
  }
  s = wg_sum(s);
  for (uint i = tid; i < p.n; i += WG) x[base + i] /= s;
}
