// Per-type traits table of the CPU kernels: block geometry and the scalar reference
// functions (the spec; never optimized). SIMD functions live in the ISA table (isa.h).
#pragma once
#include <cstddef>
#include <cstdint>

namespace petrel::kernels {

// ggml type ids (same numbering as gguf/ggml_types.h; a test checks the two agree).
enum class Type : uint32_t {
  kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ4_1 = 3, kQ5_0 = 6, kQ5_1 = 7, kQ8_0 = 8, kQ8_1 = 9,
  kQ4_K = 12, kQ5_K = 13, kQ6_K = 14, kQ8_K = 15, kBF16 = 30,
};

using DequantizeRowFn = void (*)(const void* src, float* dst, int64_t n);
using QuantizeRowFn = void (*)(const float* src, void* dst, int64_t n);
// s = dot(x, y) over n elements; x of the weight type, y of its vec_dot_type.
using VecDotFn = void (*)(int64_t n, float* s, const void* x, const void* y);

struct TypeTraits {
  Type type;
  const char* name;          // "Q4_K"
  int64_t block_elems;       // 1, 32 or 256
  size_t block_bytes;
  DequantizeRowFn dequantize_row_ref;  // n is a multiple of block_elems
  QuantizeRowFn quantize_row_ref;      // nullptr where no reference quantizer exists
  Type vec_dot_type;         // activation format the dot product takes
  VecDotFn vec_dot_ref;      // scalar reference dot product
};

// Traits of a supported type id, or nullptr (the caller names the id in its error).
const TypeTraits* type_traits(uint32_t type_id);
inline const TypeTraits* type_traits(Type t) { return type_traits(static_cast<uint32_t>(t)); }

// Bytes of one row of n elements (n a multiple of block_elems).
inline size_t row_bytes(const TypeTraits& t, int64_t n) {
  return static_cast<size_t>(n / t.block_elems) * t.block_bytes;
}

// Scalar conversions (exact, round-to-nearest-even for the narrowing ones).
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);

}  // namespace petrel::kernels
