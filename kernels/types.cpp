// Per-type traits table of the CPU kernels and the scalar f16/bf16 conversions.
// Block layouts are in kernels/blocks.h (e.g. Q4_K = { half d, dmin; u8 scales[12];
// u8 qs[128]; }, 144 bytes per 256 elements); this file only records their geometry and
// the reference functions that operate on them.
#include "kernels/types.h"

#include <array>
#include <cstring>

#include "kernels/blocks.h"
#include "kernels/ref.h"

namespace petrel::kernels {
namespace {

constexpr uint32_t kNumIds = 31;  // ids 0..30 (BF16 is the largest supported id)

struct Table {
  std::array<TypeTraits, kNumIds> traits{};
  std::array<bool, kNumIds> defined{};
};

Table make_table() {
  Table t;
  auto set = [&t](Type type, const char* name, int64_t elems, size_t bytes, DequantizeRowFn deq,
                  QuantizeRowFn quant, Type dot_type, VecDotFn dot) {
    const auto id = static_cast<uint32_t>(type);
    t.traits[id] = TypeTraits{type, name, elems, bytes, deq, quant, dot_type, dot};
    t.defined[id] = true;
  };
  set(Type::kF32, "F32", 1, sizeof(float), dequantize_row_f32_ref, quantize_row_f32_ref, Type::kF32,
      vec_dot_f32_f32_ref);
  set(Type::kF16, "F16", 1, sizeof(half_t), dequantize_row_f16_ref, quantize_row_f16_ref,
      Type::kF16, vec_dot_f16_f16_ref);
  set(Type::kBF16, "BF16", 1, sizeof(bf16_t), dequantize_row_bf16_ref, quantize_row_bf16_ref,
      Type::kBF16, vec_dot_bf16_bf16_ref);
  set(Type::kQ4_0, "Q4_0", kQK, sizeof(BlockQ4_0), dequantize_row_q4_0_ref, quantize_row_q4_0_ref,
      Type::kQ8_0, vec_dot_q4_0_q8_0_ref);
  set(Type::kQ4_1, "Q4_1", kQK, sizeof(BlockQ4_1), dequantize_row_q4_1_ref, quantize_row_q4_1_ref,
      Type::kQ8_1, vec_dot_q4_1_q8_1_ref);
  set(Type::kQ5_0, "Q5_0", kQK, sizeof(BlockQ5_0), dequantize_row_q5_0_ref, quantize_row_q5_0_ref,
      Type::kQ8_0, vec_dot_q5_0_q8_0_ref);
  set(Type::kQ5_1, "Q5_1", kQK, sizeof(BlockQ5_1), dequantize_row_q5_1_ref, quantize_row_q5_1_ref,
      Type::kQ8_1, vec_dot_q5_1_q8_1_ref);
  set(Type::kQ8_0, "Q8_0", kQK, sizeof(BlockQ8_0), dequantize_row_q8_0_ref, quantize_row_q8_0_ref,
      Type::kQ8_0, vec_dot_q8_0_q8_0_ref);
  // Q8_1 is an activation format only: no dot product takes it as the weight side.
  set(Type::kQ8_1, "Q8_1", kQK, sizeof(BlockQ8_1), dequantize_row_q8_1_ref, quantize_row_q8_1_ref,
      Type::kQ8_1, nullptr);
  set(Type::kQ4_K, "Q4_K", kQKK, sizeof(BlockQ4_K), dequantize_row_q4_k_ref, quantize_row_q4_k_ref,
      Type::kQ8_K, vec_dot_q4_k_q8_k_ref);
  set(Type::kQ5_K, "Q5_K", kQKK, sizeof(BlockQ5_K), dequantize_row_q5_k_ref, quantize_row_q5_k_ref,
      Type::kQ8_K, vec_dot_q5_k_q8_k_ref);
  set(Type::kQ6_K, "Q6_K", kQKK, sizeof(BlockQ6_K), dequantize_row_q6_k_ref, quantize_row_q6_k_ref,
      Type::kQ8_K, vec_dot_q6_k_q8_k_ref);
  // Q8_K is an activation format only.
  set(Type::kQ8_K, "Q8_K", kQKK, sizeof(BlockQ8_K), dequantize_row_q8_k_ref, quantize_row_q8_k_ref,
      Type::kQ8_K, nullptr);
  return t;
}

const Table& table() {
  static const Table t = make_table();
  return t;
}

uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

}  // namespace

const TypeTraits* type_traits(uint32_t type_id) {
  const Table& t = table();
  if (type_id >= kNumIds || !t.defined[type_id]) return nullptr;
  return &t.traits[type_id];
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  if (exp == 0x1f) return bits_float(sign | 0x7f800000u | (mant << 13));  // inf / nan
  if (exp != 0) return bits_float(sign | ((exp + 112) << 23) | (mant << 13));
  if (mant == 0) return bits_float(sign);  // signed zero
  // Subnormal: value = mant * 2^-24; normalize into an f32 exponent.
  int e = 113;  // f32 exponent of 2^-14, decremented per shift
  while ((mant & 0x400) == 0) {
    mant <<= 1;
    --e;
  }
  mant &= 0x3ff;
  return bits_float(sign | (static_cast<uint32_t>(e) << 23) | (mant << 13));
}

uint16_t f32_to_f16(float f) {
  uint32_t x = float_bits(f);
  const auto sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  x &= 0x7fffffffu;
  if (x >= 0x7f800000u) {  // inf or nan (nan is quieted, top payload bits kept)
    if (x == 0x7f800000u) return sign | 0x7c00;
    return static_cast<uint16_t>(sign | 0x7e00 | ((x >> 13) & 0x3ff));
  }
  if (x >= 0x477ff000u) return sign | 0x7c00;  // >= 65520 rounds to inf
  if (x >= 0x38800000u) {                      // normal half (>= 2^-14)
    const uint32_t r = x - 0x38000000u;        // rebias exponent 127 -> 15
    const uint32_t lsb = (r >> 13) & 1;
    return static_cast<uint16_t>(sign | ((r + 0xfff + lsb) >> 13));
  }
  // Subnormal half: units of 2^-24.
  const uint32_t e = x >> 23;
  if (e < 102) return sign;  // below 2^-25: rounds to zero
  const uint32_t mant = (x & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126 - e;  // 14..24
  uint32_t q = mant >> shift;
  const uint32_t rem = mant & ((1u << shift) - 1);
  const uint32_t half = 1u << (shift - 1);
  if (rem > half || (rem == half && (q & 1))) ++q;
  return static_cast<uint16_t>(sign | q);
}

float bf16_to_f32(uint16_t h) { return bits_float(static_cast<uint32_t>(h) << 16); }

uint16_t f32_to_bf16(float f) {
  const uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 64);  // quiet nan
  return static_cast<uint16_t>((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

}  // namespace petrel::kernels
