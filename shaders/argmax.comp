#version 450
// argmax: out[r] = index of the largest of n values of row r (the lowest index on ties),
// one workgroup per row (16-byte loads when n % 4 == 0).
//
// bindings: 0 x (f32 [rows][n]), 1 out (uint [rows])
// push:     n
// spec:     0 WG (threads)
// grid:     x = rows
#extension GL_KHR_shader_subgroup_arithmetic : enable
#extension GL_KHR_shader_subgroup_basic : enable
#extension GL_EXT_control_flow_attributes : enable
layout(constant_id = 0) const uint WG = 256;
layout(local_size_x_id = 0) in;
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) writeonly buffer O { uint o[]; };
layout(push_constant) uniform Push { uint n; } p;
shared float best_v[WG];
shared uint best_i[WG];
layout(binding = 0) readonly buffer X4 { vec4 x4[]; };

// the running best (bv, bi) against value v at index i: strictly larger wins, so each
// thread, scanning its indices upwards, keeps the lowest index of its largest value
void take(float v, uint i, inout float bv, inout uint bi) {
  if (v > bv) { bv = v; bi = i; }
}

void main() {
  const uint tid = gl_LocalInvocationID.x, base = gl_WorkGroupID.x * p.n;
  float bv = -1.0 / 0.0;
  uint bi = 0xFFFFFFFFu;
  if (p.n % 4u == 0u) {
    // 16-byte loads, four rounds in flight: thread tid takes vec4s tid, tid + WG, ...
    const uint n4 = p.n / 4u, b4 = base / 4u;
    uint j = tid;
    for (; j + 3u * WG < n4; j += 4u * WG) {
      vec4 v[4];
      [[unroll]] for (uint u = 0u; u < 4u; ++u) v[u] = x4[b4 + j + u * WG];
      [[unroll]] for (uint u = 0u; u < 4u; ++u)
        [[unroll]] for (uint c = 0u; c < 4u; ++c) take(v[u][c], 4u * (j + u * WG) + c, bv, bi);
    }
    for (; j < n4; j += WG) {
      const vec4 v = x4[b4 + j];
      [[unroll]] for (uint c = 0u; c < 4u; ++c) take(v[c], 4u * j + c, bv, bi);
    }
  } else {
    for (uint i = tid; i < p.n; i += WG) take(x[base + i], i, bv, bi);
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
