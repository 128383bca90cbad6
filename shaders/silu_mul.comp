#version 450
// silu_mul: out[i] = silu(g[i]) * u[i] with silu(a) = a / (1 + e^-a), n elements.
//
// bindings: 0 g (f32), 1 u (f32), 2 out (f32; may be g)
// push:     n
// spec:     0 WG (threads)
// grid:     x = ceil(n / WG)
layout(constant_id = 0) const uint WG = 256;
layout(local_size_x_id = 0) in;
layout(binding = 0) readonly buffer G { float g[]; };
layout(binding = 1) readonly buffer U { float u[]; };
layout(binding = 2) writeonly buffer O { float o[]; };
layout(push_constant) uniform Push { uint n; } p;
void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i >= p.n) return;
  float a = g[i];
  o[i] = a / (1.0 + exp(-a)) * u[i];
}
