#version 450
// attn_tiled: causal attention of a prompt batch over the f16 KV cache, one workgroup per
// R = 32 query rows of one kv head: the (token, head) pairs t G + g of the G = n_head /
// n_head_kv query heads that share kv head hk, in that order. Every key and value row
// loaded into shared memory serves all 32 rows (attn.comp, one workgroup per token and
// head, reads each cache row once per query row: at 512 tokens about 2 GB per layer).
// Token t (position pos = params[0] + t) attends to cache rows 0..pos.
//
// Keys in tiles of BK = 32, online softmax per row:
//   load the K and V tiles (K rows skewed by one 16-byte word: conflict-free reads);
//   scores: thread tid computes rows 4 (tid / 32) .. + 3 x key tid % 32 (f32 q
//   pre-scaled, f16 keys), masked to -inf past each row's position; probabilities: the 8
//   threads of row tid / 8 each take the row max of the tile, then exp(s - max) of its 4
//   keys; output: thread tid accumulates elements 8 (tid % 16) .. + 7 of rows
//   2 (tid / 16) + {0, 1} of P V (f32), rescaled when the row max grows. Each unpacked
//   f16 K or V value serves several rows (4 and 2), fewer conversions per multiply-add.
// H100, llama-8B shape, 512-token prompt, 32 layers: attn 13.6 ms; this kernel with
// scores 2 rows x 2 keys and output 1 row x 16 elements per thread, no loads ahead,
// 9.0 ms; as here 6.4 ms.
// Four barriers per tile; each thread loads its share of the next K and V tiles into
// registers while the current ones are in use.
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
shared float cs[R];                // rescale factor of each row's sums (max grew)

vec4 lo4(uvec4 h) { return vec4(unpackHalf2x16(h.x), unpackHalf2x16(h.y)); }
vec4 hi4(uvec4 h) { return vec4(unpackHalf2x16(h.z), unpackHalf2x16(h.w)); }

// Word u < BK hd / 8 of the K and V tile at key jt (key jt + u / (hd / 8), word u % ..),
// for u = tid and tid + NT; words past n_keys are not loaded.
void load_tile(uint jt, uint n_keys, uint head_off, uint kv_dim, uint h8, uint tid,
               out uvec4 kr[2], out uvec4 vr[2]) {
  [[unroll]] for (uint i = 0u; i < 2u; ++i) {
    const uint u = tid + NT * i, key = jt + u / h8;
    kr[i] = vr[i] = uvec4(0u);
    if (u < BK * h8 && key < n_keys) {
      const uint g = (key * kv_dim + head_off) / 8u + u % h8;
      kr[i] = kc[g];
      vr[i] = vc[g];
    }
  }
}

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

  // scores: rows sq .. sq + 3 x key sk of the tile (a K word unpacked once serves 4 rows)
  const uint sq = 4u * (tid / 32u), sk = tid % 32u;
  uint lim[4];  // the rows' last keys (positions)
  [[unroll]] for (uint r = 0u; r < 4u; ++r) lim[r] = pos0 + min(r0 + sq + r, n_rows - 1u) / G;
  // probabilities: row pr, keys 4 pc .. of the tile
  const uint pr = tid / 8u, pc = tid % 8u;
  float m = -1.0 / 0.0;
  // output: rows vr, vr + 1 x elements 8 vc .. + 7 (a V word unpacked once serves 2 rows)
  const uint vr = 2u * (tid / 16u), vc = tid % 16u;
  float l0 = 0.0, l1 = 0.0;
  vec4 acc[4];  // (row vr: elements 0..3, 4..7; row vr + 1: the same)
  [[unroll]] for (uint i = 0u; i < 4u; ++i) acc[i] = vec4(0.0);

  // this thread's K and V words of a tile (up to BK hd / 8 = 2 NT of each): the next tile's
  // are loaded while the current one is in use
  uvec4 kr[2], vw[2];
  load_tile(0u, n_keys, hk * hd, kv_dim, h8, tid, kr, vw);
  for (uint jt = 0u; jt < n_keys; jt += BK) {
    const uint n_tile = min(BK, n_keys - jt);
    [[unroll]] for (uint i = 0u; i < 2u; ++i) {
      const uint u = tid + NT * i;
      if (u < n_tile * h8) {
        ks[(u / h8) * KLD + u % h8] = kr[i];
        vs[u] = vw[i];
      }
    }
    barrier();
    if (jt + BK < n_keys) load_tile(jt + BK, n_keys, hk * hd, kv_dim, h8, tid, kr, vw);

    vec4 d = vec4(0.0);  // rows sq .. sq + 3
    if (sk < n_tile) {
      for (uint c = 0u; c < h8; ++c) {
        const uvec4 kw = ks[sk * KLD + c];
        const vec4 a0 = lo4(kw), a1 = hi4(kw);
        [[unroll]] for (uint r = 0u; r < 4u; ++r)
          d[r] += dot(qs[(sq + r) * h4 + 2u * c], a0) + dot(qs[(sq + r) * h4 + 2u * c + 1u], a1);
      }
    }
    const float ninf = -1.0 / 0.0;
    [[unroll]] for (uint r = 0u; r < 4u; ++r)
      ss[(sq + r) * SLD + sk] = sk < n_tile && jt + sk <= lim[r] ? d[r] : ninf;
    barrier();

    float mt = ninf;
    for (uint j = 0u; j < BK; ++j) mt = max(mt, ss[pr * SLD + j]);
    const float m_new = max(m, mt);  // finite: key 0 of the first tile is in every row
    [[unroll]] for (uint j = 0u; j < 4u; ++j)
      ps[pr * SLD + 4u * pc + j] = exp(ss[pr * SLD + 4u * pc + j] - m_new);
    if (pc == 0u) cs[pr] = exp(m - m_new);
    m = m_new;
    barrier();

    if (vc < h8) {
      const float c0 = cs[vr], c1 = cs[vr + 1u];
      acc[0] *= c0;
      acc[1] *= c0;
      acc[2] *= c1;
      acc[3] *= c1;
      float lt0 = 0.0, lt1 = 0.0;
      for (uint j = 0u; j < n_tile; ++j) {
        const float p0 = ps[vr * SLD + j], p1 = ps[(vr + 1u) * SLD + j];
        const uvec4 v = vs[j * h8 + vc];
        const vec4 v0 = lo4(v), v1 = hi4(v);
        lt0 += p0;
        lt1 += p1;
        acc[0] += p0 * v0;
        acc[1] += p0 * v1;
        acc[2] += p1 * v0;
        acc[3] += p1 * v1;
      }
      l0 = l0 * c0 + lt0;
      l1 = l1 * c1 + lt1;
    }
    barrier();
  }

  if (vc < h8) {
    [[unroll]] for (uint i = 0u; i < 2u; ++i) {
      const uint row = r0 + vr + i;
      if (row >= n_rows) continue;
      const uint base = ((row / G) * p.n_head + hk * G + row % G) * hd + 8u * vc;
      const float il = 1.0 / (i == 0u ? l0 : l1);
      [[unroll]] for (uint e = 0u; e < 4u; ++e) {
        o[base + e] = acc[2u * i][e] * il;
        o[base + 4u + e] = acc[2u * i + 1u][e] * il;
      }
    }
  }
}
