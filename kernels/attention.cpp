// Attention over an F16 KV cache. K rows are [pos][kv_head * head_dim + d]; V is stored
// transposed, [kv_head * head_dim + d][pos], so each output element is one contiguous
// f16 dot product over positions.
#include "kernels/attention.h"

#include <omp.h>

#include <algorithm>
#include <cmath>

#include "kernels/isa.h"
#include "kernels/ops.h"

namespace petrel::kernels {

void attention_f16(const AttentionArgs& a, Workspace& ws, int n_threads) {
  const int64_t q_dim = int64_t(a.n_head) * a.head_dim;
  const int64_t kv_dim = int64_t(a.n_head_kv) * a.head_dim;
  const int group = a.n_head / a.n_head_kv;
  const int64_t n_kv_max = a.pos0 + a.n_tokens;
  const VecDotFn dot = kernels_for(Type::kF16).vec_dot;
  // Per-thread scratch: f16 query, f32 scores, f16 weights.
  const size_t scratch = (a.head_dim + 2 * n_kv_max) * sizeof(uint16_t) + n_kv_max * sizeof(float) + 64;
  n_threads = std::max(1, n_threads);
  for (int t = 0; t < n_threads; ++t) ws.get(scratch, 1 + t);
  const int64_t n_items = int64_t(a.n_tokens) * a.n_head;
#pragma omp parallel for num_threads(n_threads) schedule(dynamic, 1)
  for (int64_t item = 0; item < n_items; ++item) {
    const int t = static_cast<int>(item / a.n_head);
    const int h = static_cast<int>(item % a.n_head);
    const int kvh = h / group;
    const int64_t n_kv = a.pos0 + t + 1;
    uint8_t* base = static_cast<uint8_t*>(ws.get(scratch, 1 + omp_get_thread_num()));
    float* scores = reinterpret_cast<float*>(base);
    uint16_t* q16 = reinterpret_cast<uint16_t*>(scores + n_kv_max);
    uint16_t* p16 = q16 + a.head_dim;
    const float* q = a.q + t * q_dim + int64_t(h) * a.head_dim;
    for (int d = 0; d < a.head_dim; ++d) q16[d] = f32_to_f16(q[d]);
    // scores_j = q . k_j * scale
    const uint16_t* k = a.k + int64_t(kvh) * a.head_dim;
    for (int64_t j = 0; j < n_kv; ++j) {
      float s;
      dot(a.head_dim, &s, k + j * kv_dim, q16);
      scores[j] = s * a.scale;
    }
    softmax(scores, n_kv);
    for (int64_t j = 0; j < n_kv; ++j) p16[j] = f32_to_f16(scores[j]);
    // out_d = sum_j p_j v_j[d]
    float* out = a.out + t * q_dim + int64_t(h) * a.head_dim;
    const uint16_t* vt = a.vt + int64_t(kvh) * a.head_dim * a.vt_stride;
    for (int d = 0; d < a.head_dim; ++d) dot(n_kv, &out[d], vt + d * a.vt_stride, p16);
  }
}

}  // namespace petrel::kernels
