// Scalar reference dot products: the spec every SIMD vec_dot is tested against.
// Block layouts (see blocks.h): Q4_0 {d; qs[16]} low nibble = element j, high = j+16;
// Q4_1 adds m; Q5_0/Q5_1 add qh[4] (bit j = 5th bit of element j); Q8_0 {d; qs[32]};
// Q8_1 {d; s = d*sum(qs); qs[32]}; Q4_K {d; dmin; scales[12]; qs[128]} (chunk c of 64:
// low nibbles of qs[32c..] = sub-block 2c, high = 2c+1); Q5_K adds qh[32] (bit 2c / 2c+1
// of qh[l]); Q6_K {ql[128]; qh[64]; scales[16]; d}; Q8_K {f32 d; qs[256]; bsums[16]}.
// Semantics follow llama.cpp's generic CPU code: integer products per block, f32 block
// scales; K-quant mins use the Q8_K bsums. F16/BF16/F32 accumulate in double as ggml's
// generic vec_dot does.
#include <cstring>

#include "kernels/blocks.h"
#include "kernels/ref.h"
#include "kernels/simd_common.h"
#include "kernels/types.h"

namespace petrel::kernels {

void vec_dot_f32_f32_ref(int64_t n, float* s, const void* x, const void* y) {
  const auto* a = static_cast<const float*>(x);
  const auto* b = static_cast<const float*>(y);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(a[i] * b[i]);
  *s = static_cast<float>(sum);
}

void vec_dot_f16_f16_ref(int64_t n, float* s, const void* x, const void* y) {
  const auto* a = static_cast<const half_t*>(x);
  const auto* b = static_cast<const half_t*>(y);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(f16_to_f32(a[i]) * f16_to_f32(b[i]));
  *s = static_cast<float>(sum);
}

void vec_dot_bf16_bf16_ref(int64_t n, float* s, const void* x, const void* y) {
  const auto* a = static_cast<const bf16_t*>(x);
  const auto* b = static_cast<const bf16_t*>(y);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(bf16_to_f32(a[i]) * bf16_to_f32(b[i]));
  *s = static_cast<float>(sum);
}

void vec_dot_q4_0_q8_0_ref(int64_t n, float* s, const void* x, const void* y) {
  const auto* bx = static_cast<const BlockQ4_0*>(x);
  const auto* by = static_cast<const BlockQ8_0*>(y);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    int sumi = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      sumi += ((bx[i].qs[j] & 15) - 8) * by[i].qs[j];
      sumi += ((bx[i].qs[j] >> 4) - 8) * by[i].qs[j + kQK / 2];
    }
    sum += static_cast<float>(sumi) * (f16_to_f32(bx[i].d) * f16_to_f32(by[i].d));
  }
  *s = sum;
}

void vec_dot_q4_1_q8_1_ref(int64_t n, float* s, const void* x, const void* y) {
  const auto* bx = static_cast<const BlockQ4_1*>(x);
  const auto* by = static_cast<const BlockQ8_1*>(y);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    int sumi = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      sumi += (bx[i].qs[j] & 15) * by[i].qs[j];
      sumi += (bx[i].qs[j] >> 4) * by[i].qs[j + kQK / 2];
    }
    sum += (f16_to_f32(bx[i].d) * f16_to_f32(by[i].d)) * static_cast<float>(sumi) +
           f16_to_f32(bx[i].m) * f16_to_f32(by[i].s);
  }
  *s = sum;
}

namespace {
inline uint32_t load_qh(const uint8_t* qh) {
  uint32_t h;
  std::memcpy(&h, qh, 4);
  return h;
}
}  // namespace

void vec_dot_q5_0_q8_0_ref(int64_t n, float* s, const void* x, const void* y) {
  const auto* bx = static_cast<const BlockQ5_0*>(x);
  const auto* by = static_cast<const BlockQ8_0*>(y);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    const uint32_t h = load_qh(bx[i].qh);
    int sumi = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      const int lo = (bx[i].qs[j] & 15) | (((h >> j) & 1) << 4);
      const int hi = (bx[i].qs[j] >> 4) | (((h >> (j + 16)) & 1) << 4);
      sumi += (lo - 16) * by[i].qs[j] + (hi - 16) * by[i].qs[j + kQK / 2];
    }
    sum += static_cast<float>(sumi) * (f16_to_f32(bx[i].d) * f16_to_f32(by[i].d));
  }
  *s = sum;
}

void vec_dot_q5_1_q8_1_ref(int64_t n, float* s, const void* x, const void* y) {
  const auto* bx = static_cast<const BlockQ5_1*>(x);
  const auto* by = static_cast<const BlockQ8_1*>(y);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    const uint32_t h = load_qh(bx[i].qh);
    int sumi = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      const int lo = (bx[i].qs[j] & 15) | (((h >> j) & 1) << 4);
      const int hi = (bx[i].qs[j] >> 4) | (((h >> (j + 16)) & 1) << 4);
      sumi += lo * by[i].qs[j] + hi * by[i].qs[j + kQK / 2];
    }
    sum += (f16_to_f32(bx[i].d) * f16_to_f32(by[i].d)) * static_cast<float>(sumi) +
           f16_to_f32(bx[i].m) * f16_to_f32(by[i].s);
  }
  *s = sum;
}

void vec_dot_q8_0_q8_0_ref(int64_t n, float* s, const void* x, const void* y) {
  const auto* bx = static_cast<const BlockQ8_0*>(x);
  const auto* by = static_cast<const BlockQ8_0*>(y);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    int sumi = 0;
    for (int j = 0; j < kQK; ++j) sumi += bx[i].qs[j] * by[i].qs[j];
    sum += static_cast<float>(sumi) * (f16_to_f32(bx[i].d) * f16_to_f32(by[i].d));
  }
  *s = sum;
}

namespace {
// Shared body of Q4_K and Q5_K: q[256] holds the unsigned 4/5-bit values in element order.
inline void k_block_sums(const uint8_t* q, const uint8_t* scales, const BlockQ8_K& b,
                         int* sum_scaled, int* sum_mins) {
  uint8_t sc[8], m[8];
  detail::unpack_k_scales(scales, sc, m);
  int ss = 0, sm = 0;
  for (int j = 0; j < 8; ++j) {
    int dot = 0;
    for (int l = 0; l < 32; ++l) dot += q[32 * j + l] * b.qs[32 * j + l];
    ss += sc[j] * dot;
    sm += m[j] * (b.bsums[2 * j] + b.bsums[2 * j + 1]);
  }
  *sum_scaled = ss;
  *sum_mins = sm;
}
}  // namespace

void vec_dot_q4_k_q8_k_ref(int64_t n, float* s, const void* x, const void* y) {
  const auto* bx = static_cast<const BlockQ4_K*>(x);
  const auto* by = static_cast<const BlockQ8_K*>(y);
  float sum = 0.0f;
  uint8_t q[kQKK];
  for (int64_t i = 0; i < n / kQKK; ++i) {
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        q[64 * c + l] = bx[i].qs[32 * c + l] & 15;
        q[64 * c + 32 + l] = bx[i].qs[32 * c + l] >> 4;
      }
    }
    int ss, sm;
    k_block_sums(q, bx[i].scales, by[i], &ss, &sm);
    sum += f16_to_f32(bx[i].d) * by[i].d * static_cast<float>(ss);
    sum -= f16_to_f32(bx[i].dmin) * by[i].d * static_cast<float>(sm);
  }
  *s = sum;
}

void vec_dot_q5_k_q8_k_ref(int64_t n, float* s, const void* x, const void* y) {
  const auto* bx = static_cast<const BlockQ5_K*>(x);
  const auto* by = static_cast<const BlockQ8_K*>(y);
  float sum = 0.0f;
  uint8_t q[kQKK];
  for (int64_t i = 0; i < n / kQKK; ++i) {
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        const uint8_t h = bx[i].qh[l];
        q[64 * c + l] = static_cast<uint8_t>((bx[i].qs[32 * c + l] & 15) | (((h >> (2 * c)) & 1) << 4));
        q[64 * c + 32 + l] =
            static_cast<uint8_t>((bx[i].qs[32 * c + l] >> 4) | (((h >> (2 * c + 1)) & 1) << 4));
      }
    }
    int ss, sm;
    k_block_sums(q, bx[i].scales, by[i], &ss, &sm);
    sum += f16_to_f32(bx[i].d) * by[i].d * static_cast<float>(ss);
    sum -= f16_to_f32(bx[i].dmin) * by[i].d * static_cast<float>(sm);
  }
  *s = sum;
}

void vec_dot_q6_k_q8_k_ref(int64_t n, float* s, const void* x, const void* y) {
  const auto* bx = static_cast<const BlockQ6_K*>(x);
  const auto* by = static_cast<const BlockQ8_K*>(y);
  float sum = 0.0f;
  int8_t q[kQKK];
  for (int64_t i = 0; i < n / kQKK; ++i) {
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = bx[i].ql + 64 * half;
      const uint8_t* qh = bx[i].qh + 32 * half;
      int8_t* o = q + 128 * half;
      for (int l = 0; l < 32; ++l) {
        o[l] = static_cast<int8_t>(((ql[l] & 15) | (((qh[l] >> 0) & 3) << 4)) - 32);
        o[l + 32] = static_cast<int8_t>(((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32);
        o[l + 64] = static_cast<int8_t>(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
        o[l + 96] = static_cast<int8_t>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
      }
    }
    int ss = 0;
    for (int j = 0; j < 16; ++j) {
      int dot = 0;
      for (int l = 0; l < 16; ++l) dot += q[16 * j + l] * by[i].qs[16 * j + l];
      ss += bx[i].scales[j] * dot;
    }
    sum += f16_to_f32(bx[i].d) * by[i].d * static_cast<float>(ss);
  }
  *s = sum;
}

}  // namespace petrel::kernels
