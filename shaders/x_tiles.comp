#version 450
// x_tiles: the activations of a prompt matmul (mul_mm_cm) as f16 tiles. Row t of X (f32,
// n_in elements from x_off + t x_stride) becomes n_kt tiles of 32 halves; tile kt of all
// n_tokens rows is contiguous: uvec4 (kt n_tokens + t) 4 + q holds elements 32 kt + 8 q ..
// + 7 in the order (0, 2, 1, 3, 4, 6, 5, 7), the order in which mul_mm_cm's dequantized
// weights come out of the bytes of a quant word. Elements past n_in are 0, |x| is clamped
// to the f16 range. n_kt covers the padded rows of every weight type (a multiple of 8).
// With GLU the elements are silu(g) * u (g the x binding, u laid out the same), computed
// as silu_mul.comp does: the tiles of ffn_down's input straight from gate and up.
// One conversion serves every matmul of the same X: mul_mm_cm then loads one 16-byte
// word per thread and k step, contiguous across the workgroup's tokens, and stores it to
// shared memory unchanged (the f32 rows it used to read cost about a third of its time).
//
// bindings: 0 x (f32), 1 tiles (uvec4), 2 (GLU) u (f32)
// push:     n_in, n_tokens, x_off, x_stride, n_kt
// spec:     0 WG (threads)
// grid:     x = ceil(n_kt n_tokens 4 / WG), split over x and z (Ops::grid_rows)
layout(constant_id = 0) const uint WG = 256;
layout(local_size_x_id = 0) in;
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 0) readonly buffer X4 { vec4 x4[]; };
layout(binding = 1) writeonly buffer T { uvec4 tiles[]; };
#if defined(GLU)
layout(binding = 2) readonly buffer U { float u[]; };
layout(binding = 2) readonly buffer U4 { vec4 u4[]; };
#define SILU_MUL(g, up) ((g) / (1.0 + exp(-(g))) * (up))
#endif
layout(push_constant) uniform Push { uint n_in, n_tokens, x_off, x_stride, n_kt; } p;

const float kHalfMax = 65504.0;
uint pack_clamped(float a, float b) {
  return packHalf2x16(clamp(vec2(a, b), -kHalfMax, kHalfMax));
}

void main() {
  const uint i = (gl_WorkGroupID.z * gl_NumWorkGroups.x + gl_WorkGroupID.x) * WG +
                 gl_LocalInvocationID.x;
  if (i >= p.n_kt * p.n_tokens * 4u) return;
  const uint q = i % 4u, t = (i / 4u) % p.n_tokens, kt = i / (4u * p.n_tokens);
  const uint k = 32u * kt + 8u * q, base = p.x_off + t * p.x_stride + k;
  vec4 a = vec4(0.0), b = vec4(0.0);
  if ((base % 4u) == 0u && k + 8u <= p.n_in) {
    a = x4[base / 4u];
    b = x4[base / 4u + 1u];
#if defined(GLU)
    a = SILU_MUL(a, u4[base / 4u]);
    b = SILU_MUL(b, u4[base / 4u + 1u]);
#endif
  } else {
    for (uint c = 0u; c < 4u; ++c) {
#if defined(GLU)
      if (k + c < p.n_in) a[c] = SILU_MUL(x[base + c], u[base + c]);
      if (k + 4u + c < p.n_in) b[c] = SILU_MUL(x[base + 4u + c], u[base + 4u + c]);
#else
      if (k + c < p.n_in) a[c] = x[base + c];
      if (k + 4u + c < p.n_in) b[c] = x[base + 4u + c];
#endif
    }
  }
  tiles[i] = uvec4(pack_clamped(a.x, a.z), pack_clamped(a.y, a.w), pack_clamped(b.x, b.z),
                   pack_clamped(b.y, b.w));
}
