// The GPU layout of a weight (see shaders/types.glsl): quant bytes of every block in
// region 0 (read as 16-byte vectors), per-block scales/high bits in regions 1 and 2.
// Q4_K and Q5_K keep their file layout; the other types are split so that every region
// is 16-byte aligned; F32/F16/BF16 rows are zero-padded to a multiple of 32 elements.
#pragma once
#include <cstdint>

#include "kernels/matmul.h"

namespace petrel::vk {

struct GpuLayout {
  uint32_t blocks_per_row = 0;  // B
  uint32_t block_elems = 0;     // 32 or 256
  uint32_t off1 = 0, off2 = 0;  // word offsets of regions 1 and 2 (multiples of 4)
  uint64_t words = 0;           // total 32-bit words
};

// Layout of a weight of `type` with n_out rows of n_in elements; throws petrel::Error for
// unsupported types or rows that are not a whole number of blocks.
GpuLayout gpu_layout(kernels::Type type, int64_t n_in, int64_t n_out, const char* what);

// Writes rows [r0, r1) of w into dst (the whole tensor's GPU layout, `l.words` words).
void repack_rows(const kernels::WeightView& w, const GpuLayout& l, int64_t r0, int64_t r1,
                 uint32_t* dst);

}  // namespace petrel::vk
