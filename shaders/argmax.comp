#version 450
// argmax: out[r] = index of the largest of n values of row r (the lowest index on ties),
// one workgroup per row.
//
// bindings: 0 x (f32 [rows][n]), 1 out (uint [rows])
// push:     n
// spec:     0 WG (threads)
// grid:     x = rows
#extension GL_KHR_shader_subgroup_arithmetic : enable
#extension GL_KHR_shader_subgroup_basic : enable
layout(constant_id = 0) const uint WG = 256;
layout(local_size_x_id = 0) in;
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) writeonly buffer O { uint o[]; };
layout(push_constant) uniform Push { uint n; } p;
shared float best_v[WG];
shared uint best_i[WG];
void main() {
  const uint tid = gl_LocalInvocationID.x, base = gl_WorkGroupID.x * p.n;
  float bv = -1.0 / 0.0;
  uint bi = 0xFFFFFFFFu;
  for (uint i = tid; i < p.n; i += WG) {
    float v = x[base + i];
    if (v > bv) { bv = v; bi = i; }
  }
  float m = subgroupMax(bv);
  uint mi = subgroupMin(bv == m ? bi : 0xFFFFFFFFu);
  if (subgroupElect()) { best_v[gl_SubgroupID] = m; best_i[gl_SubgroupID] = mi; }
  barrier();
  if (tid == 0u) {
    float v = best_v[0];
    uint idx = best_i[0];
    for (uint s = 1u; s < gl_NumSubgroups; ++s) {
      if (best_v[s] > v || (best_v[s] == v && best_i[s] < idx)) { v = best_v[s]; idx = best_i[s]; }
    }
    o[gl_WorkGroupID.x] = idx;
  }
}
