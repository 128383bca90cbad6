// ggml block layouts, little-endian, defined once. `half` values are raw IEEE f16 bits.
// See ../shared/docs/FORMATS.md for the meaning of each field.
#pragma once
#include <cstdint>

namespace petrel::kernels {

using half_t = uint16_t;  // IEEE binary16 bits
using bf16_t = uint16_t;  // upper 16 bits of an f32

constexpr int kQK = 32;   // elements per block of the 32-block types
constexpr int kQKK = 256; // elements per K-quant super-block
constexpr int kKScaleBytes = 12;

// Q4_0: element j (0..15) = low nibble of qs[j], j+16 = high nibble; value d*(q-8).
struct BlockQ4_0 { half_t d; uint8_t qs[kQK / 2]; };
static_assert(sizeof(BlockQ4_0) == 18);

// Q4_1: as Q4_0, value d*q + m.
struct BlockQ4_1 { half_t d; half_t m; uint8_t qs[kQK / 2]; };
static_assert(sizeof(BlockQ4_1) == 20);

// Q5_0: 5th bit of element j in bit j of qh (as u32); value d*(q-16).
struct BlockQ5_0 { half_t d; uint8_t qh[4]; uint8_t qs[kQK / 2]; };
static_assert(sizeof(BlockQ5_0) == 22);

// Q5_1: as Q5_0, value d*q + m.
struct BlockQ5_1 { half_t d; half_t m; uint8_t qh[4]; uint8_t qs[kQK / 2]; };
static_assert(sizeof(BlockQ5_1) == 24);

// Q8_0: value d*q.
struct BlockQ8_0 { half_t d; int8_t qs[kQK]; };
static_assert(sizeof(BlockQ8_0) == 34);

// Q8_1 (activations for Q4_1/Q5_1): s = d * sum(qs).
struct BlockQ8_1 { half_t d; half_t s; int8_t qs[kQK]; };
static_assert(sizeof(BlockQ8_1) == 36);

// Q4_K: 8 sub-blocks of 32 with 6-bit scales/mins packed in scales[12];
// value d*sc*q - dmin*m.
struct BlockQ4_K { half_t d; half_t dmin; uint8_t scales[kKScaleBytes]; uint8_t qs[kQKK / 2]; };
static_assert(sizeof(BlockQ4_K) == 144);

// Q5_K: as Q4_K plus the 5th bits in qh[32].
struct BlockQ5_K {
  half_t d; half_t dmin; uint8_t scales[kKScaleBytes]; uint8_t qh[kQKK / 8]; uint8_t qs[kQKK / 2];
};
static_assert(sizeof(BlockQ5_K) == 176);

// Q6_K: low 4 bits in ql, high 2 bits in qh, 16 signed 8-bit scales; value d*sc*(q-32).
struct BlockQ6_K { uint8_t ql[kQKK / 2]; uint8_t qh[kQKK / 4]; int8_t scales[kQKK / 16]; half_t d; };
static_assert(sizeof(BlockQ6_K) == 210);

// Q8_K (activations only): f32 scale, bsums[i] = sum of qs[16i..16i+15].
struct BlockQ8_K { float d; int8_t qs[kQKK]; int16_t bsums[kQKK / 16]; };
static_assert(sizeof(BlockQ8_K) == 292);

}  // namespace petrel::kernels
