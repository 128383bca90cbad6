#version 450
// attn_combine: merges the n_split partial results of attn for each (token, head):
// M = max m_s, L = sum l_s e^(m_s - M), out[d] = sum acc_s[d] e^(m_s - M) / L.
// Empty splits carry m = -inf, l = 0 and contribute nothing.
//
// bindings: 0 part (f32 [t][n_head][n_split][hd + 2]), 1 out (f32 [t][n_head*hd])
// push:     n_head, head_dim, n_split
// spec:     0 WG (threads)
// grid:     x = n_head, y = tokens
layout(constant_id = 0) const uint WG = 64;
layout(local_size_x_id = 0) in;

layout(binding = 0) readonly buffer Part { float part[]; };
layout(binding = 1) writeonly buffer O { float o[]; };

layout(push_constant) uniform Push { uint n_head, head_dim, n_split; } p;

void main() {
  const uint hq = gl_WorkGroupID.x, t = gl_WorkGroupID.y, hd = p.head_dim;
  const uint pb = (t * p.n_head + hq) * p.n_split * (hd + 2u);
  float M = -1.0 / 0.0;
  for (uint s = 0u; s < p.n_split; ++s) M = max(M, part[pb + s * (hd + 2u)]);
  float L = 0.0;
  for (uint s = 0u; s < p.n_split; ++s) {
    float l = part[pb + s * (hd + 2u) + 1u];
    if (l > 0.0) L += l * exp(part[pb + s * (hd + 2u)] - M);
  }
  for (uint d = gl_LocalInvocationID.x; d < hd; d += WG) {
    float a = 0.0;
    for (uint s = 0u; s < p.n_split; ++s) {
      uint b = pb + s * (hd + 2u);
      if (part[b + 1u] > 0.0) a += part[b + 2u + d] * exp(part[b] - M);
    }
    o[(t * p.n_head + hq) * hd + d] = a / L;
  }
}
