#version 450
// add: y[i] += x[i], n elements.
//
// bindings: 0 y (f32), 1 x (f32)
// push:     n
// spec:     0 WG (threads)
// grid:     x = ceil(n / WG)
layout(constant_id = 0) const uint WG = 256;
layout(local_size_x_id = 0) in;
layout(binding = 0) buffer Yb { float y[]; };
layout(binding = 1) readonly buffer X { float x[]; };
layout(push_constant) uniform Push { uint n; } p;
void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i < p.n) y[i] += x[i];
}
