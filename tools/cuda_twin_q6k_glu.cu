// cuda_twin_q6k_glu.cu: a diagnostic, not part of Petrel and never built by CMake or CI.
// The Q6_K gate/up decode matvec of shaders/mul_mvq.comp (mul_mvq_glu_q6_k: the GPU layout
// of engine/vulkan/vk_repack.cpp, int8 x with (d, s) per block, 32 threads a row, the same
// chunk mapping and arithmetic) written in CUDA, so that Nsight Compute, which does not
// profile Vulkan, can show what limits that loop. It needs the CUDA toolkit, which only the
// GPU machine has (nvcc, ncu); Petrel itself does not depend on it. There, from the repo root:
//   nvcc -O3 -arch=sm_90 -std=c++17 tools/cuda_twin_q6k_glu.cu -o /tmp/twin && /tmp/twin
//   ncu --launch-skip 20 --launch-count 1 --section SpeedOfLight --section WarpStateStats \
//       --section Occupancy /tmp/twin ng1
// Variants (argument; all when none): stream (a kernel reading the same bytes), ng1 (the
// Petrel shape), ng1p (x's sums of squares summed first, as with MvqIo::x_rms), empty (a
// launch with no work), ng8 / ng8r / ng4r (8 or 4 rows a block, registers capped or not).
// Times are us a call, medians of 5 x 64 calls back to back, weights rotated over 8 copies.
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <vector>
#include <algorithm>
#include <cuda_fp16.h>

struct Xq { const uint4* q; const float2* ds; };
struct W { const uint4* w4; const uint32_t* w1; uint32_t off1, off2; };

__device__ __forceinline__ float sbyte(uint32_t word, uint32_t b) { return float(int(word << (24u - b * 8u)) >> 24); }

struct Chunk { uint4 ql, qh; uint32_t s0, s1; float d; };

__device__ __forceinline__ Chunk load_w(const W& w, uint32_t blk, uint32_t c) {
  Chunk k;
  const uint32_t n = c / 4u, l = 16u * (c % 4u) % 32u;
  k.ql = __ldg(&w.w4[blk * 12u + c]);
  k.qh = __ldg(&w.w4[blk * 12u + 8u + 2u * n + l / 16u]);
  const uint32_t is = 8u * (c / 4u) + (c % 4u) % 2u + 2u * ((c % 4u) / 2u);
  k.s0 = __ldg(&w.w1[w.off1 + 4u * blk + is / 4u]);
  k.s1 = __ldg(&w.w1[w.off1 + 4u * blk + is / 4u + 1u]);
  const uint32_t hw = __ldg(&w.w1[w.off2 + blk / 2u]);
  k.d = __half2float(__ushort_as_half((unsigned short)(hw >> ((blk & 1u) * 16u))));
  return k;
}

__device__ __forceinline__ uint32_t sub32(uint32_t v) { return ((v | 0x80808080u) - 0x20202020u) ^ 0x80808080u; }

__device__ __forceinline__ float chunk_dot(const Chunk& k, uint32_t c, uint4 xlo, uint4 xhi, float2 dlo, float2 dhi) {
  const uint32_t qd0 = (c % 4u) / 2u;
  const uint32_t qlv[4] = {k.ql.x, k.ql.y, k.ql.z, k.ql.w}, qhv[4] = {k.qh.x, k.qh.y, k.qh.z, k.qh.w};
  const uint32_t xl[4] = {xlo.x, xlo.y, xlo.z, xlo.w}, xh[4] = {xhi.x, xhi.y, xhi.z, xhi.w};
  int sl = 0, sh = 0;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const uint32_t lo = sub32((qlv[i] & 0x0F0F0F0Fu) | (((qhv[i] >> (2u * qd0)) & 0x03030303u) << 4));
    const uint32_t hi = sub32(((qlv[i] >> 4) & 0x0F0F0F0Fu) | (((qhv[i] >> (2u * qd0 + 4u)) & 0x03030303u) << 4));
    sl = __dp4a((int)lo, (int)xl[i], sl);
    sh = __dp4a((int)hi, (int)xh[i], sh);
  }
  const uint32_t is = 8u * (c / 4u) + (c % 4u) % 2u + 2u * ((c % 4u) / 2u);
  return k.d * (sbyte(k.s0, is % 4u) * dlo.x * float(sl) + sbyte(k.s1, is % 4u) * dhi.x * float(sh));
}

// NG row groups of 32 threads a block, one row each; B blocks a row.
template <int NG, int MINB, bool PRO = false>
__global__ void __launch_bounds__(32 * NG, MINB) glu(W g, W u, Xq x, float* y, uint32_t n_out, uint32_t B, const float* xps = nullptr) {
  const uint32_t gt = threadIdx.x % 32u, row = blockIdx.x * NG + threadIdx.x / 32u;
  if (row >= n_out) return;
  float x_ss = 0.f;
  if (PRO)
    for (uint32_t i = gt; i < B * 8u; i += 32u) x_ss += __ldg(&xps[i]);
  const uint32_t n_chunks = B * 8u;
  float ag = 0.f, au = 0.f;
  for (uint32_t ch = gt; ch < n_chunks; ch += 32u) {
    const uint32_t blk = ch / 8u, c = ch % 8u;
    const uint32_t n = c / 4u, L = 16u * (c % 4u), qd0 = L / 32u, l = L % 32u;
    const uint32_t xb = blk * 8u + 4u * n + qd0;
    const uint4 xlo = __ldg(&x.q[2u * xb + l / 16u]), xhi = __ldg(&x.q[2u * (xb + 2u) + l / 16u]);
    const float2 dlo = __ldg(&x.ds[xb]), dhi = __ldg(&x.ds[xb + 2u]);
    const uint32_t wb = row * B + blk;
    const Chunk kg = load_w(g, wb, c), ku = load_w(u, wb, c);
    ag += chunk_dot(kg, c, xlo, xhi, dlo, dhi);
    au += chunk_dot(ku, c, xlo, xhi, dlo, dhi);
  }
#pragma unroll
  for (int o = 16; o > 0; o /= 2) {
    ag += __shfl_xor_sync(0xffffffffu, ag, o);
    au += __shfl_xor_sync(0xffffffffu, au, o);
  }
  if (PRO) {
#pragma unroll
    for (int o = 16; o > 0; o /= 2) x_ss += __shfl_xor_sync(0xffffffffu, x_ss, o);
    const float sc = rsqrtf(x_ss / float(B * 256u) + 1e-5f);
    ag *= sc;
    au *= sc;
  }
  if (gt == 0) y[row] = ag / (1.f + __expf(-ag)) * au;
}

// reads the same bytes: every uint4 of both weights once
__global__ void empty(uint32_t* out) { if (threadIdx.x == 1000) out[0] = 1; }

__global__ void stream(const uint4* a, const uint4* b, size_t n4, uint32_t* out) {
  uint4 acc = make_uint4(0, 0, 0, 0);
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n4; i += (size_t)gridDim.x * blockDim.x) {
    uint4 v = __ldg(&a[i]), w = __ldg(&b[i]);
    acc.x ^= v.x ^ w.x; acc.y ^= v.y ^ w.y; acc.z ^= v.z ^ w.z; acc.w ^= v.w ^ w.w;
  }
  if ((acc.x ^ acc.y ^ acc.z ^ acc.w) == 0x12345678u) out[0] = 1;
}

#define CK(x) do { cudaError_t e = (x); if (e != cudaSuccess) { printf("%s: %s\n", #x, cudaGetErrorString(e)); return 1; } } while (0)

int main(int argc, char** argv) {
  const uint32_t n_in = 4096, n_out = 14336, B = n_in / 256;
  const int copies = 8;  // weights rotated so L2 never holds them
  const size_t r0 = size_t(n_out) * B * 192, r1 = size_t(n_out) * B * 16, r2 = size_t(n_out) * B * 2;
  const size_t wbytes = (r0 + r1 + ((r2 + 15) / 16) * 16);
  std::vector<uint8_t> h(wbytes);
  uint64_t s = 88172645463325252ull;
  for (size_t i = 0; i < wbytes; ++i) { s ^= s << 13; s ^= s >> 7; s ^= s << 17; h[i] = uint8_t(s); }
  // sane d halves (0.001..)
  for (size_t i = r0 + r1; i + 1 < wbytes; i += 2) { h[i] = 0x00; h[i + 1] = 0x14; }
  std::vector<uint8_t*> gw(copies), uw(copies);
  for (int c = 0; c < copies; ++c) {
    CK(cudaMalloc(&gw[c], wbytes)); CK(cudaMalloc(&uw[c], wbytes));
    CK(cudaMemcpy(gw[c], h.data(), wbytes, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(uw[c], h.data(), wbytes, cudaMemcpyHostToDevice));
  }
  std::vector<uint8_t> hx(n_in);
  for (auto& v : hx) { s ^= s << 13; s ^= s >> 7; s ^= s << 17; v = uint8_t(s) % 64; }
  std::vector<float2> hds(n_in / 32, make_float2(0.01f, 0.1f));
  uint8_t* xq; float2* xds; float* y; uint32_t* sink;
  CK(cudaMalloc(&xq, n_in)); CK(cudaMalloc(&xds, n_in / 32 * 8)); CK(cudaMalloc(&y, n_out * 4)); CK(cudaMalloc(&sink, 4));
  CK(cudaMemcpy(xq, hx.data(), n_in, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(xds, hds.data(), n_in / 32 * 8, cudaMemcpyHostToDevice));
  const uint32_t off1 = uint32_t(r0 / 4), off2 = uint32_t((r0 + r1) / 4);
  Xq x{(const uint4*)xq, xds};
  auto mk = [&](uint8_t* p) { return W{(const uint4*)p, (const uint32_t*)p, off1, off2}; };
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0); cudaEventCreate(&e1);
  const double bytes = 2.0 * wbytes;
  auto time = [&](const char* name, auto launch) {
    for (int i = 0; i < 16; ++i) launch(i % copies);
    cudaDeviceSynchronize();
    std::vector<float> ms;
    for (int r = 0; r < 5; ++r) {
      cudaEventRecord(e0);
      for (int i = 0; i < 64; ++i) launch(i % copies);
      cudaEventRecord(e1);
      cudaEventSynchronize(e1);
      float t; cudaEventElapsedTime(&t, e0, e1); ms.push_back(t / 64);
    }
    std::sort(ms.begin(), ms.end());
    printf("%-28s %8.2f us  %7.0f GB/s\n", name, ms[2] * 1e3, bytes / (ms[2] * 1e-3) * 1e-9);
    return 0;
  };
  const char* only = argc > 1 ? argv[1] : "";
  auto want = [&](const char* n) { return !*only || std::strcmp(only, n) == 0; };
  if (want("stream")) time("stream (same bytes)", [&](int c) { stream<<<132 * 8, 1024>>>((const uint4*)gw[c], (const uint4*)uw[c], wbytes / 16, sink); });
  if (want("ng1")) time("glu 32 thr x 1 row (petrel)", [&](int c) { glu<1, 1><<<n_out, 32>>>(mk(gw[c]), mk(uw[c]), x, y, n_out, B); });
  float* xps;
  CK(cudaMalloc(&xps, n_in / 32 * 4));
  CK(cudaMemset(xps, 0, n_in / 32 * 4));
  if (want("ng1p")) time("glu + x sums-of-squares first", [&](int c) { glu<1, 1, true><<<n_out, 32>>>(mk(gw[c]), mk(uw[c]), x, y, n_out, B, xps); });
  if (want("empty")) time("empty kernel (no bytes)", [&](int) { empty<<<1, 32>>>(sink); });
  if (want("ng8")) time("glu 8 row groups a block", [&](int c) { glu<8, 1><<<n_out / 8, 256>>>(mk(gw[c]), mk(uw[c]), x, y, n_out, B); });
  if (want("ng8r")) time("glu 8 groups, <=32 regs", [&](int c) { glu<8, 8><<<n_out / 8, 256>>>(mk(gw[c]), mk(uw[c]), x, y, n_out, B); });
  if (want("ng4r")) time("glu 4 groups, <=40 regs", [&](int c) { glu<4, 12><<<n_out / 4, 128>>>(mk(gw[c]), mk(uw[c]), x, y, n_out, B); });
  CK(cudaGetLastError());
  return 0;
}
