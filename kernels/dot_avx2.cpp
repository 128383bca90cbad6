// AVX2 + FMA + F16C dot products (compiled with -mavx2 -mfma -mf16c).
// Block layouts (blocks.h): Q4_0 {d; qs[16]} (low nibble = element j, high = j+16);
// Q4_1 {d; m; qs[16]}; Q5_0 {d; qh[4]; qs[16]} (bit j of qh = bit 4 of element j);
// Q5_1 {d; m; qh[4]; qs[16]}; Q8_0 {d; qs[32]}; Q8_1 {d; s; qs[32]};
// Q4_K {d; dmin; scales[12]; qs[128]}; Q5_K adds qh[32]; Q6_K {ql[128]; qh[64];
// scales[16]; d}; Q8_K {f32 d; qs[256]; bsums[16]}.
// Integer products per block (maddubs/madd), f32 accumulation; quantized activations
// never hold -128, so maddubs cannot saturate.
#include <immintrin.h>

#include <cstring>

#include "kernels/blocks.h"
#include "kernels/simd_common.h"
#include "kernels/simd_kernels.h"

namespace petrel::kernels {
namespace {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float h2f(half_t h) { return _cvtsh_ss(h); }

// 32 nibbles of 16 bytes: low nibbles in bytes 0..15, high nibbles in bytes 16..31.
inline __m256i unpack_nibbles(const uint8_t* qs) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m256i both = _mm256_set_m128i(_mm_srli_epi16(q, 4), q);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0f));
}

// Byte j = 0xff if bit j of the 32-bit word is set.
inline __m256i bits_to_bytes(uint32_t h) {
  const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                         0x0101010101010101, 0x0000000000000000);
  __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(h)), shuf);
  const __m256i bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ULL));
  return _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
}

// Sum of u8 x s8 products as 8 int32 lanes.
inline __m256i dot_us(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

// Sum of s8 x s8 products as 8 int32 lanes.
inline __m256i dot_ss(__m256i a, __m256i b) {
  return dot_us(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
}

inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

}  // namespace

void vec_dot_f32_f32_avx2(int64_t n, float* s, const void* x, const void* y) {
  const auto* a = static_cast<const float*>(x);
  const auto* b = static_cast<const float*>(y);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
    acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), acc2);
    acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), acc3);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
  float sum = hsum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
  for (; i < n; ++i) sum += a[i] * b[i];
  *s = sum;
}

void vec_dot_f16_f16_avx2(int64_t n, float* s, const void* x, const void* y) {
  const auto* a = static_cast<const half_t*>(x);
  const auto* b = static_cast<const half_t*>(y);
  auto ld = [](const half_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  };
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm256_fmadd_ps(ld(a + i), ld(b + i), acc0);
    acc1 = _mm256_fmadd_ps(ld(a + i + 8), ld(b + i + 8), acc1);
    acc2 = _mm256_fmadd_ps(ld(a + i + 16), ld(b + i + 16), acc2);
    acc3 = _mm256_fmadd_ps(ld(a + i + 24), ld(b + i + 24), acc3);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(ld(a + i), ld(b + i), acc0);
  float sum = hsum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
  for (; i < n; ++i) sum += h2f(a[i]) * h2f(b[i]);
  *s = sum;
}

void vec_dot_bf16_bf16_avx2(int64_t n, float* s, const void* x, const void* y) {
  const auto* a = static_cast<const bf16_t*>(x);
  const auto* b = static_cast<const bf16_t*>(y);
  auto ld = [](const bf16_t* p) {
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
  };
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(ld(a + i), ld(b + i), acc0);
    acc1 = _mm256_fmadd_ps(ld(a + i + 8), ld(b + i + 8), acc1);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(ld(a + i), ld(b + i), acc0);
  float sum = hsum(_mm256_add_ps(acc0, acc1));
  for (; i < n; ++i) {
    uint32_t ua = static_cast<uint32_t>(a[i]) << 16, ub = static_cast<uint32_t>(b[i]) << 16;
    float fa, fb;
    std::memcpy(&fa, &ua, 4);
    std::memcpy(&fb, &ub, 4);
    sum += fa * fb;
  }
  *s = sum;
}

void vec_dot_q4_0_q8_0_avx2(int64_t n, float* s, const void* x, const void* y) {
  const auto* bx = static_cast<const BlockQ4_0*>(x);
  const auto* by = static_cast<const BlockQ8_0*>(y);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQK; ++i) {
    const __m256i q = _mm256_sub_epi8(unpack_nibbles(bx[i].qs), _mm256_set1_epi8(8));
    const __m256i p = dot_ss(q, load256(by[i].qs));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(bx[i].d) * h2f(by[i].d)), _mm256_cvtepi32_ps(p), acc);
  }
  *s = hsum(acc);
}

void vec_dot_q4_1_q8_1_avx2(int64_t n, float* s, const void* x, const void* y) {
  const auto* bx = static_cast<const BlockQ4_1*>(x);
  const auto* by = static_cast<const BlockQ8_1*>(y);
  __m256 acc = _mm256_setzero_ps();
  float mins = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    const __m256i p = dot_us(unpack_nibbles(bx[i].qs), load256(by[i].qs));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(bx[i].d) * h2f(by[i].d)), _mm256_cvtepi32_ps(p), acc);
    mins += h2f(bx[i].m) * h2f(by[i].s);
  }
  *s = hsum(acc) + mins;
}

void vec_dot_q5_0_q8_0_avx2(int64_t n, float* s, const void* x, const void* y) {
  const auto* bx = static_cast<const BlockQ5_0*>(x);
  const auto* by = static_cast<const BlockQ8_0*>(y);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQK; ++i) {
    uint32_t h;
    std::memcpy(&h, bx[i].qh, 4);
    const __m256i hb = _mm256_and_si256(bits_to_bytes(h), _mm256_set1_epi8(0x10));
    const __m256i q = _mm256_sub_epi8(_mm256_or_si256(unpack_nibbles(bx[i].qs), hb), _mm256_set1_epi8(16));
    const __m256i p = dot_ss(q, load256(by[i].qs));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(bx[i].d) * h2f(by[i].d)), _mm256_cvtepi32_ps(p), acc);
  }
  *s = hsum(acc);
}

void vec_dot_q5_1_q8_1_avx2(int64_t n, float* s, const void* x, const void* y) {
  const auto* bx = static_cast<const BlockQ5_1*>(x);
  const auto* by = static_cast<const BlockQ8_1*>(y);
  __m256 acc = _mm256_setzero_ps();
  float mins = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    uint32_t h;
    std::memcpy(&h, bx[i].qh, 4);
    const __m256i hb = _mm256_and_si256(bits_to_bytes(h), _mm256_set1_epi8(0x10));
    const __m256i q = _mm256_or_si256(unpack_nibbles(bx[i].qs), hb);
    const __m256i p = dot_us(q, load256(by[i].qs));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(bx[i].d) * h2f(by[i].d)), _mm256_cvtepi32_ps(p), acc);
    mins += h2f(bx[i].m) * h2f(by[i].s);
  }
  *s = hsum(acc) + mins;
}

void vec_dot_q8_0_q8_0_avx2(int64_t n, float* s, const void* x, const void* y) {
  const auto* bx = static_cast<const BlockQ8_0*>(x);
  const auto* by = static_cast<const BlockQ8_0*>(y);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  const int64_t nb = n / kQK;
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2) {
    const __m256i p0 = dot_ss(load256(bx[i].qs), load256(by[i].qs));
    const __m256i p1 = dot_ss(load256(bx[i + 1].qs), load256(by[i + 1].qs));
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(bx[i].d) * h2f(by[i].d)), _mm256_cvtepi32_ps(p0), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(bx[i + 1].d) * h2f(by[i + 1].d)), _mm256_cvtepi32_ps(p1), acc1);
  }
  for (; i < nb; ++i) {
    const __m256i p0 = dot_ss(load256(bx[i].qs), load256(by[i].qs));
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(bx[i].d) * h2f(by[i].d)), _mm256_cvtepi32_ps(p0), acc0);
  }
  *s = hsum(_mm256_add_ps(acc0, acc1));
}

namespace {

// Mins term of a Q4_K/Q5_K super-block: sum_j m[j] * (bsums[2j] + bsums[2j+1]).
inline int k_mins_sum(const uint8_t* m, const int16_t* bsums) {
  const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bsums));
  const __m128i pair = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
  uint64_t m8;
  std::memcpy(&m8, m, 8);
  const __m128i mins = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<int64_t>(m8)));
  __m128i p = _mm_madd_epi16(pair, mins);
  p = _mm_add_epi32(p, _mm_shuffle_epi32(p, 0x4e));
  p = _mm_add_epi32(p, _mm_shuffle_epi32(p, 0xb1));
  return _mm_cvtsi128_si32(p);
}

// sum over one 64-element chunk: sc_lo * dot(lo, y[0..31]) + sc_hi * dot(hi, y[32..63]).
inline __m256i k_chunk(__m256i lo, __m256i hi, const int8_t* q8, int sc_lo, int sc_hi) {
  const __m256i p0 = _mm256_maddubs_epi16(lo, load256(q8));
  const __m256i p1 = _mm256_maddubs_epi16(hi, load256(q8 + 32));
  return _mm256_add_epi32(_mm256_madd_epi16(p0, _mm256_set1_epi16(static_cast<int16_t>(sc_lo))),
                          _mm256_madd_epi16(p1, _mm256_set1_epi16(static_cast<int16_t>(sc_hi))));
}

}  // namespace

void vec_dot_q4_k_q8_k_avx2(int64_t n, float* s, const void* x, const void* y) {
  const auto* bx = static_cast<const BlockQ4_K*>(x);
  const auto* by = static_cast<const BlockQ8_K*>(y);
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  __m256 acc = _mm256_setzero_ps();
  float mins = 0.0f;
  for (int64_t i = 0; i < n / kQKK; ++i) {
    uint32_t u[4];
    detail::unpack_k_scales_u32(bx[i].scales, u);
    const auto* sc = reinterpret_cast<const uint8_t*>(u);
    __m256i sumi = _mm256_setzero_si256();
    for (int c = 0; c < 4; ++c) {
      const __m256i q = load256(bx[i].qs + 32 * c);
      const __m256i lo = _mm256_and_si256(q, m4);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
      sumi = _mm256_add_epi32(sumi, k_chunk(lo, hi, by[i].qs + 64 * c, sc[2 * c], sc[2 * c + 1]));
    }
    const float d = h2f(bx[i].d) * by[i].d;
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    mins += h2f(bx[i].dmin) * by[i].d * static_cast<float>(k_mins_sum(sc + 8, by[i].bsums));
  }
  *s = hsum(acc) - mins;
}

void vec_dot_q5_k_q8_k_avx2(int64_t n, float* s, const void* x, const void* y) {
  const auto* bx = static_cast<const BlockQ5_K*>(x);
  const auto* by = static_cast<const BlockQ8_K*>(y);
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  const __m256i one = _mm256_set1_epi8(1);
  __m256 acc = _mm256_setzero_ps();
  float mins = 0.0f;
  for (int64_t i = 0; i < n / kQKK; ++i) {
    uint32_t u[4];
    detail::unpack_k_scales_u32(bx[i].scales, u);
    const auto* sc = reinterpret_cast<const uint8_t*>(u);
    const __m256i qh = load256(bx[i].qh);
    __m256i sumi = _mm256_setzero_si256();
    for (int c = 0; c < 4; ++c) {
      const __m256i q = load256(bx[i].qs + 32 * c);
      const __m256i h_lo = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * c), one);
      const __m256i h_hi = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * c + 1), one);
      const __m256i lo = _mm256_or_si256(_mm256_and_si256(q, m4), _mm256_slli_epi16(h_lo, 4));
      const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4),
                                         _mm256_slli_epi16(h_hi, 4));
      sumi = _mm256_add_epi32(sumi, k_chunk(lo, hi, by[i].qs + 64 * c, sc[2 * c], sc[2 * c + 1]));
    }
    const float d = h2f(bx[i].d) * by[i].d;
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    mins += h2f(bx[i].dmin) * by[i].d * static_cast<float>(k_mins_sum(sc + 8, by[i].bsums));
  }
  *s = hsum(acc) - mins;
}

void vec_dot_q6_k_q8_k_avx2(int64_t n, float* s, const void* x, const void* y) {
  const auto* bx = static_cast<const BlockQ6_K*>(x);
  const auto* by = static_cast<const BlockQ8_K*>(y);
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  const __m256i m3 = _mm256_set1_epi8(0x30);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQKK; ++i) {
    // 32 * sum_g sc[g] * bsums[g]: the "-32" offset of every element, folded out.
    const __m256i bs = load256(by[i].bsums);
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bx[i].scales)));
    const __m256i off = _mm256_slli_epi32(_mm256_madd_epi16(bs, sc16), 5);
    __m256i sumi = _mm256_setzero_si256();
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = bx[i].ql + 64 * half;
      const __m256i qa = load256(ql), qb = load256(ql + 32);
      const __m256i qh = load256(bx[i].qh + 32 * half);
      const __m256i e[4] = {
          _mm256_or_si256(_mm256_and_si256(qa, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m3)),
          _mm256_or_si256(_mm256_and_si256(qb, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m3)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qa, 4), m4), _mm256_and_si256(qh, m3)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qb, 4), m4),
                          _mm256_and_si256(_mm256_srli_epi16(qh, 2), m3)),
      };
      const int8_t* sc = bx[i].scales + 8 * half;
      const int8_t* q8 = by[i].qs + 128 * half;
      for (int k = 0; k < 4; ++k) {
        const __m256i p = _mm256_maddubs_epi16(e[k], load256(q8 + 32 * k));
        const __m256i scv = _mm256_set_m128i(_mm_set1_epi16(sc[2 * k + 1]), _mm_set1_epi16(sc[2 * k]));
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, scv));
      }
    }
    sumi = _mm256_sub_epi32(sumi, off);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(bx[i].d) * by[i].d), _mm256_cvtepi32_ps(sumi), acc);
  }
  *s = hsum(acc);
}

}  // namespace petrel::kernels
