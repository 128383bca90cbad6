// Private declarations of the SIMD kernels that the ISA table (isa.cpp) points at.
// Names carry the (weight, activation) pair and the ISA; signatures match VecDotFn and
// QuantizeRowFn in types.h. Defined in dot_avx2.cpp, dot_avx512.cpp, dot_act_avx512.cpp.
#pragma once
#include <cstdint>

namespace petrel::kernels {

#define PETREL_DECLARE_ISA_KERNELS(isa)                                              \
  void vec_dot_f32_f32_##isa(int64_t n, float* s, const void* x, const void* y);   \
  void vec_dot_f16_f16_##isa(int64_t n, float* s, const void* x, const void* y);   \
  void vec_dot_bf16_bf16_##isa(int64_t n, float* s, const void* x, const void* y); \
  void vec_dot_q4_0_q8_0_##isa(int64_t n, float* s, const void* x, const void* y); \
  void vec_dot_q4_1_q8_1_##isa(int64_t n, float* s, const void* x, const void* y); \
  void vec_dot_q5_0_q8_0_##isa(int64_t n, float* s, const void* x, const void* y); \
  void vec_dot_q5_1_q8_1_##isa(int64_t n, float* s, const void* x, const void* y); \
  void vec_dot_q8_0_q8_0_##isa(int64_t n, float* s, const void* x, const void* y); \
  void vec_dot_q4_k_q8_k_##isa(int64_t n, float* s, const void* x, const void* y); \
  void vec_dot_q5_k_q8_k_##isa(int64_t n, float* s, const void* x, const void* y); \
  void vec_dot_q6_k_q8_k_##isa(int64_t n, float* s, const void* x, const void* y);

PETREL_DECLARE_ISA_KERNELS(avx2)
PETREL_DECLARE_ISA_KERNELS(avx512)
#undef PETREL_DECLARE_ISA_KERNELS

// Activation quantizers, bit-identical to the *_ref ones (dot_act_avx512.cpp).
void quantize_row_q8_0_avx512(const float* src, void* dst, int64_t n);
void quantize_row_q8_1_avx512(const float* src, void* dst, int64_t n);
void quantize_row_q8_k_avx512(const float* src, void* dst, int64_t n);
void quantize_row_f16_avx512(const float* src, void* dst, int64_t n);

// AVX-512 BF16 dot without the avx512_bf16 instructions (converts to f32 and uses FMA).
void vec_dot_bf16_bf16_avx512_nobf16(int64_t n, float* s, const void* x, const void* y);

}  // namespace petrel::kernels
