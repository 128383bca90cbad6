// Private interface of the AVX-512 VNNI GEMM (gemm_avx512.cpp) used by matmul.cpp.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/matmul.h"

namespace petrel::kernels {

// True if gemm_vnni handles weights of this type.
bool gemm_vnni_supports(Type type);

// y[t * n_out + r] = W[r] . act[t] for all rows and tokens; act: n_tokens rows of the
// weight type's vec_dot_type (act_row_bytes apart), already quantized. Uses workspace
// slots >= 1 (slot 0 holds act). Runs its own OpenMP region with n_threads.
void gemm_vnni(const WeightView& w, const void* act, size_t act_row_bytes, int64_t n_tokens,
               float* y, Workspace& ws, int n_threads);

}  // namespace petrel::kernels
