// Private helpers shared by the CPU kernel files (scalar only; no ISA flags needed).
// K-quant scale packing (Q4_K/Q5_K `scales[12]`): 8 six-bit scales and 8 six-bit mins;
// j < 4: sc = s[j] & 63, m = s[j+4] & 63; j >= 4: sc = (s[j+4] & 15) | (s[j-4] >> 6) << 4,
// m = (s[j+4] >> 4) | (s[j] >> 6) << 4.
#pragma once
#include <cstdint>
#include <cstring>

namespace petrel::kernels::detail {

// Unpacks the 8 scales and 8 mins of one Q4_K/Q5_K super-block.
inline void unpack_k_scales(const uint8_t* s, uint8_t sc[8], uint8_t m[8]) {
  for (int j = 0; j < 4; ++j) {
    sc[j] = s[j] & 63;
    m[j] = s[j + 4] & 63;
  }
  for (int j = 4; j < 8; ++j) {
    sc[j] = static_cast<uint8_t>((s[j + 4] & 15) | ((s[j - 4] >> 6) << 4));
    m[j] = static_cast<uint8_t>((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
  }
}

// Same as unpack_k_scales but as two u32 words each (bytes 0..7 = sc, then 8..15 = m),
// the layout the SIMD code broadcasts from.
inline void unpack_k_scales_u32(const uint8_t* s, uint32_t out[4]) {
  constexpr uint32_t kMask1 = 0x3f3f3f3f, kMask2 = 0x0f0f0f0f, kMask3 = 0x03030303;
  uint32_t u[3];
  std::memcpy(u, s, 12);
  out[0] = u[0] & kMask1;
  out[1] = (u[2] & kMask2) | (((u[0] >> 6) & kMask3) << 4);
  out[2] = u[1] & kMask1;
  out[3] = ((u[2] >> 4) & kMask2) | (((u[1] >> 6) & kMask3) << 4);
}

}  // namespace petrel::kernels::detail
