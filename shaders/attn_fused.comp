#version 450
// attn_fused: one dispatch for the attention of a small batch (decode): RoPE on q and k,
// k and v stored as f16 into the KV cache, causal attention with split-K whose partial
// results the last split to finish merges, and the output written as f32 or quantized to
// 8 bits for mul_mvq (quantize_q8's layout).
//
// Token t of the batch is at position pos0 + t (pos0 = params[0]) and attends to positions
// 0..pos0+t. Keys and values of the batch's own tokens ("fresh", positions >= pos0) are
// taken from the f32 k/v rows, rotated here, never from the cache: the workgroups of query
// heads hq % (n_head / n_head_kv) == 0, split 0, write them to the cache in this same
// dispatch, and nothing here reads those cache rows. RoPE as in rope_store.comp.
//
// Splits: keys are divided into n_split ranges (grid z), each an online softmax over its
// range (flash-decoding). With n_split > 1 each writes (max, sum, acc[hd]) to `part`, then
// counts itself in counters[t][hq]; the one that completes the count merges every split
// and resets the counter to 0 (the buffer starts zeroed).
//
// bindings: 0 q (f32 [t][n_head*hd], unrotated), 1 k (f32 [t][n_kv*hd], unrotated),
//           2 v (f32 [t][n_kv*hd]), 3 kcache (f16 [pos][n_kv*hd]; uvec4 reads, uint pair
//           writes), 4 vcache (f16 pairs), 5 out (f32 [t][n_head*hd], or with flags & 1 a Q8
//           activation buffer: row t at element t * n_head*hd, scales at vec2 ds_off),
//           6 part (f32 [t][n_head][n_split][hd + 2]), 7 counters (uint [t][n_head]),
//           8 params (uint: pos0 at 0), 9 inv_freq (f32 [n_rot/2])
// push:     n_head, n_head_kv, head_dim, n_rot, mode (0 adjacent pairs, 2 NeoX), n_split,
//           flags (1: Q8 output), ds_off, scale (1/sqrt(hd))
// spec:     0 WG (threads; keys per tile)
// grid:     x = n_head, y = tokens (<= MAX_FRESH), z = n_split
// limits:   head_dim even and <= 256 (<= 2 WG unless a multiple of 8), WG >= 32,
//           n_split <= 32, head_dim % 32 == 0 for Q8
// Variant CLOCKS (attn_fused_clk, diagnostic): thread 0 of token 0's split 0 of head hq
// writes the device clock (GL_EXT_shader_realtime_clock, ns) at 14 points of the pass to
// binding 10 element hq * 32 + i and its SM's clock (cycles) to hq * 32 + 16 + i
// (bench_vulkan --attn-clocks).
#extension GL_GOOGLE_include_directive : enable
#extension GL_EXT_control_flow_attributes : enable
#extension GL_KHR_shader_subgroup_shuffle : enable
layout(constant_id = 0) const uint WG = 64;
layout(local_size_x_id = 0) in;
#include "reduce.glsl"
#include "q8.glsl"

const uint MAX_FRESH = 8u;
const uint MAX_HD = 256u;
const uint WG_MIN = 32u;  // smallest workgroup (dims per thread: MAX_HD / WG_MIN)
const uint MAX_SPLIT = 32u;
const uint PF = 8u;  // V values per thread loaded ahead of the softmax

layout(binding = 0) readonly buffer Q { float q[]; };
layout(binding = 1) readonly buffer K { float k[]; };
layout(binding = 2) readonly buffer V { float v[]; };
layout(binding = 3) readonly buffer KC { uvec4 kc[]; };
layout(binding = 3) writeonly buffer KCW { uint kcw[]; };
layout(binding = 4) buffer VC { uint vc[]; };
layout(binding = 4) readonly buffer VC4 { uvec4 vc4[]; };
layout(binding = 5) writeonly buffer O { float o[]; };
layout(binding = 5) writeonly buffer OQ { uvec4 oq[]; };
layout(binding = 5) writeonly buffer OQW { uint oqw[]; };
layout(binding = 5) writeonly buffer ODS { vec2 ods[]; };
layout(binding = 6) coherent buffer Part { float part[]; };
layout(binding = 7) coherent buffer Counters { uint counters[]; };
layout(binding = 8) readonly buffer Params { uint params[]; };
layout(binding = 9) readonly buffer Freq { float inv_freq[]; };
#ifdef CLOCKS
#extension GL_EXT_shader_realtime_clock : require
#extension GL_ARB_shader_clock : require
layout(binding = 10) writeonly buffer Clk { uvec2 clk[]; };
#endif

layout(push_constant) uniform Push {
  uint n_head, n_head_kv, head_dim, n_rot, mode, n_split, flags, ds_off;
  float scale;
} p;

shared float qf[MAX_HD];              // rotated, scaled q of this head
shared vec4 q4[MAX_HD / 4u];          // the same as vec4s (head_dim % 8 == 0)
shared float kf[MAX_FRESH * MAX_HD];  // rotated k of the fresh tokens 0..t
shared float vf[MAX_FRESH * MAX_HD];  // their v
shared float ps[WG];                  // probabilities of the current tile
shared float of[MAX_HD];              // the head's output (Q8 quantization)
shared float red_acc[WG * 8u];        // per key group: its V sums (group g at g * hd)
shared float split_m[MAX_SPLIT], split_l[MAX_SPLIT];  // the splits' statistics (merge)
shared bool last;
// one-token pass: per-subgroup sums of the fresh key's products with q (subgroups of 4+)
shared float fresh_dot[MAX_HD / 8u];

#include "attn_common.glsl"

// Index pair of rotation i within a head, and its angle's cosine and sine at `pos`.
uvec2 pair_index(uint i) {
  return p.mode == 0u ? uvec2(2u * i, 2u * i + 1u) : uvec2(i, i + p.n_rot / 2u);
}
vec2 cos_sin_f(uint pos, float freq) {
  float theta = float(pos) * freq;
  return vec2(cos(theta), sin(theta));
}
vec2 cos_sin(uint pos, uint i) { return cos_sin_f(pos, inv_freq[i]); }
// the pair (a, b) rotated by the angle of cs, times mul
vec2 rotate(float a, float b, vec2 cs, float mul) {
  return vec2(a * cs.x - b * cs.y, a * cs.y + b * cs.x) * mul;
}

// dst[0..hd) = the head at src_off of `which` (0 q, 1 k), rotated at `pos`, times `mul`
// (dst 0: qf; else kf from dst - 1, rounded to f16).
void load_rotated(uint which, uint src_off, uint pos, float mul, uint dst) {
  const uint tid = gl_LocalInvocationID.x, hd = p.head_dim;
  // unrotated dims (n_rot < head_dim) first, then the rotated pairs overwrite theirs
  for (uint i = tid; i < hd; i += WG) {
    if (i < p.n_rot) continue;
    float x = which == 0u ? q[src_off + i] : k[src_off + i];
    if (dst == 0u) qf[i] = x * mul;
    else kf[dst - 1u + i] = f16r(x * mul);
  }
  for (uint i = tid; i < p.n_rot / 2u; i += WG) {
    uvec2 ix = pair_index(i);
    float a = which == 0u ? q[src_off + ix.x] : k[src_off + ix.x];
    float b = which == 0u ? q[src_off + ix.y] : k[src_off + ix.y];
    vec2 r = rotate(a, b, cos_sin(pos, i), mul);
    if (dst == 0u) {
      qf[ix.x] = r.x;
      qf[ix.y] = r.y;
    } else {
      kf[dst - 1u + ix.x] = f16r(r.x);
      kf[dst - 1u + ix.y] = f16r(r.y);
    }
  }
}

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint hq = gl_WorkGroupID.x, t = gl_WorkGroupID.y, s = gl_WorkGroupID.z;
  const uint hd = p.head_dim, kv_dim = p.n_head_kv * hd, q_dim = p.n_head * hd;
  const uint group = p.n_head / p.n_head_kv, hk = hq / group;
  const uint pos0 = params[0], n_kv = pos0 + t + 1u;
  const uint chunk = (n_kv + p.n_split - 1u) / p.n_split;
  const uint j0 = min(s * chunk, n_kv), j1 = min(j0 + chunk, n_kv);

  mark(0u);
  const bool one = t == 0u && WG >= hd && p.n_rot == hd;
  if (one) {
    // one token, whole heads rotated (decode): every load of q, k, v and the frequencies
    // first, so that their latencies overlap, then load_rotated's arithmetic. The fresh
    // key's score is summed here over the pairs' threads rather than by one thread looping
    // over the head: that loop is a chain of head_dim dependent shared-memory loads
    const bool pr = tid < hd / 2u;
    const uvec2 ix = pair_index(pr ? tid : 0u);
    const uint qo = hq * hd, ko = hk * hd;
    float qa = 0.0, qb = 0.0, ka = 0.0, kb = 0.0, fr = 0.0, vv = 0.0, pd = 0.0;
    if (pr) {
      qa = q[qo + ix.x];
      qb = q[qo + ix.y];
      ka = k[ko + ix.x];
      kb = k[ko + ix.y];
      fr = inv_freq[tid];
    }
    if (tid < hd) vv = v[ko + tid];
    if (pr) {
      const vec2 cs = cos_sin_f(pos0, fr);
      const vec2 rq = rotate(qa, qb, cs, p.scale), rk = rotate(ka, kb, cs, 1.0);
      qf[ix.x] = rq.x;
      qf[ix.y] = rq.y;
      const vec2 kr = vec2(f16r(rk.x), f16r(rk.y));
      kf[ix.x] = kr.x;
      kf[ix.y] = kr.y;
      pd = dot(rq, kr);
    }
    if (tid < hd) vf[tid] = f16r(vv);
    const float sd = subgroupAdd(pd);
    if (subgroupElect() && gl_SubgroupID < MAX_HD / 8u) fresh_dot[gl_SubgroupID] = sd;
    mark(1u);
  } else {
    load_rotated(0u, t * q_dim + hq * hd, pos0 + t, p.scale, 0u);
    for (uint f = 0u; f <= t; ++f) {
      load_rotated(1u, f * kv_dim + hk * hd, pos0 + f, 1.0, 1u + f * MAX_HD);
      for (uint i = tid; i < hd; i += WG) vf[f * MAX_HD + i] = f16r(v[f * kv_dim + hk * hd + i]);
    }
  }
  barrier();
  mark(2u);
  for (uint i = tid; i < hd / 4u; i += WG)
    q4[i] = vec4(qf[4u * i], qf[4u * i + 1u], qf[4u * i + 2u], qf[4u * i + 3u]);
  barrier();
  mark(3u);
  if (hq % group == 0u && s == 0u) {  // this token's k and v into the cache
    const uint cb = ((pos0 + t) * kv_dim + hk * hd) / 2u;
    for (uint i = tid; i < hd / 2u; i += WG) {
      kcw[cb + i] = packHalf2x16(vec2(kf[t * MAX_HD + 2u * i], kf[t * MAX_HD + 2u * i + 1u]));
      vc[cb + i] = packHalf2x16(vec2(vf[t * MAX_HD + 2u * i], vf[t * MAX_HD + 2u * i + 1u]));
    }
  }
  mark(4u);

  // V is accumulated by lanes of VW dims (8: one uvec4 of halves; 2 when head_dim % 8 != 0);
  // the workgroup holds NG groups of hd / VW lanes, group gi taking keys gi, gi + NG, ...
  const bool wide = hd % 8u == 0u;
  const uint VW = wide ? 8u : 2u, NL = hd / VW, NG = WG / NL;
  const uint gi = tid / NL, lane = tid % NL;
  const uint vs4 = kv_dim / 8u, vs2 = kv_dim / 2u;  // cache row strides (uvec4 / uint)
  float m = -1.0 / 0.0, l = 0.0;
  float acc[8];
  [[unroll]] for (uint i = 0u; i < 8u; ++i) acc[i] = 0.0;

  for (uint jt = j0; jt < j1; jt += WG) {
    const uint j = jt + tid;
    float sc = -1.0 / 0.0;
    if (j < j1 && j >= pos0 && one) {
      // the pairs' threads are the first hd / 2 (their subgroup sums above)
      const uint nsg = (hd / 2u + gl_SubgroupSize - 1u) / gl_SubgroupSize;
      float d = 0.0;
      for (uint i = 0u; i < nsg; ++i) d += fresh_dot[i];
      sc = d;
    } else if (j < j1 && j >= pos0) {
      const uint fb = (j - pos0) * MAX_HD;
      float d = 0.0;
      for (uint i = 0u; i < hd; ++i) d += qf[i] * kf[fb + i];
      sc = d;
    } else if (j < j1 && wide) {
      const uint kb = (j * kv_dim + hk * hd) / 8u;
      float d = 0.0;
      uint i = 0u;
      for (; i + 16u <= hd / 8u; i += 16u) {  // sixteen independent 16-byte loads in flight
        uvec4 kk[16];
        [[unroll]] for (uint u = 0u; u < 16u; ++u) kk[u] = kc[kb + i + u];
        [[unroll]] for (uint u = 0u; u < 16u; ++u)
          d += dot(vec4(unpackHalf2x16(kk[u].x), unpackHalf2x16(kk[u].y)), q4[2u * (i + u)]) +
               dot(vec4(unpackHalf2x16(kk[u].z), unpackHalf2x16(kk[u].w)), q4[2u * (i + u) + 1u]);
      }
      for (; i < hd / 8u; ++i) {
        uvec4 kk = kc[kb + i];
        d += dot(vec4(unpackHalf2x16(kk.x), unpackHalf2x16(kk.y)), q4[2u * i]) +
             dot(vec4(unpackHalf2x16(kk.z), unpackHalf2x16(kk.w)), q4[2u * i + 1u]);
      }
      sc = d;
    } else if (j < j1) {  // head_dim % 8 != 0: pairs
      const uint kb = (j * kv_dim + hk * hd) / 2u;
      float d = 0.0;
      for (uint i = 0u; i < hd / 2u; ++i)
        d += dot(unpackHalf2x16(kc[(kb + i) / 4u][(kb + i) % 4u]), vec2(qf[2u * i], qf[2u * i + 1u]));
      sc = d;
    }
    if (jt == j0) mark(5u);
    // the first PF cached values of this thread's key group, loaded before the softmax
    // so their latency overlaps it
    const uint n_tile0 = min(WG, j1 - jt);
    const uint n_cached0 = min(n_tile0, max(pos0, jt) - jt);
    uvec4 vpre[PF];
    if (wide && gi < NG) {
      const uint vb = (jt * kv_dim + hk * hd) / 8u + lane;
      [[unroll]] for (uint u = 0u; u < PF; ++u) {
        const uint jj = gi + u * NG;
        vpre[u] = jj < n_cached0 ? vc4[vb + jj * vs4] : uvec4(0u);
      }
    }
    if (jt == j0) mark(6u);
    const float mt = wg_max(sc);
    if (jt == j0) mark(7u);
    const float m_new = max(m, mt);
    const float pj = j < j1 ? exp(sc - m_new) : 0.0;
    ps[tid] = pj;
    const float lt = wg_sum(pj);  // its barriers also publish ps
    if (jt == j0) mark(8u);
    const float corr = exp(m - m_new);
    l = l * corr + lt;
    m = m_new;
    [[unroll]] for (uint i = 0u; i < 8u; ++i) acc[i] *= corr;
    const uint n_tile = min(WG, j1 - jt);
    // keys jt .. jt + n_cached - 1 come from the cache, the rest are fresh
    const uint n_cached = min(n_tile, max(pos0, jt) - jt);
    if (gi < NG) {
      uint jj = gi;
      if (wide) {
        [[unroll]] for (uint u = 0u; u < PF; ++u) {
          if (jj >= n_cached) break;
          const float pu = ps[jj];
          const vec2 h0 = unpackHalf2x16(vpre[u].x), h1 = unpackHalf2x16(vpre[u].y);
          const vec2 h2 = unpackHalf2x16(vpre[u].z), h3 = unpackHalf2x16(vpre[u].w);
          acc[0] += pu * h0.x; acc[1] += pu * h0.y; acc[2] += pu * h1.x; acc[3] += pu * h1.y;
          acc[4] += pu * h2.x; acc[5] += pu * h2.y; acc[6] += pu * h3.x; acc[7] += pu * h3.y;
          jj += NG;
        }
        const uint vb = (jt * kv_dim + hk * hd) / 8u + lane;
        for (; jj + 3u * NG < n_cached; jj += 4u * NG) {  // four independent loads in flight
          uvec4 w[4];
          [[unroll]] for (uint u = 0u; u < 4u; ++u) w[u] = vc4[vb + (jj + u * NG) * vs4];
          [[unroll]] for (uint u = 0u; u < 4u; ++u) {
            const float pu = ps[jj + u * NG];
            const vec2 h0 = unpackHalf2x16(w[u].x), h1 = unpackHalf2x16(w[u].y);
            const vec2 h2 = unpackHalf2x16(w[u].z), h3 = unpackHalf2x16(w[u].w);
            acc[0] += pu * h0.x; acc[1] += pu * h0.y; acc[2] += pu * h1.x; acc[3] += pu * h1.y;
            acc[4] += pu * h2.x; acc[5] += pu * h2.y; acc[6] += pu * h3.x; acc[7] += pu * h3.y;
          }
        }
        for (; jj < n_cached; jj += NG) {
          const uvec4 w = vc4[vb + jj * vs4];
          const float pu = ps[jj];
          [[unroll]] for (uint u = 0u; u < 4u; ++u) {
            const vec2 h = unpackHalf2x16(w[u]);
            acc[2u * u] += pu * h.x;
            acc[2u * u + 1u] += pu * h.y;
          }
        }
      } else {
        const uint vb = (jt * kv_dim + hk * hd) / 2u + lane;
        for (; jj < n_cached; jj += NG) {
          const vec2 h = unpackHalf2x16(vc[vb + jj * vs2]);
          acc[0] += ps[jj] * h.x;
          acc[1] += ps[jj] * h.y;
        }
      }
      for (; jj < n_tile; jj += NG) {  // fresh keys
        const uint fb = (jt + jj - pos0) * MAX_HD + VW * lane;
        [[unroll]] for (uint u = 0u; u < 8u; ++u)
          if (u < VW) acc[u] += ps[jj] * vf[fb + u];
      }
    }
    if (jt == j0) mark(9u);
    barrier();
    if (jt == j0) mark(10u);
  }

  // the groups' sums -> red_acc[d] (unnormalized), then one thread per dim from here on
  if (gi < NG)
    [[unroll]] for (uint u = 0u; u < 8u; ++u)
      if (u < VW) red_acc[gi * hd + VW * lane + u] = acc[u];
  barrier();
  mark(11u);
  float res[MAX_HD / WG_MIN];  // dims tid, tid + WG, ...
  [[unroll]] for (uint i = 0u; i < MAX_HD / WG_MIN; ++i) {
    const uint d = tid + i * WG;
    float a = 0.0;
    if (d < hd)
      for (uint g2 = 0u; g2 < NG; ++g2) a += red_acc[g2 * hd + d];
    res[i] = a;
  }
  mark(12u);

  if (p.n_split > 1u) {
    const uint hb = (t * p.n_head + hq) * p.n_split;
    const uint pb = (hb + s) * (hd + 2u);
    if (tid == 0u) {
      part[pb] = m;
      part[pb + 1u] = l;
    }
    [[unroll]] for (uint i = 0u; i < MAX_HD / WG_MIN; ++i) {
      const uint d = tid + i * WG;
      if (d < hd) part[pb + 2u + d] = res[i];
    }
    memoryBarrierBuffer();
    barrier();
    if (tid == 0u) {
      const uint done = atomicAdd(counters[t * p.n_head + hq], 1u);
      last = done == p.n_split - 1u;
      if (last) counters[t * p.n_head + hq] = 0u;
    }
    barrier();
    if (!last) return;  // uniform: `last` is shared
    memoryBarrierBuffer();
    // merge: M = max m_s, L = sum l_s e^(m_s - M), acc = sum acc_s e^(m_s - M); the split
    // statistics go through shared memory so every load below is independent
    for (uint i = tid; i < p.n_split; i += WG) {
      split_m[i] = part[(hb + i) * (hd + 2u)];
      split_l[i] = part[(hb + i) * (hd + 2u) + 1u];
    }
    barrier();
    float M = -1.0 / 0.0;
    for (uint i = 0u; i < p.n_split; ++i) M = max(M, split_m[i]);
    l = 0.0;
    for (uint i = 0u; i < p.n_split; ++i)
      l += split_l[i] > 0.0 ? split_l[i] * exp(split_m[i] - M) : 0.0;  // empty: l = 0
    [[unroll]] for (uint i = 0u; i < MAX_HD / WG_MIN; ++i) {
      const uint d = tid + i * WG;
      if (d >= hd) continue;
      float a = 0.0;
      for (uint si = 0u; si < p.n_split; ++si) {
        const float w = split_l[si] > 0.0 ? exp(split_m[si] - M) : 0.0;
        a += w * part[(hb + si) * (hd + 2u) + 2u + d];
      }
      res[i] = a;
    }
  }

  const uint ob = t * q_dim + hq * hd;
  if ((p.flags & 1u) == 0u) {
    [[unroll]] for (uint i = 0u; i < MAX_HD / WG_MIN; ++i) {
      const uint d = tid + i * WG;
      if (d < hd) o[ob + d] = res[i] / l;
    }
    return;
  }
  // Q8 output: blocks of 32 along the head, as quantize_q8.comp
  if (gl_SubgroupSize == 32u && WG >= hd) {
    // a subgroup per block (thread tid holds dim tid; head_dim % 32 == 0): the values of
    // the path below without its serial loops
    attn_q8_subgroup(ob, tid, hd, res[0] / l);
    mark(13u);
    return;
  }
  [[unroll]] for (uint i = 0u; i < MAX_HD / WG_MIN; ++i) {
    const uint d = tid + i * WG;
    if (d < hd) of[d] = res[i] / l;
  }
  barrier();
  attn_q8_shared(ob, tid, hd);
}
