#version 450
// bandwidth: reads a buffer once with 16-byte loads (grid-stride) to measure device-memory
// read bandwidth; each thread writes one word so the reads cannot be removed.
//
// bindings: 0 src (uvec4 [n4]), 1 dst (uint [threads])
// push:     n4 (uvec4 count)
// spec:     0 WG (threads)
// grid:     x = workgroups (a few per compute unit)
layout(constant_id = 0) const uint WG = 256;
layout(local_size_x_id = 0) in;
layout(binding = 0) readonly buffer S { uvec4 src[]; };
layout(binding = 1) writeonly buffer D { uint dst[]; };
layout(push_constant) uniform Push { uint n4; } p;
void main() {
  uint stride = gl_NumWorkGroups.x * WG;
  uvec4 acc = uvec4(0u);
  for (uint i = gl_GlobalInvocationID.x; i < p.n4; i += stride) acc ^= src[i];
  dst[gl_GlobalInvocationID.x] = acc.x ^ acc.y ^ acc.z ^ acc.w;
}
