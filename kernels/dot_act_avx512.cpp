// AVX-512 quantizers of f32 activation rows to the dot-product formats, bit-identical to
// the scalar references in quants_ref.cpp:
//   Q8_0 {half d; i8 qs[32]}: d = amax/127, q = round-half-away(x * (1/d)).
//   Q8_1 {half d; half s; i8 qs[32]}: as Q8_0, s = f16(sum(q) * d).
//   Q8_K {f32 d; i8 qs[256]; i16 bsums[16]}: iscale = -127/max (max = the signed value of
//   largest magnitude, first on ties), q = min(127, round-half-even(iscale * x)), d = 1/iscale.
//   F16: round-to-nearest-even conversion.
#include <immintrin.h>

// GCC 12 warns about its own reduce/undefined intrinsics under -Wall; not our code.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <cstring>

#include "kernels/blocks.h"
#include "kernels/simd_kernels.h"
#include "kernels/types.h"

namespace petrel::kernels {
namespace {

// round-half-away-from-zero of t (std::round), as int32 lanes.
inline __m512i round_away(__m512 t) {
  const __m512 r = _mm512_roundscale_ps(t, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m512 frac = _mm512_abs_ps(_mm512_sub_ps(t, r));  // exact
  const __mmask16 up = _mm512_cmp_ps_mask(frac, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
  const __m512 one = _mm512_or_ps(_mm512_set1_ps(1.0f), _mm512_and_ps(t, _mm512_set1_ps(-0.0f)));
  return _mm512_cvttps_epi32(_mm512_mask_add_ps(r, up, r, one));
}

// Quantizes 32 floats with id; returns sum of the quantized values.
inline int quant32(const float* x, float id, int8_t* qs) {
  const __m512 vid = _mm512_set1_ps(id);
  const __m512i q0 = round_away(_mm512_mul_ps(_mm512_loadu_ps(x), vid));
  const __m512i q1 = round_away(_mm512_mul_ps(_mm512_loadu_ps(x + 16), vid));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(qs), _mm512_cvtepi32_epi8(q0));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(qs + 16), _mm512_cvtepi32_epi8(q1));
  return _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
}

inline float absmax32(const float* x) {
  const __m512 m = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x)), _mm512_abs_ps(_mm512_loadu_ps(x + 16)));
  return _mm512_reduce_max_ps(m);
}

}  // namespace

void quantize_row_q8_0_avx512(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
    const float d = absmax32(src) / 127;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].d = f32_to_f16(d);
    quant32(src, id, b[i].qs);
  }
}

void quantize_row_q8_1_avx512(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_1*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
    const float d = absmax32(src) / 127;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].d = f32_to_f16(d);
    const int sum = quant32(src, id, b[i].qs);
    b[i].s = f32_to_f16(static_cast<float>(sum) * d);
  }
}

void quantize_row_q8_k_avx512(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_K*>(dst);
  for (int64_t i = 0; i < n / kQKK; ++i, src += kQKK) {
    __m512 m = _mm512_setzero_ps();
    for (int j = 0; j < kQKK; j += 16) m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_loadu_ps(src + j)));
    const float amax = _mm512_reduce_max_ps(m);
    if (amax == 0.0f) {
      std::memset(&b[i], 0, sizeof(BlockQ8_K));
      continue;
    }
    float max = 0.0f;
    const __m512 va = _mm512_set1_ps(amax);
    for (int j = 0; j < kQKK; j += 16) {
      const __mmask16 hit = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(src + j)), va, _CMP_EQ_OQ);
      if (hit) {
        max = src[j + __builtin_ctz(hit)];
        break;
      }
    }
    const float iscale = -127.0f / max;
    const __m512 vs = _mm512_set1_ps(iscale);
    for (int g = 0; g < kQKK / 16; ++g) {
      __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(vs, _mm512_loadu_ps(src + 16 * g)));
      q = _mm512_min_epi32(q, _mm512_set1_epi32(127));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(b[i].qs + 16 * g), _mm512_cvtepi32_epi8(q));
      b[i].bsums[g] = static_cast<int16_t>(_mm512_reduce_add_epi32(q));
    }
    b[i].d = 1.0f / iscale;
  }
}

void quantize_row_f16_avx512(const float* src, void* dst, int64_t n) {
  auto* h = static_cast<half_t*>(dst);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(h + i),
                        _mm512_cvtps_ph(_mm512_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  for (; i < n; ++i) h[i] = f32_to_f16(src[i]);
}

}  // namespace petrel::kernels
