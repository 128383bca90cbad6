#version 450
// rms_norm: y[r][i] = x[r][i] / sqrt(mean(x[r]^2) + eps) * w[i], one workgroup per row.
//
// bindings: 0 x (f32), 1 w (f32 [n]), 2 y (f32; may be the same buffer as x); each also
//           read/written as vec4 when n and the row offsets are multiples of 4
// push:     n, x_off, x_stride, y_off, y_stride (floats), eps
// spec:     0 WG (threads)
// grid:     x = rows
#extension GL_GOOGLE_include_directive : enable
layout(constant_id = 0) const uint WG = 256;
layout(local_size_x_id = 0) in;
#include "reduce.glsl"

layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) readonly buffer W { float w[]; };
layout(binding = 2) writeonly buffer Yb { float y[]; };
layout(binding = 0) readonly buffer X4 { vec4 x4[]; };
layout(binding = 1) readonly buffer W4 { vec4 w4[]; };
layout(binding = 2) writeonly buffer Y4 { vec4 y4[]; };

layout(push_constant) uniform Push { uint n, x_off, x_stride, y_off, y_stride; float eps; } p;

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint xo = p.x_off + gl_WorkGroupID.x * p.x_stride;
  const uint yo = p.y_off + gl_WorkGroupID.x * p.y_stride;
  // 16-byte loads when every row start is 16-byte aligned (uniform branch)
  const bool vec = (p.n | xo | yo) % 4u == 0u;
  float ss = 0.0;
  if (vec) {
    for (uint i = tid; i < p.n / 4u; i += WG) {
      vec4 v = x4[xo / 4u + i];
      ss += dot(v, v);
    }
  } else {
    for (uint i = tid; i < p.n; i += WG) ss += x[xo + i] * x[xo + i];
  }
  ss = wg_sum(ss);
  float scale = 1.0 / sqrt(ss / float(p.n) + p.eps);
  if (vec) {
    for (uint i = tid; i < p.n / 4u; i += WG) y4[yo / 4u + i] = x4[xo / 4u + i] * scale * w4[i];
  } else {
    for (uint i = tid; i < p.n; i += WG) y[yo + i] = x[xo + i] * scale * w[i];
  }
}
