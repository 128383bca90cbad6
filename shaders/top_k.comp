#version 450
// top_k: the k largest of each chunk of CHUNK values of one row, ranked by value
// descending, then index ascending (the order of the host sampler's candidates), for the
// host to merge: the row's top k are among the chunks' (k <= Ops::kTopKMax). k is read
// from a buffer (the forward pass's params, written by the host before each pass), so one
// recorded pass serves every k a sampler asks for.
//
// Each thread holds the chunk's values tid, tid + WG, ... in registers; k rounds each take
// the best value not yet taken (per thread, then per subgroup, then across subgroups).
// A chunk with fewer than k values pads with index 0xFFFFFFFF.
//
// bindings: 0 x (f32 [n]), 1 out (uvec2 [chunks][k]: value bits, index), 2 kbuf (uint:
//           k = min(kbuf[k_at], k_max))
// push:     n, k_max, k_at
// spec:     0 WG (threads; CHUNK = WG * PER)
// grid:     x = ceil(n / CHUNK)
#extension GL_KHR_shader_subgroup_arithmetic : enable
#extension GL_KHR_shader_subgroup_basic : enable
#extension GL_EXT_control_flow_attributes : enable
layout(constant_id = 0) const uint WG = 256;
layout(local_size_x_id = 0) in;
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) writeonly buffer O { uvec2 o[]; };
layout(binding = 2) readonly buffer KBuf { uint kbuf[]; };
layout(push_constant) uniform Push { uint n, k_max, k_at; } p;

const uint PER = 16u;  // values per thread
const uint NONE = 0xFFFFFFFFu;
shared float sg_v[WG];
shared uint sg_i[WG];
shared uint win_i;

// whether (v, i) ranks before (bv, bi): larger value, or the same value at a lower index
bool before(float v, uint i, float bv, uint bi) { return v > bv || (v == bv && i < bi); }

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint base = gl_WorkGroupID.x * WG * PER;
  const uint k = min(kbuf[p.k_at], p.k_max);
  float v[PER];
  [[unroll]] for (uint j = 0u; j < PER; ++j) {
    const uint e = base + tid + j * WG;
    v[j] = e < p.n ? x[e] : -1.0 / 0.0;
  }
  uint taken = 0u;  // bit j: v[j] is out (or past n)
  [[unroll]] for (uint j = 0u; j < PER; ++j)
    if (base + tid + j * WG >= p.n || isnan(v[j])) taken |= 1u << j;

  for (uint r = 0u; r < k; ++r) {
    // this thread's best left: indices rise with j, so the first of equal values wins
    float bv = 0.0;
    uint bi = NONE;
    [[unroll]] for (uint j = 0u; j < PER; ++j)
      if ((taken & (1u << j)) == 0u && (bi == NONE || v[j] > bv)) {
        bv = v[j];
        bi = base + tid + j * WG;
      }
    // the subgroup's best: the largest value, then the lowest index holding it
    const float any_v = bi == NONE ? -1.0 / 0.0 : bv;
    const float m = subgroupMax(any_v);
    const uint mi = subgroupMin(bi != NONE && any_v == m ? bi : NONE);
    if (subgroupElect()) {
      sg_v[gl_SubgroupID] = m;
      sg_i[gl_SubgroupID] = mi;
    }
    barrier();
    if (tid == 0u) {
      float wv = sg_v[0];
      uint wi = sg_i[0];
      for (uint s = 1u; s < gl_NumSubgroups; ++s)
        if (sg_i[s] != NONE && (wi == NONE || before(sg_v[s], sg_i[s], wv, wi))) {
          wv = sg_v[s];
          wi = sg_i[s];
        }
      win_i = wi;
      o[gl_WorkGroupID.x * k + r] = uvec2(floatBitsToUint(wv), wi);
    }
    barrier();
    const uint w = win_i;
    if (w != NONE && w >= base + tid && (w - base - tid) % WG == 0u)
      taken |= 1u << ((w - base - tid) / WG);
  }
}
