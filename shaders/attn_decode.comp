#version 450
// attn_decode: attn_fused's one-token pass (decode) laid out for latency. The cached keys
// and values this workgroup reads are requested as soon as the position is known, in
// coalesced rows: a key group of LPK = head_dim / 8 neighbouring invocations reads one
// cached row, 8 halves each (attn_fused gives each thread a whole row: 16 loads of 32
// rows apart a warp instruction). Each lane rotates its own 8 dims of q, so no barrier
// comes before the keys; each key group keeps its own online softmax over its keys (max,
// sum, its 8 dims of the weighted values) in registers; the groups of a subgroup merge
// through shuffles, the subgroups through shared memory, with the fresh token (rotated
// here, stored to the cache by the workgroups of query heads hq % (n_head / n_head_kv) ==
// 0) as one more part of that merge. H100, Q4_K_M llama-8b at position 128: 7.0 us a
// layer against attn_fused's 9.9 (bench_vulkan --profile --mvqo default,noattndec).
//
// Same bindings, push constants and output layouts as attn_fused.comp (one token: grid y
// = 1, z = 1; keys 0..pos0 with pos0 = params[0], the last being the fresh one).
// limits:   head_dim / 8 a power of two, at most the subgroup size and head_dim <= WG;
//           n_rot == head_dim; one split; Q8 output: head_dim % 32 == 0
// spec:     0 WG (threads)
// Variant CLOCKS (attn_decode_clk, diagnostic): as attn_fused_clk, 7 points (bench_vulkan
// --profile --attn-clocks).
// Variant WAIT (attn_decode_wait; Tuning::attn_wait): recorded with no barrier between it
// and the q/k/v matvecs (their HEADS variants), before or after them. q, k and v come from
// binding 0 laid out per query head (q, k, v of head hq from 3 head_dim hq), and each
// thread polls the values it needs (volatile loads) until none has HEAD_EMPTY's bits: the
// data are their own flag, so the matvecs need no memory barrier or count. The cached rows
// are requested before that. Once every thread has read, the workgroup writes HEAD_EMPTY
// back over its 3 head_dim values for the next layer. A wait that gives up (WAIT_TRIES
// polls) adds 1 to binding 7 element 0: the pass is then void (the Backend redoes it with
// barriers).
#extension GL_GOOGLE_include_directive : enable
#extension GL_EXT_control_flow_attributes : enable
#extension GL_KHR_shader_subgroup_basic : enable
#extension GL_KHR_shader_subgroup_arithmetic : enable
#extension GL_KHR_shader_subgroup_shuffle : enable
layout(constant_id = 0) const uint WG = 256;
layout(local_size_x_id = 0) in;
#include "q8.glsl"

const uint MAX_HD = 256u;
const uint KPT = 8u;          // cached keys a key group takes a round (one load each)
const uint MAX_SG = WG / 4u;  // subgroups of 4+ invocations

#ifdef WAIT
layout(binding = 0) coherent volatile readonly buffer Q { float q[]; };
layout(binding = 0) coherent volatile readonly buffer Q4 { vec4 q4v[]; };
layout(binding = 0) coherent writeonly buffer QW { uint qw[]; };
layout(binding = 7) buffer Fail { uint gave_up[]; };
const uint WAIT_TRIES = 32768u;
const uint HEAD_EMPTY = 0xFFFFFFFFu;  // as in mul_mvq.comp
bool empty4(vec4 x) { return any(equal(floatBitsToUint(x), uvec4(HEAD_EMPTY))); }
#define K_AT(i) q[i]
#define V_AT(i) q[i]
#else
layout(binding = 0) readonly buffer Q { float q[]; };
layout(binding = 0) readonly buffer Q4 { vec4 q4v[]; };
layout(binding = 1) readonly buffer K { float k[]; };
layout(binding = 2) readonly buffer V { float v[]; };
#define K_AT(i) k[i]
#define V_AT(i) v[i]
#endif
layout(binding = 3) readonly buffer KC { uvec4 kc[]; };
layout(binding = 3) writeonly buffer KCW { uint kcw[]; };
layout(binding = 4) readonly buffer VC4 { uvec4 vc4[]; };
layout(binding = 4) writeonly buffer VCW { uint vcw[]; };
layout(binding = 5) writeonly buffer O { float o[]; };
layout(binding = 5) writeonly buffer OQ { uvec4 oq[]; };
layout(binding = 5) writeonly buffer OQW { uint oqw[]; };
layout(binding = 5) writeonly buffer ODS { vec2 ods[]; };
layout(binding = 8) readonly buffer Params { uint params[]; };
layout(binding = 9) readonly buffer Freq { float inv_freq[]; };
layout(binding = 9) readonly buffer Freq4 { vec4 freq4[]; };
#ifdef CLOCKS
#extension GL_EXT_shader_realtime_clock : require
#extension GL_ARB_shader_clock : require
layout(binding = 10) writeonly buffer Clk { uvec2 clk[]; };
#endif

layout(push_constant) uniform Push {
  uint n_head, n_head_kv, head_dim, n_rot, mode, n_split, flags, ds_off;
  float scale;
} p;

shared float kf[MAX_HD];       // the fresh key, rotated, as the cache holds it
shared float vf[MAX_HD];       // the fresh value, as the cache holds it
shared float fresh_dot[MAX_SG];
shared float part_m[MAX_SG], part_l[MAX_SG];
// per subgroup: its weighted values (WG / subgroup size parts of head_dim <= 8 * subgroup
// size values)
shared float part_acc[WG * 8u];
shared float of[MAX_HD];                 // output (Q8 through shared memory)

#include "attn_common.glsl"

vec4 lo4(uvec4 h) { return vec4(unpackHalf2x16(h.x), unpackHalf2x16(h.y)); }
vec4 hi4(uvec4 h) { return vec4(unpackHalf2x16(h.z), unpackHalf2x16(h.w)); }

void main() {
  mark(0u);
  const uint tid = gl_LocalInvocationID.x, hq = gl_WorkGroupID.x;
  const uint hd = p.head_dim, kv_dim = p.n_head_kv * hd;
  const uint group = p.n_head / p.n_head_kv, hk = hq / group;
  const uint pos0 = params[0];  // cached keys 0..pos0-1, the fresh one at pos0
  const uint LPK = hd / 8u, KG = WG / LPK;  // lanes a key, key groups
  const uint gk = tid / LPK, ln = tid % LPK;
  const uint row4 = kv_dim / 8u, base4 = hk * hd / 8u + ln;  // uvec4 stride, offset

  // round 0's cached keys and values, requested first. (Requested before pos0 arrives,
  // every row the cache holds up to a round, left out where used: no faster on the H100.)
#ifdef WAIT
  const uint qo = 3u * hd * hq, ko = qo + hd, vo = qo + 2u * hd;
#else
  const uint qo = hq * hd, ko = hk * hd, vo = ko;
#endif
  uvec4 kk[KPT], vv[KPT];
  [[unroll]] for (uint i = 0u; i < KPT; ++i) {
    const uint j = gk + i * KG;
    kk[i] = j < pos0 ? kc[j * row4 + base4] : uvec4(0u);
    vv[i] = j < pos0 ? vc4[j * row4 + base4] : uvec4(0u);
  }
  // this lane's 8 dims of q, rotated by the lane itself (no shared memory, no barrier
  // before the keys): adjacent pairs 4 ln .. 4 ln + 3, or (NeoX) each dim with the one
  // head_dim / 2 away. (Rotated by the pair threads and shared through a barrier: the
  // same time on the H100.)
  const bool neox = p.mode != 0u;
  const uint hh = hd / 2u, d0 = 8u * ln;
  vec4 f0, f1;
  const uint e0 = d0 < hh ? d0 + hh : d0 - hh;  // NeoX: the partner dims, and the pairs' index
  if (neox) {
    const uint i0 = min(d0, e0);
    f0 = freq4[i0 / 4u];
    f1 = freq4[i0 / 4u + 1u];
  } else {
    f0 = freq4[d0 / 8u];  // pairs 4 ln .. 4 ln + 3
  }
  // the pair threads (tid < hd / 2): the fresh key rotated, its product with q, the value
  const bool pr = tid < hh;
  const uvec2 ix = neox ? uvec2(tid, tid + hh) : uvec2(2u * tid, 2u * tid + 1u);
  const float fr = pr ? inv_freq[tid] : 0.0;
  vec4 x0, x1, y0 = vec4(0.0), y1 = vec4(0.0);
  float qa = 0.0, qb = 0.0, ka = 0.0, kb = 0.0, vx = 0.0, pd = 0.0;
#ifdef WAIT
  // polled until none of this thread's values is still empty
  for (uint tries = 0u;; ++tries) {
#endif
    x0 = q4v[(qo + d0) / 4u];
    x1 = q4v[(qo + d0) / 4u + 1u];
    if (neox) {
      y0 = q4v[(qo + e0) / 4u];
      y1 = q4v[(qo + e0) / 4u + 1u];
    }
    if (pr) {
      qa = q[qo + ix.x];
      qb = q[qo + ix.y];
      ka = K_AT(ko + ix.x);
      kb = K_AT(ko + ix.y);
    }
    if (tid < hd) vx = V_AT(vo + tid);
#ifdef WAIT
    const bool empty = empty4(x0) || empty4(x1) || empty4(y0) || empty4(y1) ||
                       empty4(vec4(qa, qb, ka, kb)) || floatBitsToUint(vx) == HEAD_EMPTY;
    if (!empty) break;
    if (tries + 1u >= WAIT_TRIES) {
      atomicAdd(gave_up[0], 1u);
      break;
    }
  }
#endif
  if (pos0 != 0xFFFFFFFFu) mark(1u);  // (CLOCKS: when pos0 has arrived)
  const float fpos = float(pos0);
  vec4 q0, q1;
  if (neox) {
    const vec4 c0 = cos(fpos * f0), s0 = sin(fpos * f0), c1 = cos(fpos * f1), s1 = sin(fpos * f1);
    // dims below head_dim / 2: x cos - partner sin; above: partner sin + x cos
    const float sg = d0 < hh ? -1.0 : 1.0;
    q0 = (x0 * c0 + sg * y0 * s0) * p.scale;
    q1 = (x1 * c1 + sg * y1 * s1) * p.scale;
  } else {
    const vec4 c = cos(fpos * f0), sn = sin(fpos * f0);
    q0 = vec4(x0.x * c.x - x0.y * sn.x, x0.x * sn.x + x0.y * c.x,
              x0.z * c.y - x0.w * sn.y, x0.z * sn.y + x0.w * c.y) * p.scale;
    q1 = vec4(x1.x * c.z - x1.y * sn.z, x1.x * sn.z + x1.y * c.z,
              x1.z * c.w - x1.w * sn.w, x1.z * sn.w + x1.w * c.w) * p.scale;
  }
  if (pr) {
    const float th = fpos * fr;
    const vec2 cs = vec2(cos(th), sin(th));
    const vec2 rq = vec2(qa * cs.x - qb * cs.y, qa * cs.y + qb * cs.x) * p.scale;
    const vec2 kr = vec2(f16r(ka * cs.x - kb * cs.y), f16r(ka * cs.y + kb * cs.x));
    kf[ix.x] = kr.x;
    kf[ix.y] = kr.y;
    pd = dot(rq, kr);
  }
  if (tid < hd) vf[tid] = f16r(vx);
  mark(2u);

  // the key group's online softmax over its cached keys gk, gk + KG, ...
  float m = -1.0 / 0.0, l = 0.0;
  float acc[8];
  [[unroll]] for (uint u = 0u; u < 8u; ++u) acc[u] = 0.0;
  for (uint j0 = 0u; j0 < pos0; j0 += KG * KPT) {
    if (j0 > 0u)
      [[unroll]] for (uint i = 0u; i < KPT; ++i) {
        const uint j = j0 + gk + i * KG;
        kk[i] = j < pos0 ? kc[j * row4 + base4] : uvec4(0u);
        vv[i] = j < pos0 ? vc4[j * row4 + base4] : uvec4(0u);
      }
    float s[KPT];
    [[unroll]] for (uint i = 0u; i < KPT; ++i) s[i] = dot(lo4(kk[i]), q0) + dot(hi4(kk[i]), q1);
    for (uint o = 1u; o < LPK; o <<= 1)  // the key's dot over its lanes
      [[unroll]] for (uint i = 0u; i < KPT; ++i) s[i] += subgroupShuffleXor(s[i], o);
    float mr = m;
    [[unroll]] for (uint i = 0u; i < KPT; ++i) {
      if (j0 + gk + i * KG >= pos0) s[i] = -1.0 / 0.0;
      mr = max(mr, s[i]);
    }
    // (a group with no key yet keeps m = -inf, l = 0: no exp of -inf - -inf)
    const float corr = m == mr ? 1.0 : exp(m - mr);
    l *= corr;
    [[unroll]] for (uint u = 0u; u < 8u; ++u) acc[u] *= corr;
    [[unroll]] for (uint i = 0u; i < KPT; ++i) {
      const float pi = s[i] == -1.0 / 0.0 ? 0.0 : exp(s[i] - mr);
      l += pi;
      const vec4 a = lo4(vv[i]), b = hi4(vv[i]);
      acc[0] += pi * a.x; acc[1] += pi * a.y; acc[2] += pi * a.z; acc[3] += pi * a.w;
      acc[4] += pi * b.x; acc[5] += pi * b.y; acc[6] += pi * b.z; acc[7] += pi * b.w;
    }
    m = mr;
  }
  mark(3u);
  // the fresh key's product with q, summed over the pair threads (published by the barrier
  // below)
  const float sd = subgroupAdd(pd);
  if (subgroupElect()) fresh_dot[gl_SubgroupID] = sd;
  // the key groups of a subgroup merged (lanes ln of each), then one part per subgroup
  for (uint o = LPK; o < gl_SubgroupSize; o <<= 1) {
    const float m2 = subgroupShuffleXor(m, o), l2 = subgroupShuffleXor(l, o);
    const float mm = max(m, m2);
    const float c1 = m == mm ? 1.0 : exp(m - mm), c2 = m2 == mm ? 1.0 : exp(m2 - mm);
    l = l * c1 + l2 * c2;
    [[unroll]] for (uint u = 0u; u < 8u; ++u)
      acc[u] = acc[u] * c1 + subgroupShuffleXor(acc[u], o) * c2;
    m = mm;
  }
  const uint sg = gl_SubgroupID;
  if (gl_SubgroupInvocationID < LPK) {
    [[unroll]] for (uint u = 0u; u < 8u; ++u) part_acc[sg * hd + 8u * ln + u] = acc[u];
    if (ln == 0u) {
      part_m[sg] = m;
      part_l[sg] = l;
    }
  }
  barrier();
  mark(4u);
#ifdef WAIT
  // every thread has read its values: the head's q, k and v emptied for the next layer
  for (uint i = tid; i < 3u * hd; i += WG) qw[qo + i] = HEAD_EMPTY;
#endif
  if (hq % group == 0u) {  // the fresh key and value into the cache (row pos0)
    const uint cb = (pos0 * kv_dim + hk * hd) / 2u;
    for (uint i = tid; i < hd / 2u; i += WG) {
      kcw[cb + i] = packHalf2x16(vec2(kf[2u * i], kf[2u * i + 1u]));
      vcw[cb + i] = packHalf2x16(vec2(vf[2u * i], vf[2u * i + 1u]));
    }
  }
  // the parts and the fresh key merged: thread d < hd holds output dim d
  // (loops unrolled by 8 parts, so that their loads go together)
  float sf = 0.0;
  for (uint i = 0u; i < (hd / 2u + gl_SubgroupSize - 1u) / gl_SubgroupSize; ++i) sf += fresh_dot[i];
  const uint nsg = gl_NumSubgroups, d = min(tid, hd - 1u);
  float M = sf;
  for (uint i0 = 0u; i0 < nsg; i0 += 8u)
    [[unroll]] for (uint i = i0; i < i0 + 8u; ++i)
      if (i < nsg) M = max(M, part_m[i]);
  float L = exp(sf - M);
  float res = L * vf[d];
  for (uint i0 = 0u; i0 < nsg; i0 += 8u)
    [[unroll]] for (uint i = i0; i < i0 + 8u; ++i)
      if (i < nsg) {
        const float w = part_m[i] == -1.0 / 0.0 ? 0.0 : exp(part_m[i] - M);
        L += part_l[i] * w;
        res += part_acc[i * hd + d] * w;
      }
  res /= L;
  mark(5u);

  const uint ob = hq * hd;
  if ((p.flags & 1u) == 0u) {
    if (tid < hd) o[ob + tid] = res;
    mark(6u);
    return;
  }
  if (gl_SubgroupSize == 32u) {  // a subgroup a block of 32 (head_dim % 32 == 0)
    attn_q8_subgroup(ob, tid, hd, res);
    mark(6u);
    return;
  }
  if (tid < hd) of[tid] = res;
  barrier();
  attn_q8_shared(ob, tid, hd);
  mark(6u);
}
