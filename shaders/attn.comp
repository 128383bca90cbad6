#version 450
// attn: causal attention of each query head over the f16 KV cache, online softmax
// (flash-decoding style). Token t (position pos = params[0] + t) attends to cache rows
// 0..pos; query head hq reads kv head hq / (n_head / n_head_kv). Keys are split into
// n_split ranges (grid z): with n_split == 1 the normalized output is written to `out`,
// otherwise each split writes (max, sum, unnormalized acc[hd]) to `part` for attn_combine.
//
// Keys are read 8 halves at a time (uvec4) when head_dim % 8 == 0, else a pair at a time
// (any even head_dim: the generic path).
//
// bindings: 0 q (f32 [t][n_head*hd]),
//           1 kcache (f16 [pos][n_kv*hd], read as uvec4 and, aliased, as uint pairs),
//           2 vcache (f16, read as uint pairs), 3 out (f32 [t][n_head*hd]),
//           4 part (f32 [t][n_head][n_split][hd + 2]), 5 params (uint: pos at 0)
// push:     n_head, n_head_kv, head_dim, n_split, scale (1/sqrt(hd))
// spec:     0 WG (threads; keys per tile)
// grid:     x = n_head, y = tokens, z = n_split
// limits:   head_dim even, head_dim <= 256, head_dim / 2 <= 4 * WG
#extension GL_GOOGLE_include_directive : enable
#extension GL_EXT_control_flow_attributes : enable
layout(constant_id = 0) const uint WG = 64;
layout(local_size_x_id = 0) in;
#include "reduce.glsl"

layout(binding = 0) readonly buffer Q { float q[]; };
layout(binding = 1) readonly buffer KC { uvec4 kc[]; };
layout(binding = 1) readonly buffer KC2 { uint kc2[]; };
layout(binding = 2) readonly buffer VC { uint vc[]; };
layout(binding = 3) writeonly buffer O { float o[]; };
layout(binding = 4) writeonly buffer Part { float part[]; };
layout(binding = 5) readonly buffer Params { uint params[]; };

layout(push_constant) uniform Push { uint n_head, n_head_kv, head_dim, n_split; float scale; } p;

shared vec4 qs[64];   // head_dim / 4 <= 64
shared float ps[WG];  // probabilities of the current tile

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint hq = gl_WorkGroupID.x, t = gl_WorkGroupID.y, s = gl_WorkGroupID.z;
  const uint hd = p.head_dim, kv_dim = p.n_head_kv * hd;
  const uint hk = hq / (p.n_head / p.n_head_kv);
  const uint n_kv = params[0] + t + 1u;
  const uint chunk = (n_kv + p.n_split - 1u) / p.n_split;
  const uint j0 = min(s * chunk, n_kv), j1 = min(j0 + chunk, n_kv);

  const uint qo = (t * p.n_head + hq) * hd;
  for (uint i = tid; i < (hd + 3u) / 4u; i += WG) {
    vec4 v = vec4(0.0);  // zero past head_dim (head_dim % 4 == 2)
    [[unroll]] for (uint c = 0u; c < 4u; ++c)
      if (4u * i + c < hd) v[c] = q[qo + 4u * i + c];
    qs[i] = v * p.scale;
  }
  barrier();

  float m = -1.0 / 0.0, l = 0.0;
  vec2 acc[4];
  [[unroll]] for (uint i = 0u; i < 4u; ++i) acc[i] = vec2(0.0);

  for (uint jt = j0; jt < j1; jt += WG) {
    uint j = jt + tid;
    float sc = -1.0 / 0.0;
    if (j < j1 && hd % 8u != 0u) {
      uint kb = (j * kv_dim + hk * hd) / 2u;  // even: kv_dim and hd are even
      float d = 0.0;
      for (uint i = 0u; i < hd / 2u; ++i) {
        vec4 qq = qs[i / 2u];
        d += dot(unpackHalf2x16(kc2[kb + i]), (i & 1u) == 0u ? qq.xy : qq.zw);
      }
      sc = d;
    } else if (j < j1) {
      uint kb = (j * kv_dim + hk * hd) / 8u;
      float d = 0.0, d2 = 0.0;
      uint i = 0u;
      for (; i + 2u <= hd / 8u; i += 2u) {  // two independent 16-byte loads per step
        uvec4 k0 = kc[kb + i], k1 = kc[kb + i + 1u];
        d += dot(vec4(unpackHalf2x16(k0.x), unpackHalf2x16(k0.y)), qs[2u * i]) +
             dot(vec4(unpackHalf2x16(k0.z), unpackHalf2x16(k0.w)), qs[2u * i + 1u]);
        d2 += dot(vec4(unpackHalf2x16(k1.x), unpackHalf2x16(k1.y)), qs[2u * i + 2u]) +
              dot(vec4(unpackHalf2x16(k1.z), unpackHalf2x16(k1.w)), qs[2u * i + 3u]);
      }
      if (i < hd / 8u) {
        uvec4 kk = kc[kb + i];
        d += dot(vec4(unpackHalf2x16(kk.x), unpackHalf2x16(kk.y)), qs[2u * i]) +
             dot(vec4(unpackHalf2x16(kk.z), unpackHalf2x16(kk.w)), qs[2u * i + 1u]);
      }
      d += d2;
      sc = d;
    }
    float mt = wg_max(sc);
    float m_new = max(m, mt);
    float pj = j < j1 ? exp(sc - m_new) : 0.0;
    ps[tid] = pj;
    float lt = wg_sum(pj);  // its barriers also publish ps
    float corr = exp(m - m_new);
    l = l * corr + lt;
    uint n_tile = min(WG, j1 - jt);
    [[unroll]] for (uint i = 0u; i < 4u; ++i) {
      uint dp = tid + i * WG;  // dim pair
      if (dp >= hd / 2u) continue;
      vec2 a = acc[i] * corr;
      uint vb = (jt * kv_dim + hk * hd) / 2u + dp;
      const uint vs = kv_dim / 2u;
      uint jj = 0u;
      for (; jj + 4u <= n_tile; jj += 4u) {  // four independent loads in flight
        uint v0 = vc[vb + jj * vs], v1 = vc[vb + (jj + 1u) * vs];
        uint v2 = vc[vb + (jj + 2u) * vs], v3 = vc[vb + (jj + 3u) * vs];
        a += ps[jj] * unpackHalf2x16(v0) + ps[jj + 1u] * unpackHalf2x16(v1) +
             ps[jj + 2u] * unpackHalf2x16(v2) + ps[jj + 3u] * unpackHalf2x16(v3);
      }
      for (; jj < n_tile; ++jj) a += ps[jj] * unpackHalf2x16(vc[vb + jj * vs]);
      acc[i] = a;
    }
    m = m_new;
    barrier();
  }

  if (p.n_split == 1u) {
    [[unroll]] for (uint i = 0u; i < 4u; ++i) {
      uint dp = tid + i * WG;
      if (dp >= hd / 2u) continue;
      vec2 r = acc[i] / l;
      o[qo + 2u * dp] = r.x;
      o[qo + 2u * dp + 1u] = r.y;
    }
  } else {
    uint pb = ((t * p.n_head + hq) * p.n_split + s) * (hd + 2u);
    if (tid == 0u) {
      part[pb] = m;
      part[pb + 1u] = l;
    }
    [[unroll]] for (uint i = 0u; i < 4u; ++i) {
      uint dp = tid + i * WG;
      if (dp >= hd / 2u) continue;
      part[pb + 2u + 2u * dp] = acc[i].x;
      part[pb + 3u + 2u * dp] = acc[i].y;
    }
  }
}
