#version 450
// rope_store: RoPE on q (in place) and k, then k and v stored as f16 into the KV cache.
// Token t is at position pos = params[0] + t. Pair i < n_rot/2 rotates by
// theta = pos * inv_freq[i] (inv_freq = base^(-2i/n_rot) / freq_factor[i], from the host):
// mode 0 pairs (2i, 2i+1), mode 2 pairs (i, i + n_rot/2); (a, b) -> (a c - b s, a s + b c).
// Workgroup x < n_head rotates q head x; x >= n_head handles kv head x - n_head.
//
// bindings: 0 q (f32 [t][n_head*hd]), 1 k (f32 [t][n_kv*hd]), 2 v (f32 [t][n_kv*hd]),
//           3 kcache (f16 pairs [pos][n_kv*hd]), 4 vcache (same), 5 params (uint: pos at 0),
//           6 inv_freq (f32 [n_rot/2])
// push:     n_head, n_head_kv, head_dim, n_rot, mode, q_stride, kv_stride (floats/token)
// spec:     0 WG (threads)
// grid:     x = n_head + n_head_kv, y = tokens
layout(constant_id = 0) const uint WG = 64;
layout(local_size_x_id = 0) in;

layout(binding = 0) buffer Q { float q[]; };
layout(binding = 1) buffer K { float k[]; };
layout(binding = 2) readonly buffer V { float v[]; };
layout(binding = 3) writeonly buffer KC { uint kc[]; };
layout(binding = 4) writeonly buffer VC { uint vc[]; };
layout(binding = 5) readonly buffer Params { uint params[]; };
layout(binding = 6) readonly buffer Freq { float inv_freq[]; };

layout(push_constant) uniform Push {
  uint n_head, n_head_kv, head_dim, n_rot, mode, q_stride, kv_stride;
} p;

uvec2 pair_index(uint i) {
  return p.mode == 0u ? uvec2(2u * i, 2u * i + 1u) : uvec2(i, i + p.n_rot / 2u);
}

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint h = gl_WorkGroupID.x, t = gl_WorkGroupID.y;
  const uint pos = params[0] + t;
  const uint half_rot = p.n_rot / 2u;
  if (h < p.n_head) {
    uint base = t * p.q_stride + h * p.head_dim;
    for (uint i = tid; i < half_rot; i += WG) {
      float theta = float(pos) * inv_freq[i];
      float c = cos(theta), s = sin(theta);
      uvec2 ix = pair_index(i) + base;
      float a = q[ix.x], b = q[ix.y];
      q[ix.x] = a * c - b * s;
      q[ix.y] = a * s + b * c;
    }
    return;
  }
  const uint hk = h - p.n_head;
  const uint base = t * p.kv_stride + hk * p.head_dim;
  for (uint i = tid; i < half_rot; i += WG) {
    float theta = float(pos) * inv_freq[i];
    float c = cos(theta), s = sin(theta);
    uvec2 ix = pair_index(i) + base;
    float a = k[ix.x], b = k[ix.y];
    k[ix.x] = a * c - b * s;
    k[ix.y] = a * s + b * c;
  }
  memoryBarrierBuffer();
  barrier();
  const uint kv_dim = p.n_head_kv * p.head_dim;
  const uint cbase = (pos * kv_dim + hk * p.head_dim) / 2u;
  for (uint i = tid; i < p.head_dim / 2u; i += WG) {
    kc[cbase + i] = packHalf2x16(vec2(k[base + 2u * i], k[base + 2u * i + 1u]));
    vc[cbase + i] = packHalf2x16(vec2(v[base + 2u * i], v[base + 2u * i + 1u]));
  }
}
