#version 450
// attn_tiled: causal attention of a prompt batch over the f16 KV cache, one workgroup per
// R = 32 query rows of one kv head: the (token, head) pairs t G + g of the G = n_head /
// n_head_kv query heads that share kv head hk, in that order. Every key and value row
// loaded into shared memory serves all 32 rows (attn.comp, one workgroup per token and
// head, reads each cache row once per query row: at 512 tokens that is L2-bound).
// Token t (position pos = params[0] + t) attends to cache rows 0..pos.
//
// Keys in tiles of BK = 32, online softmax per row:
//   load the K and V tiles (K rows skewed by one 16-byte word: conflict-free reads);
//   scores: thread (tid / 16, tid % 16) computes rows 2 (tid / 16) + {0, 1} x keys
//   2 (tid % 16) + {0, 1} (f32 q pre-scaled, f16 keys), masked to -inf past each row's
//   position; probabilities: the 8 threads of row tid / 8 each take the row max of the
//   tile, then exp(s - max) of its 4 keys; output: the same 8 threads accumulate 8-element
//   columns tid % 8 + 8 i of P V (f32), rescaled when the row max grows.
// Four barriers per tile. Loading the next tile ahead is left for later.
//
// bindings: 0 q (f32 [t][n_head*hd], RoPE applied), 1 kcache, 2 vcache (f16 [pos][n_kv*hd],
//           read as uvec4), 3 out (f32 [t][n_head*hd]), 4 params (uint: pos of token 0)
// push:     n_head, n_head_kv, head_dim, n_tokens, scale (1/sqrt(hd))
// spec:     none (256 threads)
// grid:     x = ceil(n_tokens G / 32), y = n_head_kv
// limits:   head_dim a multiple of 8, <= 128 (Ops::attention_tiled checks)
#extension GL_EXT_control_flow_attributes : enable
layout(local_size_x = 256) in;

layout(binding = 0) readonly buffer Q { float q[]; };
layout(binding = 1) readonly buffer KC { uvec4 kc[]; };
layout(binding = 2) readonly buffer VC { uvec4 vc[]; };
layout(binding = 3) writeonly buffer O { float o[]; };
layout(binding = 4) readonly buffer Params { uint params[]; };

layout(push_constant) uniform Push { uint n_head, n_head_kv, head_dim, n_tokens; float scale; } p;

#define NT 256u
#define R 32u                  // query rows per workgroup
#define BK 32u                 // keys per tile
#define HD_MAX 128u
#define KLD (HD_MAX / 8u + 1u) // K tile row stride in uvec4
#define SLD (BK + 1u)          // score / probability row stride

shared vec4 qs[R * HD_MAX / 4u];   // [row][hd / 4], row stride hd / 4
shared uvec4 ks[BK * KLD];         // [key][hd / 8 (+ 1)]
shared uvec4 vs[BK * HD_MAX / 8u]; // [key][hd / 8]
shared float ss[R * SLD];          // scores of the tile
shared float ps[R * SLD];          // probabilities of the tile

vec4 lo4(uvec4 h) { return vec4(unpackHalf2x16(h.x), unpackHalf2x16(h.y)); }
vec4 hi4(uvec4 h) { return vec4(unpackHalf2x16(h.z), unpackHalf2x16(h.w)); }

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint G = p.n_head / p.n_head_kv, hk = gl_WorkGroupID.y, r0 = gl_WorkGroupID.x * R;
  const uint hd = p.head_dim, h4 = hd / 4u, h8 = hd / 8u, kv_dim = p.n_head_kv * hd;
  const uint pos0 = params[0];
  const uint n_rows = p.n_tokens * G;
  const uint n_keys = pos0 + (min(r0 + R, n_rows) - 1u) / G + 1u;  // of the last row

  for (uint i = tid; i < R * h4; i += NT) {
    const uint row = min(r0 + i / h4, n_rows - 1u), c = i % h4;
    const uint base = ((row / G) * p.n_head + hk * G + row % G) * hd + 4u * c;
    qs[i] = vec4(q[base], q[base + 1u], q[base + 2u], q[base + 3u]) * p.scale;
  }

  // scores: rows sr, sr + 1, keys sk, sk + 1 of the tile; their last keys (positions)
  const uint sr = 2u * (tid / 16u), sk = 2u * (tid % 16u);
  const uint lim0 = pos0 + min(r0 + sr, n_rows - 1u) / G;
  const uint lim1 = pos0 + min(r0 + sr + 1u, n_rows - 1u) / G;
  // probabilities and output: row pr, keys 4 pc .. of the tile, columns pc + 8 i
  const uint pr = tid / 8u, pc = tid % 8u;
  float m = -1.0 / 0.0, l = 0.0;
  vec4 acc[4];
  [[unroll]] for (uint i = 0u; i < 4u; ++i) acc[i] = vec4(0.0);

  for (uint jt = 0u; jt < n_keys; jt += BK) {
    const uint n_tile = min(BK, n_keys - jt);
    for (uint u = tid; u < n_tile * h8; u += NT) {
      const uint key = u / h8, c = u % h8;
      const uint g = ((jt + key) * kv_dim + hk * hd) / 8u + c;
      ks[key * KLD + c] = kc[g];
      vs[key * h8 + c] = vc[g];
    }
    barrier();

    vec4 d = vec4(0.0);  // (r0 k0, r0 k1, r1 k0, r1 k1)
    if (sk < n_tile) {
      const uint k1 = min(sk + 1u, n_tile - 1u);
      for (uint c = 0u; c < h8; ++c) {
        const uvec4 a = ks[sk * KLD + c], b = ks[k1 * KLD + c];
        const vec4 a0 = lo4(a), a1 = hi4(a), b0 = lo4(b), b1 = hi4(b);
        const vec4 q00 = qs[sr * h4 + 2u * c], q01 = qs[sr * h4 + 2u * c + 1u];
        const vec4 q10 = qs[(sr + 1u) * h4 + 2u * c], q11 = qs[(sr + 1u) * h4 + 2u * c + 1u];
        d += vec4(dot(q00, a0) + dot(q01, a1), dot(q00, b0) + dot(q01, b1),
                  dot(q10, a0) + dot(q11, a1), dot(q10, b0) + dot(q11, b1));
      }
    }
    const float ninf = -1.0 / 0.0;
    const uint j0 = jt + sk, j1 = jt + sk + 1u;
    ss[sr * SLD + sk] = sk < n_tile && j0 <= lim0 ? d.x : ninf;
    ss[sr * SLD + sk + 1u] = sk + 1u < n_tile && j1 <= lim0 ? d.y : ninf;
    ss[(sr + 1u) * SLD + sk] = sk < n_tile && j0 <= lim1 ? d.z : ninf;
    ss[(sr + 1u) * SLD + sk + 1u] = sk + 1u < n_tile && j1 <= lim1 ? d.w : ninf;
    barrier();

    float mt = ninf;
    for (uint j = 0u; j < BK; ++j) mt = max(mt, ss[pr * SLD + j]);
    const float m_new = max(m, mt);  // finite: key 0 of the first tile is in every row
    [[unroll]] for (uint j = 0u; j < 4u; ++j)
      ps[pr * SLD + 4u * pc + j] = exp(ss[pr * SLD + 4u * pc + j] - m_new);
    const float corr = exp(m - m_new);
    barrier();

    float lt = 0.0;
    [[unroll]] for (uint i = 0u; i < 2u; ++i) {
      acc[2u * i] *= corr;
      acc[2u * i + 1u] *= corr;
    }
    for (uint j = 0u; j < n_tile; ++j) {
      const float pj = ps[pr * SLD + j];
      lt += pj;
      [[unroll]] for (uint i = 0u; i < 2u; ++i) {
        const uint c = pc + 8u * i;
        if (c < h8) {
          const uvec4 v = vs[j * h8 + c];
          acc[2u * i] += pj * lo4(v);
          acc[2u * i + 1u] += pj * hi4(v);
        }
      }
    }
    l = l * corr + lt;
    m = m_new;
    barrier();
  }

  const uint row = r0 + pr;
  if (row < n_rows) {
    const uint base = ((row / G) * p.n_head + hk * G + row % G) * hd;
    [[unroll]] for (uint i = 0u; i < 2u; ++i) {
      const uint c = pc + 8u * i;
      if (c >= h8) continue;
      const vec4 a = acc[2u * i] / l, b = acc[2u * i + 1u] / l;
      [[unroll]] for (uint e = 0u; e < 4u; ++e) {
        o[base + 8u * c + e] = a[e];
        o[base + 8u * c + 4u + e] = b[e];
      }
    }
  }
}
