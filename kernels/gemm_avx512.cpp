// AVX-512 VNNI GEMM: y[t][r] = W[r] . act[t] for a batch of tokens.
//
// Weight blocks (layouts in blocks.h: Q4_0/Q4_1/Q5_0/Q5_1/Q8_0 32-element blocks,
// Q4_K/Q5_K 256-element super-blocks of 8 scaled 32-element sub-blocks, Q6_K of 16 scaled
// 16-element sub-blocks) are unpacked once per tile of kRows rows into a common form per
// scale block of kSub elements: int8 values q, f32 scale, f32 min (times the activation
// block sum) and the int32 correction -128 * sum(q). Activations (Q8_0/Q8_1/Q8_K rows) are
// packed per group of 16 tokens as u8 (q + 128) in [n_in/4][16 tokens][4] order, so one
// vpdpbusd multiplies 4 consecutive elements of 16 tokens by a broadcast 4-byte weight
// group. Per scale block: acc += cvt(int) * (w_scale * a_scale) + w_min * a_sum.
// Integer sums are exact; only the f32 accumulation order differs from the reference.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "kernels/blocks.h"
#include "kernels/simd_common.h"
#include "kernels/simd_gemm.h"
#include "kernels/types.h"

// GCC 12 warns about its own reduce/undefined intrinsics under -Wall; not our code.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace petrel::kernels {
namespace {

constexpr int kRows = 4;        // weight rows per register tile
constexpr int kGroup = 16;      // tokens per zmm (one int32 lane each)
constexpr int kGroupsTile = 2;  // token groups per register tile
constexpr int kTokenBlock = 8;  // token groups per outer block (activations stay in L2)
constexpr int kMaxThreads = 256;  // per-thread weight tiles (more threads are clamped)

struct Geometry {
  int sub;        // elements per scale block (32, or 16 for Q6_K)
  bool has_min;   // min term (Q4_1, Q5_1, Q4_K, Q5_K)
};

Geometry geometry(Type t) {
  switch (t) {
    case Type::kQ6_K: return {16, false};
    case Type::kQ4_1: case Type::kQ5_1: case Type::kQ4_K: case Type::kQ5_K: return {32, true};
    default: return {32, false};
  }
}

// Unpacked row tile: for scale block b and row r, q at (b*kRows + r)*sub.
struct WeightTile {
  int8_t* q;
  float* scale;   // [nsb][kRows]
  float* min;     // [nsb][kRows]
  int32_t* corr;  // [nsb][kRows]
};

// Packed activations of one group of 16 tokens.
struct ActGroup {
  const uint8_t* q;    // [n_in/4][16][4], u8 = q + 128
  const float* scale;  // [nsb][16]
  const float* sum;    // [nsb][16]
};

inline float h2f(half_t h) { return _cvtsh_ss(h); }

inline int32_t sum_u8_minus(__m256i v, int offset_times_32) {
  const __m256i s = _mm256_sad_epu8(v, _mm256_setzero_si256());
  const __m128i t = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
  return static_cast<int32_t>(_mm_cvtsi128_si64(t) + _mm_extract_epi64(t, 1)) - offset_times_32;
}

// Stores 32 values given as u8 (value + offset) and records the tile fields.
inline void put32(const WeightTile& wt, int64_t b, int r, __m256i u, int offset, float scale, float min) {
  const size_t i = static_cast<size_t>(b) * kRows + r;
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(wt.q + i * 32), _mm256_sub_epi8(u, _mm256_set1_epi8(static_cast<char>(offset))));
  wt.corr[i] = -128 * sum_u8_minus(u, offset * 32);
  wt.scale[i] = scale;
  wt.min[i] = min;
}

inline __m256i nibbles32(const uint8_t* qs) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0f));
}

inline __m256i hbits32(const uint8_t* qh) {
  uint32_t h;
  std::memcpy(&h, qh, 4);
  return _mm256_maskz_mov_epi8(static_cast<__mmask32>(h), _mm256_set1_epi8(0x10));
}

// Unpacks row `row` (n_in elements) into tile row r.
void unpack_row(Type type, const uint8_t* row, int64_t n_in, const WeightTile& wt, int r) {
  switch (type) {
    case Type::kQ4_0: {
      const auto* bx = reinterpret_cast<const BlockQ4_0*>(row);
      for (int64_t b = 0; b < n_in / kQK; ++b) put32(wt, b, r, nibbles32(bx[b].qs), 8, h2f(bx[b].d), 0.0f);
      break;
    }
    case Type::kQ4_1: {
      const auto* bx = reinterpret_cast<const BlockQ4_1*>(row);
      for (int64_t b = 0; b < n_in / kQK; ++b) put32(wt, b, r, nibbles32(bx[b].qs), 0, h2f(bx[b].d), h2f(bx[b].m));
      break;
    }
    case Type::kQ5_0: {
      const auto* bx = reinterpret_cast<const BlockQ5_0*>(row);
      for (int64_t b = 0; b < n_in / kQK; ++b) {
        put32(wt, b, r, _mm256_or_si256(nibbles32(bx[b].qs), hbits32(bx[b].qh)), 16, h2f(bx[b].d), 0.0f);
      }
      break;
    }
    case Type::kQ5_1: {
      const auto* bx = reinterpret_cast<const BlockQ5_1*>(row);
      for (int64_t b = 0; b < n_in / kQK; ++b) {
        put32(wt, b, r, _mm256_or_si256(nibbles32(bx[b].qs), hbits32(bx[b].qh)), 0, h2f(bx[b].d), h2f(bx[b].m));
      }
      break;
    }
    case Type::kQ8_0: {
      const auto* bx = reinterpret_cast<const BlockQ8_0*>(row);
      for (int64_t b = 0; b < n_in / kQK; ++b) {
        const __m256i u = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(bx[b].qs)),
                                           _mm256_set1_epi8(static_cast<char>(0x80)));
        put32(wt, b, r, u, 128, h2f(bx[b].d), 0.0f);
      }
      break;
    }
    case Type::kQ4_K: case Type::kQ5_K: {
      const bool five = type == Type::kQ5_K;
      const size_t bytes = five ? sizeof(BlockQ5_K) : sizeof(BlockQ4_K);
      const __m256i m4 = _mm256_set1_epi8(0x0f);
      for (int64_t i = 0; i < n_in / kQKK; ++i) {
        const uint8_t* blk = row + static_cast<size_t>(i) * bytes;
        half_t hd, hm;
        std::memcpy(&hd, blk, 2);
        std::memcpy(&hm, blk + 2, 2);
        const float d = h2f(hd), dmin = h2f(hm);
        uint8_t sc[8], mn[8];
        detail::unpack_k_scales(blk + 4, sc, mn);
        const uint8_t* qh = blk + 4 + kKScaleBytes;
        const uint8_t* qs = five ? qh + kQKK / 8 : qh;
        const __m256i hv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qh));
        for (int c = 0; c < 4; ++c) {
          const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * c));
          __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
          if (five) {
            const __m256i b16 = _mm256_set1_epi8(0x10);
            lo = _mm256_or_si256(lo, _mm256_maskz_mov_epi8(
                _mm256_test_epi8_mask(hv, _mm256_set1_epi8(static_cast<char>(1 << (2 * c)))), b16));
            hi = _mm256_or_si256(hi, _mm256_maskz_mov_epi8(
                _mm256_test_epi8_mask(hv, _mm256_set1_epi8(static_cast<char>(1 << (2 * c + 1)))), b16));
          }
          const int64_t b = i * 8 + 2 * c;
          put32(wt, b, r, lo, 0, d * sc[2 * c], -dmin * mn[2 * c]);
          put32(wt, b + 1, r, hi, 0, d * sc[2 * c + 1], -dmin * mn[2 * c + 1]);
        }
      }
      break;
    }
    case Type::kQ6_K: {
      const auto* bx = reinterpret_cast<const BlockQ6_K*>(row);
      const __m256i m4 = _mm256_set1_epi8(0x0f), m3 = _mm256_set1_epi8(0x30);
      for (int64_t i = 0; i < n_in / kQKK; ++i) {
        const float d = h2f(bx[i].d);
        for (int half = 0; half < 2; ++half) {
          const uint8_t* ql = bx[i].ql + 64 * half;
          const __m256i qa = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql));
          const __m256i qb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32));
          const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bx[i].qh + 32 * half));
          const __m256i e[4] = {
              _mm256_or_si256(_mm256_and_si256(qa, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m3)),
              _mm256_or_si256(_mm256_and_si256(qb, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m3)),
              _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qa, 4), m4), _mm256_and_si256(qh, m3)),
              _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qb, 4), m4),
                              _mm256_and_si256(_mm256_srli_epi16(qh, 2), m3)),
          };
          for (int k = 0; k < 4; ++k) {
            // 32 values = sub-blocks 16i + 8*half + 2k and +1 (16 elements each).
            const __m256i v = _mm256_sub_epi8(e[k], _mm256_set1_epi8(32));
            const int64_t b0 = i * 16 + 8 * half + 2 * k;
            for (int h = 0; h < 2; ++h) {
              const size_t idx = static_cast<size_t>(b0 + h) * kRows + r;
              const __m128i part = h == 0 ? _mm256_castsi256_si128(v) : _mm256_extracti128_si256(v, 1);
              _mm_storeu_si128(reinterpret_cast<__m128i*>(wt.q + idx * 16), part);
              const __m128i u = h == 0 ? _mm256_castsi256_si128(e[k]) : _mm256_extracti128_si256(e[k], 1);
              const __m128i s = _mm_sad_epu8(u, _mm_setzero_si128());
              const int sum = static_cast<int>(_mm_cvtsi128_si64(s) + _mm_extract_epi64(s, 1)) - 32 * 16;
              wt.corr[idx] = -128 * sum;
              wt.scale[idx] = d * bx[i].scales[8 * half + 2 * k + h];
              wt.min[idx] = 0.0f;
            }
          }
        }
      }
      break;
    }
    default: break;
  }
}

// Zero rows for the tail of the last tile.
void zero_row(int64_t nsb, int sub, const WeightTile& wt, int r) {
  for (int64_t b = 0; b < nsb; ++b) {
    const size_t i = static_cast<size_t>(b) * kRows + r;
    std::memset(wt.q + i * sub, 0, static_cast<size_t>(sub));
    wt.corr[i] = 0;
    wt.scale[i] = 0.0f;
    wt.min[i] = 0.0f;
  }
}

// Packs token rows [t0, t0 + n) (n <= 16) of quantized activations into one group.
void pack_group(Type act_type, int sub, const uint8_t* act, size_t act_row_bytes, int64_t t0, int64_t n,
                int64_t n_in, uint8_t* q, float* scale, float* sum) {
  const int64_t nsb = n_in / sub;
  std::memset(q, 0x80, static_cast<size_t>(n_in) * kGroup);
  std::memset(scale, 0, sizeof(float) * static_cast<size_t>(nsb) * kGroup);
  std::memset(sum, 0, sizeof(float) * static_cast<size_t>(nsb) * kGroup);
  for (int64_t t = 0; t < n; ++t) {
    const uint8_t* row = act + act_row_bytes * static_cast<size_t>(t0 + t);
    const int8_t* qs = nullptr;
    for (int64_t b = 0; b < nsb; ++b) {
      float s = 0.0f, m = 0.0f;
      if (act_type == Type::kQ8_0) {
        const auto& blk = reinterpret_cast<const BlockQ8_0*>(row)[b];
        s = h2f(blk.d);
        qs = blk.qs;
      } else if (act_type == Type::kQ8_1) {
        const auto& blk = reinterpret_cast<const BlockQ8_1*>(row)[b];
        s = h2f(blk.d);
        m = h2f(blk.s);
        qs = blk.qs;
      } else {  // Q8_K
        const int64_t per = kQKK / sub;
        const auto& blk = reinterpret_cast<const BlockQ8_K*>(row)[b / per];
        const int j = static_cast<int>(b % per);
        s = blk.d;
        if (sub == 32) m = blk.d * static_cast<float>(blk.bsums[2 * j] + blk.bsums[2 * j + 1]);
        qs = blk.qs + j * sub;
      }
      scale[b * kGroup + t] = s;
      sum[b * kGroup + t] = m;
      for (int k4 = 0; k4 < sub / 4; ++k4) {
        uint32_t v;
        std::memcpy(&v, qs + 4 * k4, 4);
        v ^= 0x80808080u;
        std::memcpy(q + ((b * sub / 4 + k4) * kGroup + t) * 4, &v, 4);
      }
    }
  }
}

// Register tile: kRows rows x G groups of 16 tokens over all scale blocks.
template <int G, int kSub, bool kMin>
void tile_kernel(const WeightTile& wt, int64_t nsb, const ActGroup* ag, __m512 out[kRows][G]) {
  __m512 acc[kRows][G];
  for (int r = 0; r < kRows; ++r)
    for (int g = 0; g < G; ++g) acc[r][g] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nsb; ++b) {
    __m512i it[kRows][G];
    const int32_t* corr = wt.corr + b * kRows;
    for (int r = 0; r < kRows; ++r)
      for (int g = 0; g < G; ++g) it[r][g] = _mm512_set1_epi32(corr[r]);
    const int8_t* wq = wt.q + b * kRows * kSub;
#pragma GCC unroll 8
    for (int k4 = 0; k4 < kSub / 4; ++k4) {
      __m512i av[G];
      for (int g = 0; g < G; ++g) {
        av[g] = _mm512_load_si512(ag[g].q + ((b * kSub / 4 + k4) * kGroup) * 4);
      }
      for (int r = 0; r < kRows; ++r) {
        int32_t w4;
        std::memcpy(&w4, wq + r * kSub + 4 * k4, 4);
        const __m512i wv = _mm512_set1_epi32(w4);
        for (int g = 0; g < G; ++g) it[r][g] = _mm512_dpbusd_epi32(it[r][g], av[g], wv);
      }
    }
    for (int g = 0; g < G; ++g) {
      const __m512 as = _mm512_load_ps(ag[g].scale + b * kGroup);
      __m512 am = _mm512_setzero_ps();
      if constexpr (kMin) am = _mm512_load_ps(ag[g].sum + b * kGroup);
      for (int r = 0; r < kRows; ++r) {
        const __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(it[r][g]), as);
        acc[r][g] = _mm512_fmadd_ps(t, _mm512_set1_ps(wt.scale[b * kRows + r]), acc[r][g]);
        if constexpr (kMin) acc[r][g] = _mm512_fmadd_ps(am, _mm512_set1_ps(wt.min[b * kRows + r]), acc[r][g]);
      }
    }
  }
  for (int r = 0; r < kRows; ++r)
    for (int g = 0; g < G; ++g) out[r][g] = acc[r][g];
}

template <int G>
void run_tile(const Geometry& geo, const WeightTile& wt, int64_t nsb, const ActGroup* ag, __m512 out[kRows][G]) {
  if (geo.sub == 16) {
    tile_kernel<G, 16, false>(wt, nsb, ag, out);
  } else if (geo.has_min) {
    tile_kernel<G, 32, true>(wt, nsb, ag, out);
  } else {
    tile_kernel<G, 32, false>(wt, nsb, ag, out);
  }
}

template <int G>
void store_tile(__m512 out[kRows][G], int64_t r0, int64_t n_rows, int64_t t0, int64_t n_tokens, int64_t n_out,
                float* y) {
  alignas(64) float buf[kGroup];
  for (int r = 0; r < kRows && r0 + r < n_rows; ++r) {
    for (int g = 0; g < G; ++g) {
      _mm512_store_ps(buf, out[r][g]);
      const int64_t tb = t0 + g * kGroup;
      const int64_t nt = std::min<int64_t>(kGroup, n_tokens - tb);
      for (int64_t t = 0; t < nt; ++t) y[(tb + t) * n_out + r0 + r] = buf[t];
    }
  }
}

size_t round_up(size_t v) { return (v + 63) & ~size_t{63}; }

}  // namespace

bool gemm_vnni_supports(Type type) {
  switch (type) {
    case Type::kQ4_0: case Type::kQ4_1: case Type::kQ5_0: case Type::kQ5_1: case Type::kQ8_0:
    case Type::kQ4_K: case Type::kQ5_K: case Type::kQ6_K:
      return true;
    default:
      return false;
  }
}

void gemm_vnni(const WeightView& w, const void* act, size_t act_row_bytes, int64_t n_tokens, float* y,
               Workspace& ws, int n_threads) {
  const Geometry geo = geometry(w.type);
  const TypeTraits* wt_traits = type_traits(w.type);
  const Type act_type = wt_traits->vec_dot_type;
  const int64_t n_in = w.n_in, n_out = w.n_out;
  const int64_t nsb = n_in / geo.sub;
  const int64_t n_groups = (n_tokens + kGroup - 1) / kGroup;

  // Packed activations (slot 1): per group q, then scale, then sum.
  const size_t gq = round_up(static_cast<size_t>(n_in) * kGroup);
  const size_t gs = round_up(sizeof(float) * static_cast<size_t>(nsb) * kGroup);
  const size_t group_bytes = gq + 2 * gs;
  auto* packed = static_cast<uint8_t*>(ws.get(group_bytes * static_cast<size_t>(n_groups), 1));
  // Per-thread weight tiles (slots 2..).
  const size_t tq = round_up(static_cast<size_t>(n_in) * kRows);
  const size_t tf = round_up(sizeof(float) * static_cast<size_t>(nsb) * kRows);
  const size_t tile_bytes = tq + 3 * tf;
  n_threads = std::min(n_threads, kMaxThreads);
  uint8_t* tiles[kMaxThreads];
  for (int i = 0; i < n_threads; ++i) tiles[i] = static_cast<uint8_t*>(ws.get(tile_bytes, 2 + i));
  const auto* act_bytes = static_cast<const uint8_t*>(act);
  const auto* wdata = static_cast<const uint8_t*>(w.data);
  const int64_t n_tiles = (n_out + kRows - 1) / kRows;

#pragma omp parallel num_threads(n_threads)
  {
#pragma omp for schedule(static)
    for (int64_t g = 0; g < n_groups; ++g) {
      uint8_t* base = packed + group_bytes * static_cast<size_t>(g);
      pack_group(act_type, geo.sub, act_bytes, act_row_bytes, g * kGroup, std::min<int64_t>(kGroup, n_tokens - g * kGroup),
                 n_in, base, reinterpret_cast<float*>(base + gq), reinterpret_cast<float*>(base + gq + gs));
    }
    const int ith = omp_get_thread_num(), nth = omp_get_num_threads();
    uint8_t* tb = tiles[ith];
    const WeightTile wt{reinterpret_cast<int8_t*>(tb), reinterpret_cast<float*>(tb + tq),
                        reinterpret_cast<float*>(tb + tq + tf), reinterpret_cast<int32_t*>(tb + tq + 2 * tf)};
    const int64_t tile0 = n_tiles * ith / nth, tile1 = n_tiles * (ith + 1) / nth;
    for (int64_t gb = 0; gb < n_groups; gb += kTokenBlock) {
      const int64_t gend = std::min<int64_t>(n_groups, gb + kTokenBlock);
      for (int64_t tile = tile0; tile < tile1; ++tile) {
        const int64_t r0 = tile * kRows;
        for (int r = 0; r < kRows; ++r) {
          if (r0 + r < n_out) {
            unpack_row(w.type, wdata + w.row_bytes * static_cast<size_t>(r0 + r), n_in, wt, r);
          } else {
            zero_row(nsb, geo.sub, wt, r);
          }
        }
        int64_t g = gb;
        for (; g + kGroupsTile <= gend; g += kGroupsTile) {
          ActGroup ag[kGroupsTile];
          for (int k = 0; k < kGroupsTile; ++k) {
            const uint8_t* base = packed + group_bytes * static_cast<size_t>(g + k);
            ag[k] = {base, reinterpret_cast<const float*>(base + gq), reinterpret_cast<const float*>(base + gq + gs)};
          }
          __m512 out[kRows][kGroupsTile];
          run_tile<kGroupsTile>(geo, wt, nsb, ag, out);
          store_tile<kGroupsTile>(out, r0, n_out, g * kGroup, n_tokens, n_out, y);
        }
        for (; g < gend; ++g) {
          const uint8_t* base = packed + group_bytes * static_cast<size_t>(g);
          const ActGroup ag[1] = {{base, reinterpret_cast<const float*>(base + gq),
                                   reinterpret_cast<const float*>(base + gq + gs)}};
          __m512 out[kRows][1];
          run_tile<1>(geo, wt, nsb, ag, out);
          store_tile<1>(out, r0, n_out, g * kGroup, n_tokens, n_out, y);
        }
      }
    }
  }
}

}  // namespace petrel::kernels
