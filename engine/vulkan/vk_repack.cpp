// Converts weights from the GGUF block layouts (kernels/blocks.h) to the GPU layout
// (shaders/types.glsl):
//   Q4_0 {d; qs[16]}          -> r0 qs[16] | r1 d (f16 pairs)
//   Q4_1 {d, m; qs[16]}       -> r0 qs[16] | r1 d|m
//   Q5_0 {d; qh[4]; qs[16]}   -> r0 qs[16] | r1 qh | r2 d (f16 pairs)
//   Q5_1 {d, m; qh[4]; qs[16]} -> r0 qs[16] | r1 qh | r2 d|m
//   Q8_0 {d; qs[32]}          -> r0 qs[32] | r1 d (f16 pairs)
//   Q4_K, Q5_K                -> unchanged (144 and 176 bytes are multiples of 16)
//   Q6_K {ql[128]; qh[64]; scales[16]; d} -> r0 ql|qh (192 B) | r1 scales (16 B) | r2 d
//   F32/F16/BF16              -> rows padded with zeros to a multiple of 32 elements
#include "engine/vulkan/vk_repack.h"

#include <cstring>
#include <string>

#include "gguf/error.h"
#include "kernels/blocks.h"

namespace petrel::vk {
namespace {
using kernels::Type;

uint64_t align4(uint64_t w) { return (w + 3) / 4 * 4; }

struct Geometry {
  uint32_t elems;     // per block
  uint32_t r0_bytes;  // region-0 bytes per block
  uint32_t r1_bytes;  // region-1 bytes per block (2 = packed halves)
  uint32_t r2_bytes;
};

Geometry geometry(Type t) {
  switch (t) {
    case Type::kF32: return {32, 128, 0, 0};
    case Type::kF16: return {32, 64, 0, 0};
    case Type::kBF16: return {32, 64, 0, 0};
    case Type::kQ4_0: return {32, 16, 2, 0};
    case Type::kQ4_1: return {32, 16, 4, 0};
    case Type::kQ5_0: return {32, 16, 4, 2};
    case Type::kQ5_1: return {32, 16, 4, 4};
    case Type::kQ8_0: return {32, 32, 2, 0};
    case Type::kQ4_K: return {256, 144, 0, 0};
    case Type::kQ5_K: return {256, 176, 0, 0};
    case Type::kQ6_K: return {256, 192, 16, 2};
    default: return {0, 0, 0, 0};
  }
}

void put_half(uint32_t* region, uint64_t idx, uint16_t h) {
  auto* p = reinterpret_cast<uint16_t*>(region);
  p[idx] = h;  // little-endian: element idx of the packed pairs
}
}  // namespace

GpuLayout gpu_layout(Type type, int64_t n_in, int64_t n_out, const char* what) {
  Geometry g = geometry(type);
  if (g.elems == 0)
    throw Error(std::string("Vulkan: weight '") + what + "' has type id " +
                std::to_string(uint32_t(type)) + ", which the Vulkan backend does not support");
  const bool plain = type == Type::kF32 || type == Type::kF16 || type == Type::kBF16;
  if (!plain && n_in % g.elems != 0)
    throw Error(std::string("Vulkan: weight '") + what + "' row length " + std::to_string(n_in) +
                " is not a multiple of the block size " + std::to_string(g.elems));
  GpuLayout l;
  l.block_elems = g.elems;
  l.blocks_per_row = uint32_t((n_in + g.elems - 1) / g.elems);
  const uint64_t nb = uint64_t(l.blocks_per_row) * uint64_t(n_out);
  uint64_t w = align4(nb * g.r0_bytes / 4);
  l.off1 = uint32_t(w);
  w += align4((nb * g.r1_bytes + 3) / 4);
  l.off2 = uint32_t(w);
  w += align4((nb * g.r2_bytes + 3) / 4);
  if (w >= (uint64_t(1) << 32))
    throw Error(std::string("Vulkan: weight '") + what + "' is too large for 32-bit indexing");
  l.words = w;
  return l;
}

void repack_rows(const kernels::WeightView& wv, const GpuLayout& l, int64_t r0, int64_t r1,
                 uint32_t* dst) {
  const uint32_t B = l.blocks_per_row;
  auto* d8 = reinterpret_cast<uint8_t*>(dst);
  uint32_t* reg1 = dst + l.off1;
  uint32_t* reg2 = dst + l.off2;
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* src = static_cast<const uint8_t*>(wv.data) + size_t(r) * wv.row_bytes;
    const uint64_t b0 = uint64_t(r) * B;
    switch (wv.type) {
      case Type::kF32:
      case Type::kF16:
      case Type::kBF16: {
        const size_t esz = wv.type == Type::kF32 ? 4 : 2;
        uint8_t* row = d8 + b0 * 32 * esz;
        std::memset(row, 0, size_t(B) * 32 * esz);
        std::memcpy(row, src, size_t(wv.n_in) * esz);
        break;
      }
      case Type::kQ4_0: {
        const auto* blk = reinterpret_cast<const kernels::BlockQ4_0*>(src);
        for (uint32_t b = 0; b < B; ++b) {
          std::memcpy(d8 + (b0 + b) * 16, blk[b].qs, 16);
          put_half(reg1, b0 + b, blk[b].d);
        }
        break;
      }
      case Type::kQ4_1: {
        const auto* blk = reinterpret_cast<const kernels::BlockQ4_1*>(src);
        for (uint32_t b = 0; b < B; ++b) {
          std::memcpy(d8 + (b0 + b) * 16, blk[b].qs, 16);
          reg1[b0 + b] = uint32_t(blk[b].d) | (uint32_t(blk[b].m) << 16);
        }
        break;
      }
      case Type::kQ5_0: {
        const auto* blk = reinterpret_cast<const kernels::BlockQ5_0*>(src);
        for (uint32_t b = 0; b < B; ++b) {
          std::memcpy(d8 + (b0 + b) * 16, blk[b].qs, 16);
          std::memcpy(&reg1[b0 + b], blk[b].qh, 4);
          put_half(reg2, b0 + b, blk[b].d);
        }
        break;
      }
      case Type::kQ5_1: {
        const auto* blk = reinterpret_cast<const kernels::BlockQ5_1*>(src);
        for (uint32_t b = 0; b < B; ++b) {
          std::memcpy(d8 + (b0 + b) * 16, blk[b].qs, 16);
          std::memcpy(&reg1[b0 + b], blk[b].qh, 4);
          reg2[b0 + b] = uint32_t(blk[b].d) | (uint32_t(blk[b].m) << 16);
        }
        break;
      }
      case Type::kQ8_0: {
        const auto* blk = reinterpret_cast<const kernels::BlockQ8_0*>(src);
        for (uint32_t b = 0; b < B; ++b) {
          std::memcpy(d8 + (b0 + b) * 32, blk[b].qs, 32);
          put_half(reg1, b0 + b, blk[b].d);
        }
        break;
      }
      case Type::kQ4_K:
        std::memcpy(d8 + b0 * 144, src, size_t(B) * 144);
        break;
      case Type::kQ5_K:
        std::memcpy(d8 + b0 * 176, src, size_t(B) * 176);
        break;
      case Type::kQ6_K: {
        const auto* blk = reinterpret_cast<const kernels::BlockQ6_K*>(src);
        for (uint32_t b = 0; b < B; ++b) {
          std::memcpy(d8 + (b0 + b) * 192, blk[b].ql, 128);
          std::memcpy(d8 + (b0 + b) * 192 + 128, blk[b].qh, 64);
          std::memcpy(reinterpret_cast<uint8_t*>(reg1) + (b0 + b) * 16, blk[b].scales, 16);
          put_half(reg2, b0 + b, blk[b].d);
        }
        break;
      }
      default:
        throw Error("Vulkan: repack of unsupported type id " + std::to_string(uint32_t(wv.type)));
    }
  }
}

}  // namespace petrel::vk
