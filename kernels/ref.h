// Scalar reference kernels: the spec every SIMD path is tested against. Never optimized.
// dequantize_row_*: n elements (a multiple of the block size) to f32.
// quantize_row_*: n f32 values to blocks (round-to-nearest as llama.cpp's reference does).
// vec_dot_W_A: s = dot of n elements of a weight row of type W with an activation row of
// type A, accumulating as llama.cpp does (integer products per block, f32 sums).
#pragma once
#include <cstdint>

namespace petrel::kernels {

void dequantize_row_f32_ref(const void* src, float* dst, int64_t n);
void dequantize_row_f16_ref(const void* src, float* dst, int64_t n);
void dequantize_row_bf16_ref(const void* src, float* dst, int64_t n);
void dequantize_row_q4_0_ref(const void* src, float* dst, int64_t n);
void dequantize_row_q4_1_ref(const void* src, float* dst, int64_t n);
void dequantize_row_q5_0_ref(const void* src, float* dst, int64_t n);
void dequantize_row_q5_1_ref(const void* src, float* dst, int64_t n);
void dequantize_row_q8_0_ref(const void* src, float* dst, int64_t n);
void dequantize_row_q8_1_ref(const void* src, float* dst, int64_t n);
void dequantize_row_q4_k_ref(const void* src, float* dst, int64_t n);
void dequantize_row_q5_k_ref(const void* src, float* dst, int64_t n);
void dequantize_row_q6_k_ref(const void* src, float* dst, int64_t n);
void dequantize_row_q8_k_ref(const void* src, float* dst, int64_t n);

void quantize_row_f32_ref(const float* src, void* dst, int64_t n);
void quantize_row_f16_ref(const float* src, void* dst, int64_t n);
void quantize_row_bf16_ref(const float* src, void* dst, int64_t n);
void quantize_row_q4_0_ref(const float* src, void* dst, int64_t n);
void quantize_row_q4_1_ref(const float* src, void* dst, int64_t n);
void quantize_row_q5_0_ref(const float* src, void* dst, int64_t n);
void quantize_row_q5_1_ref(const float* src, void* dst, int64_t n);
void quantize_row_q8_0_ref(const float* src, void* dst, int64_t n);
void quantize_row_q8_1_ref(const float* src, void* dst, int64_t n);
void quantize_row_q4_k_ref(const float* src, void* dst, int64_t n);
void quantize_row_q5_k_ref(const float* src, void* dst, int64_t n);
void quantize_row_q6_k_ref(const float* src, void* dst, int64_t n);
void quantize_row_q8_k_ref(const float* src, void* dst, int64_t n);

void vec_dot_f32_f32_ref(int64_t n, float* s, const void* x, const void* y);
void vec_dot_f16_f16_ref(int64_t n, float* s, const void* x, const void* y);
void vec_dot_bf16_bf16_ref(int64_t n, float* s, const void* x, const void* y);
void vec_dot_q4_0_q8_0_ref(int64_t n, float* s, const void* x, const void* y);
void vec_dot_q4_1_q8_1_ref(int64_t n, float* s, const void* x, const void* y);
void vec_dot_q5_0_q8_0_ref(int64_t n, float* s, const void* x, const void* y);
void vec_dot_q5_1_q8_1_ref(int64_t n, float* s, const void* x, const void* y);
void vec_dot_q8_0_q8_0_ref(int64_t n, float* s, const void* x, const void* y);
void vec_dot_q4_k_q8_k_ref(int64_t n, float* s, const void* x, const void* y);
void vec_dot_q5_k_q8_k_ref(int64_t n, float* s, const void* x, const void* y);
void vec_dot_q6_k_q8_k_ref(int64_t n, float* s, const void* x, const void* y);

}  // namespace petrel::kernels
