#version 450
// quantize_q8: activations to 8-bit blocks of 32 for mul_mvq. For row t of x (optionally
// rms-normalized first: x' = x / sqrt(mean(x^2) + eps) * norm_w, flags & 1), block b gets
// d = amax / 127, q = round(x' / d) (int8) and s = d * sum(q). Output buffer layout (a
// "Q8 activation" buffer, Ops::Q8Act): the q bytes of row t at byte t * n, 16-byte
// aligned; (d, s) of block b of row t as a vec2 at index ds_off + t * n / 32 + b.
// Two threads per block of 32 (16 elements each, amax and sums combined with a subgroup
// shuffle). With the norm every workgroup sums its row's squares itself (the row is small
// and in cache; those loads overlap the thread's own), so rows may span several workgroups.
//
// bindings: 0 x (f32, read as vec4), 1 norm_w (f32 [n]), 2 out (Q8 activation buffer)
// push:     n (multiple of 32), x_off, x_stride (floats, multiples of 4), ds_off, flags, eps
// spec:     0 WG (threads)
// grid:     x = ceil(n / 16 / WG), y = rows
#extension GL_GOOGLE_include_directive : enable
#extension GL_EXT_control_flow_attributes : enable
#extension GL_KHR_shader_subgroup_shuffle : enable
layout(constant_id = 0) const uint WG = 64;
layout(local_size_x_id = 0) in;
#include "reduce.glsl"
#include "q8.glsl"

layout(binding = 0) readonly buffer X4 { vec4 x4[]; };
layout(binding = 1) readonly buffer NormW { vec4 norm_w4[]; };
layout(binding = 2) writeonly buffer Q { uvec4 q4[]; };
layout(binding = 2) writeonly buffer DS { vec2 ds[]; };

layout(push_constant) uniform Push { uint n, x_off, x_stride, ds_off, flags; float eps; } p;

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint row = gl_WorkGroupID.y;
  const uint xb = (p.x_off + row * p.x_stride) / 4u;
  const bool norm = (p.flags & 1u) != 0u;
  const uint g = gl_WorkGroupID.x * WG + tid;  // half-block: elements 16g .. 16g + 15
  const bool live = g < p.n / 16u;
  vec4 v[4];
  [[unroll]] for (uint i = 0u; i < 4u; ++i) v[i] = live ? x4[xb + 4u * g + i] : vec4(0.0);
  if (norm) {  // uniform branch: every thread of the workgroup takes it
    vec4 w[4];
    [[unroll]] for (uint i = 0u; i < 4u; ++i) w[i] = live ? norm_w4[4u * g + i] : vec4(0.0);
    float ss = 0.0;
    for (uint i = tid; i < p.n / 4u; i += WG) {
      vec4 xv = x4[xb + i];
      ss += dot(xv, xv);
    }
    const float scale = 1.0 / sqrt(wg_sum(ss) / float(p.n) + p.eps);
    [[unroll]] for (uint i = 0u; i < 4u; ++i) v[i] *= scale * w[i];
  }
  float amax = 0.0;
  [[unroll]] for (uint i = 0u; i < 4u; ++i) {
    vec4 a = abs(v[i]);
    amax = max(amax, max(max(a.x, a.y), max(a.z, a.w)));
  }
  // the two halves of a block are neighbouring invocations (WG and subgroups are even)
  amax = max(amax, subgroupShuffleXor(amax, 1u));
  const float d = amax / 127.0;
  const float id = d > 0.0 ? 1.0 / d : 0.0;
  int sum = 0;
  uint words[4];
  [[unroll]] for (uint i = 0u; i < 4u; ++i) words[i] = q8_word(v[i], id, sum);
  sum += subgroupShuffleXor(sum, 1u);
  if (!live) return;
  q4[row * (p.n / 16u) + g] = uvec4(words[0], words[1], words[2], words[3]);
  if ((g & 1u) == 0u) ds[p.ds_off + row * (p.n / 32u) + g / 2u] = vec2(d, d * float(sum));
}
