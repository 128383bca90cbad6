// AVX-512 (F/BW/VL/DQ + VNNI, BF16 where the CPU has it) dot products.
// Block layouts (blocks.h): Q4_0 {d; qs[16]} (low nibble = element j, high = j+16);
// Q4_1 {d; m; qs[16]}; Q5_0 {d; qh[4]; qs[16]} (bit j of qh = bit 4 of element j);
// Q5_1 {d; m; qh[4]; qs[16]}; Q8_0 {d; qs[32]}; Q8_1 {d; s; qs[32]};
// Q4_K {d; dmin; scales[12]; qs[128]}; Q5_K adds qh[32]; Q6_K {ql[128]; qh[64];
// scales[16]; d}; Q8_K {f32 d; qs[256]; bsums[16]}.
// 32-element blocks use 256-bit VNNI (vpdpbusd: u8 x s8, no saturation); K-quants work
// on 64-element chunks in zmm registers with maddubs + vpdpwssd against the scales.
#include <immintrin.h>

// GCC 12 warns about its own reduce/undefined intrinsics under -Wall; not our code.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

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

inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// 32 nibbles of 16 bytes: low nibbles in bytes 0..15, high nibbles in bytes 16..31.
inline __m256i unpack_nibbles(const uint8_t* qs) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m256i both = _mm256_set_m128i(_mm_srli_epi16(q, 4), q);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0f));
}

// u8 x s8 sums into 8 int32 lanes.
inline __m256i dpbusd(__m256i acc, __m256i u, __m256i s) { return _mm256_dpbusd_epi32(acc, u, s); }

inline __m256i hbits(const uint8_t* qh) {
  uint32_t h;
  std::memcpy(&h, qh, 4);
  return _mm256_maskz_mov_epi8(static_cast<__mmask32>(h), _mm256_set1_epi8(0x10));
}

}  // namespace

void vec_dot_f32_f32_avx512(int64_t n, float* s, const void* x, const void* y) {
  const auto* a = static_cast<const float*>(x);
  const auto* b = static_cast<const float*>(y);
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  __m512 acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
    acc2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), acc2);
    acc3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), acc3);
  }
  for (; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? 0xffff : static_cast<__mmask16>((1u << (n - i)) - 1);
    acc0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), acc0);
  }
  *s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

void vec_dot_f16_f16_avx512(int64_t n, float* s, const void* x, const void* y) {
  const auto* a = static_cast<const half_t*>(x);
  const auto* b = static_cast<const half_t*>(y);
  auto ld = [](const half_t* p) { return _mm512_cvtph_ps(load256(p)); };
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  __m512 acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    acc0 = _mm512_fmadd_ps(ld(a + i), ld(b + i), acc0);
    acc1 = _mm512_fmadd_ps(ld(a + i + 16), ld(b + i + 16), acc1);
    acc2 = _mm512_fmadd_ps(ld(a + i + 32), ld(b + i + 32), acc2);
    acc3 = _mm512_fmadd_ps(ld(a + i + 48), ld(b + i + 48), acc3);
  }
  for (; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? 0xffff : static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m512 va = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, a + i));
    const __m512 vb = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, b + i));
    acc0 = _mm512_fmadd_ps(va, vb, acc0);
  }
  *s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

void vec_dot_bf16_bf16_avx512(int64_t n, float* s, const void* x, const void* y) {
  const auto* a = static_cast<const bf16_t*>(x);
  const auto* b = static_cast<const bf16_t*>(y);
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    acc0 = _mm512_dpbf16_ps(acc0, (__m512bh)_mm512_loadu_si512(a + i), (__m512bh)_mm512_loadu_si512(b + i));
    acc1 = _mm512_dpbf16_ps(acc1, (__m512bh)_mm512_loadu_si512(a + i + 32),
                            (__m512bh)_mm512_loadu_si512(b + i + 32));
  }
  for (; i < n; i += 32) {
    const __mmask32 m = n - i >= 32 ? 0xffffffffu : static_cast<__mmask32>((1u << (n - i)) - 1);
    acc0 = _mm512_dpbf16_ps(acc0, (__m512bh)_mm512_maskz_loadu_epi16(m, a + i),
                            (__m512bh)_mm512_maskz_loadu_epi16(m, b + i));
  }
  *s = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

void vec_dot_bf16_bf16_avx512_nobf16(int64_t n, float* s, const void* x, const void* y) {
  const auto* a = static_cast<const bf16_t*>(x);
  const auto* b = static_cast<const bf16_t*>(y);
  auto ld = [](__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); };
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm512_fmadd_ps(ld(load256(a + i)), ld(load256(b + i)), acc0);
    acc1 = _mm512_fmadd_ps(ld(load256(a + i + 16)), ld(load256(b + i + 16)), acc1);
  }
  for (; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? 0xffff : static_cast<__mmask16>((1u << (n - i)) - 1);
    acc0 = _mm512_fmadd_ps(ld(_mm256_maskz_loadu_epi16(m, a + i)), ld(_mm256_maskz_loadu_epi16(m, b + i)), acc0);
  }
  *s = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

void vec_dot_q4_0_q8_0_avx512(int64_t n, float* s, const void* x, const void* y) {
  const auto* bx = static_cast<const BlockQ4_0*>(x);
  const auto* by = static_cast<const BlockQ8_0*>(y);
  const __m256i eight = _mm256_set1_epi8(8);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQK; ++i) {
    const __m256i qy = load256(by[i].qs);
    // sum (q - 8) * y = sum q*y - sum 8*y
    const __m256i p = _mm256_sub_epi32(dpbusd(_mm256_setzero_si256(), unpack_nibbles(bx[i].qs), qy),
                                       dpbusd(_mm256_setzero_si256(), eight, qy));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(bx[i].d) * h2f(by[i].d)), _mm256_cvtepi32_ps(p), acc);
  }
  *s = hsum(acc);
}

void vec_dot_q4_1_q8_1_avx512(int64_t n, float* s, const void* x, const void* y) {
  const auto* bx = static_cast<const BlockQ4_1*>(x);
  const auto* by = static_cast<const BlockQ8_1*>(y);
  __m256 acc = _mm256_setzero_ps();
  float mins = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    const __m256i p = dpbusd(_mm256_setzero_si256(), unpack_nibbles(bx[i].qs), load256(by[i].qs));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(bx[i].d) * h2f(by[i].d)), _mm256_cvtepi32_ps(p), acc);
    mins += h2f(bx[i].m) * h2f(by[i].s);
  }
  *s = hsum(acc) + mins;
}

void vec_dot_q5_0_q8_0_avx512(int64_t n, float* s, const void* x, const void* y) {
  const auto* bx = static_cast<const BlockQ5_0*>(x);
  const auto* by = static_cast<const BlockQ8_0*>(y);
  const __m256i sixteen = _mm256_set1_epi8(16);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQK; ++i) {
    const __m256i qy = load256(by[i].qs);
    const __m256i q = _mm256_or_si256(unpack_nibbles(bx[i].qs), hbits(bx[i].qh));
    const __m256i p = _mm256_sub_epi32(dpbusd(_mm256_setzero_si256(), q, qy),
                                       dpbusd(_mm256_setzero_si256(), sixteen, qy));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(bx[i].d) * h2f(by[i].d)), _mm256_cvtepi32_ps(p), acc);
  }
  *s = hsum(acc);
}

void vec_dot_q5_1_q8_1_avx512(int64_t n, float* s, const void* x, const void* y) {
  const auto* bx = static_cast<const BlockQ5_1*>(x);
  const auto* by = static_cast<const BlockQ8_1*>(y);
  __m256 acc = _mm256_setzero_ps();
  float mins = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    const __m256i q = _mm256_or_si256(unpack_nibbles(bx[i].qs), hbits(bx[i].qh));
    const __m256i p = dpbusd(_mm256_setzero_si256(), q, load256(by[i].qs));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(bx[i].d) * h2f(by[i].d)), _mm256_cvtepi32_ps(p), acc);
    mins += h2f(bx[i].m) * h2f(by[i].s);
  }
  *s = hsum(acc) + mins;
}

void vec_dot_q8_0_q8_0_avx512(int64_t n, float* s, const void* x, const void* y) {
  const auto* bx = static_cast<const BlockQ8_0*>(x);
  const auto* by = static_cast<const BlockQ8_0*>(y);
  const int64_t nb = n / kQK;
  // Two blocks per zmm: (x + 128) as u8 times y, minus 128 * sum(y), per 4-byte lane.
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  auto pair = [&](int64_t i) {
    const __m512i qx = _mm512_inserti64x4(_mm512_castsi256_si512(load256(bx[i].qs)), load256(bx[i + 1].qs), 1);
    const __m512i qy = _mm512_inserti64x4(_mm512_castsi256_si512(load256(by[i].qs)), load256(by[i + 1].qs), 1);
    const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_xor_si512(qx, flip), qy);
    const __m512i c = _mm512_dpbusd_epi32(_mm512_setzero_si512(), flip, qy);
    const __m512 d = _mm512_insertf32x8(_mm512_set1_ps(h2f(bx[i].d) * h2f(by[i].d)),
                                        _mm256_set1_ps(h2f(bx[i + 1].d) * h2f(by[i + 1].d)), 1);
    return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(p, c)), d);
  };
  int64_t i = 0;
  for (; i + 4 <= nb; i += 4) {
    acc0 = _mm512_add_ps(acc0, pair(i));
    acc1 = _mm512_add_ps(acc1, pair(i + 2));
  }
  for (; i + 2 <= nb; i += 2) acc0 = _mm512_add_ps(acc0, pair(i));
  float sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
  for (; i < nb; ++i) {
    const __m256i qx = load256(bx[i].qs);
    const __m256i p = dpbusd(_mm256_setzero_si256(), _mm256_abs_epi8(qx), _mm256_sign_epi8(load256(by[i].qs), qx));
    sum += h2f(bx[i].d) * h2f(by[i].d) * hsum(_mm256_cvtepi32_ps(p));
  }
  *s = sum;
}

namespace {

// Scales and mins of a Q4_K/Q5_K super-block as 16 int16 lanes (0..7 sc, 8..15 m).
inline __m256i k_scales16(const uint8_t* scales) {
  uint32_t u[4];
  detail::unpack_k_scales_u32(scales, u);
  return _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(u)));
}

// Index vectors picking sub-block scales 2c (lanes 0..15) and 2c+1 (lanes 16..31).
inline __m512i k_scale_index(int c) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16(static_cast<int16_t>(2 * c))),
                            _mm256_set1_epi16(static_cast<int16_t>(2 * c + 1)), 1);
}

// sum_j m[j] * (bsums[2j] + bsums[2j+1]) as 8 int32 lanes (to be summed).
inline __m256i k_mins(__m256i sc16, const int16_t* bsums) {
  const __m256i idx = _mm256_setr_epi16(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
  return _mm256_madd_epi16(_mm256_permutexvar_epi16(idx, sc16), load256(bsums));
}

inline __m512i widen_scales(__m256i sc16) { return _mm512_castsi256_si512(sc16); }

}  // namespace

void vec_dot_q4_k_q8_k_avx512(int64_t n, float* s, const void* x, const void* y) {
  const auto* bx = static_cast<const BlockQ4_K*>(x);
  const auto* by = static_cast<const BlockQ8_K*>(y);
  const __m512i m4 = _mm512_set1_epi8(0x0f);
  __m512 acc = _mm512_setzero_ps();
  __m256 acc_m = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQKK; ++i) {
    const __m256i sc16 = k_scales16(bx[i].scales);
    const __m512i scw = widen_scales(sc16);
    __m512i sumi = _mm512_setzero_si512();
    for (int c = 0; c < 4; ++c) {
      const __m256i q = load256(bx[i].qs + 32 * c);
      const __m512i qq = _mm512_inserti64x4(_mm512_castsi256_si512(q), _mm256_srli_epi16(q, 4), 1);
      const __m512i p = _mm512_maddubs_epi16(_mm512_and_si512(qq, m4), _mm512_loadu_si512(by[i].qs + 64 * c));
      sumi = _mm512_dpwssd_epi32(sumi, p, _mm512_permutexvar_epi16(k_scale_index(c), scw));
    }
    const float yd = by[i].d;
    acc = _mm512_fmadd_ps(_mm512_set1_ps(h2f(bx[i].d) * yd), _mm512_cvtepi32_ps(sumi), acc);
    acc_m = _mm256_fmadd_ps(_mm256_set1_ps(h2f(bx[i].dmin) * yd), _mm256_cvtepi32_ps(k_mins(sc16, by[i].bsums)), acc_m);
  }
  *s = _mm512_reduce_add_ps(acc) - hsum(acc_m);
}

void vec_dot_q5_k_q8_k_avx512(int64_t n, float* s, const void* x, const void* y) {
  const auto* bx = static_cast<const BlockQ5_K*>(x);
  const auto* by = static_cast<const BlockQ8_K*>(y);
  const __m512i m4 = _mm512_set1_epi8(0x0f);
  const __m512i b4 = _mm512_set1_epi8(0x10);
  __m512 acc = _mm512_setzero_ps();
  __m256 acc_m = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQKK; ++i) {
    const __m256i sc16 = k_scales16(bx[i].scales);
    const __m512i scw = widen_scales(sc16);
    const __m256i qh = load256(bx[i].qh);
    __m512i sumi = _mm512_setzero_si512();
    for (int c = 0; c < 4; ++c) {
      const __m256i q = load256(bx[i].qs + 32 * c);
      const __m512i qq = _mm512_and_si512(
          _mm512_inserti64x4(_mm512_castsi256_si512(q), _mm256_srli_epi16(q, 4), 1), m4);
      const uint64_t lo = _mm256_test_epi8_mask(qh, _mm256_set1_epi8(static_cast<char>(1 << (2 * c))));
      const uint64_t hi = _mm256_test_epi8_mask(qh, _mm256_set1_epi8(static_cast<char>(1 << (2 * c + 1))));
      const __m512i full = _mm512_mask_add_epi8(qq, static_cast<__mmask64>(lo | (hi << 32)), qq, b4);
      const __m512i p = _mm512_maddubs_epi16(full, _mm512_loadu_si512(by[i].qs + 64 * c));
      sumi = _mm512_dpwssd_epi32(sumi, p, _mm512_permutexvar_epi16(k_scale_index(c), scw));
    }
    const float yd = by[i].d;
    acc = _mm512_fmadd_ps(_mm512_set1_ps(h2f(bx[i].d) * yd), _mm512_cvtepi32_ps(sumi), acc);
    acc_m = _mm256_fmadd_ps(_mm256_set1_ps(h2f(bx[i].dmin) * yd), _mm256_cvtepi32_ps(k_mins(sc16, by[i].bsums)), acc_m);
  }
  *s = _mm512_reduce_add_ps(acc) - hsum(acc_m);
}

void vec_dot_q6_k_q8_k_avx512(int64_t n, float* s, const void* x, const void* y) {
  const auto* bx = static_cast<const BlockQ6_K*>(x);
  const auto* by = static_cast<const BlockQ8_K*>(y);
  const __m512i m4 = _mm512_set1_epi8(0x0f);
  const __m512i m3 = _mm512_set1_epi8(0x30);
  // Lane k of a 16-element group picks scale k/8 (+4*a for the a-th zmm of a half).
  const __m512i idx_a = _mm512_inserti64x4(
      _mm512_castsi256_si512(_mm256_setr_epi16(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1)),
      _mm256_setr_epi16(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3), 1);
  const __m512i four = _mm512_set1_epi16(4), eight = _mm512_set1_epi16(8);
  __m512 acc = _mm512_setzero_ps();
  for (int64_t i = 0; i < n / kQKK; ++i) {
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bx[i].scales)));
    const __m512i scw = _mm512_castsi256_si512(sc16);
    const __m256i off = _mm256_slli_epi32(_mm256_madd_epi16(load256(by[i].bsums), sc16), 5);
    __m512i sumi = _mm512_castsi256_si512(_mm256_sub_epi32(_mm256_setzero_si256(), off));
    sumi = _mm512_inserti64x4(sumi, _mm256_setzero_si256(), 1);
    for (int half = 0; half < 2; ++half) {
      const __m512i ql = _mm512_loadu_si512(bx[i].ql + 64 * half);
      const __m256i qh = load256(bx[i].qh + 32 * half);
      const __m512i qh2 = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
      const __m512i a = _mm512_or_si512(_mm512_and_si512(ql, m4), _mm512_and_si512(_mm512_slli_epi16(qh2, 4), m3));
      const __m512i b = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4), _mm512_and_si512(qh2, m3));
      const int8_t* q8 = by[i].qs + 128 * half;
      const __m512i pa = _mm512_maddubs_epi16(a, _mm512_loadu_si512(q8));
      const __m512i pb = _mm512_maddubs_epi16(b, _mm512_loadu_si512(q8 + 64));
      const __m512i ia = half == 0 ? idx_a : _mm512_add_epi16(idx_a, eight);
      sumi = _mm512_dpwssd_epi32(sumi, pa, _mm512_permutexvar_epi16(ia, scw));
      sumi = _mm512_dpwssd_epi32(sumi, pb, _mm512_permutexvar_epi16(_mm512_add_epi16(ia, four), scw));
    }
    acc = _mm512_fmadd_ps(_mm512_set1_ps(h2f(bx[i].d) * by[i].d), _mm512_cvtepi32_ps(sumi), acc);
  }
  *s = _mm512_reduce_add_ps(acc);
}

}  // namespace petrel::kernels
