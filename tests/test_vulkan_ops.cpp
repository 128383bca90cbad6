// Every Vulkan shader against the CPU reference (kernels/ref.h dequantizers, plain loops),
// on random data at sizes with tails. Runs on any Vulkan device (lavapipe in CI); skips
// when no Vulkan device is available.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/vulkan/vk_ops.h"
#include "kernels/types.h"
#include "tests/support/vulkan_test.h"

namespace petrel::vk {
namespace {

using kernels::Type;

// f32 products and sums on both sides, only the summation order differs: relative error
// ~1e-6 per output at these lengths, so nMSE well under 1e-9; an indexing bug gives ~1.
constexpr double kMatTol = 1e-9;
// mul_mvq (int8 activations, integer dots) against a reference that quantizes x the same
// way (blocks of 32, d = amax / 127, q = round(x / d)): only float rounding of the scale
// products and rare one-step flips of q at a rounding tie (device division is not
// correctly rounded) differ; measured <= 5e-14, or 4e-8 with a flip, on lavapipe.
constexpr double kMvqTol = 1e-6;
// mul_mvq against the unquantized-x reference: the int8 rounding of x (uniform error of
// half a step of amax / 127) gives nMSE 1e-5..6.4e-5 here (GLU the highest, two matvecs);
// an indexing bug gives ~0.3..1.
constexpr double kMvqVsF32Tol = 5e-4;
// mul_mm_cm (tensor cores) rounds W and x to f16 (relative error uniform within 2^-11,
// rms 2.8e-4 each) and accumulates in f32: each product is off by ~4e-4 rms relative,
// independently, so nMSE ~1.6e-7 at these sizes; 5e-6 leaves 30x margin. An indexing or
// fragment-layout bug gives ~1.
constexpr double kCoopmatTol = 5e-6;
// Element-wise ops with exp/sqrt (device exp is not correctly rounded): nMSE bound.
constexpr double kEltTol = 1e-10;
// RoPE/attention: device sin/cos/exp and f16 KV rounding on both sides.
constexpr double kAttnTol = 1e-8;

using test::nmse;
using test::ops;

const Type kAllTypes[] = {Type::kF32,  Type::kF16,  Type::kBF16, Type::kQ4_0,
                          Type::kQ4_1, Type::kQ5_0, Type::kQ5_1, Type::kQ8_0,
                          Type::kQ4_K, Type::kQ5_K, Type::kQ6_K};

// Byte offsets of the f16 scale fields in each block (set to sane values after filling
// the block with random bytes, so every bit pattern of the quants is exercised).
std::vector<size_t> half_fields(Type t) {
  switch (t) {
    case Type::kQ4_0: case Type::kQ5_0: case Type::kQ8_0: return {0};
    case Type::kQ4_1: case Type::kQ5_1: case Type::kQ4_K: case Type::kQ5_K: return {0, 2};
    case Type::kQ6_K: return {208};
    default: return {};
  }
}

// A random weight of n_out rows of n_in, its bytes in `storage`.
struct HostWeight {
  std::vector<uint8_t> storage;
  kernels::WeightView view;
  std::vector<float> deq;  // [n_out][n_in] via the reference dequantizer
};

HostWeight random_weight(Type t, int64_t n_in, int64_t n_out, std::mt19937& rng) {
  const kernels::TypeTraits* tr = kernels::type_traits(t);
  HostWeight w;
  const size_t rb = kernels::row_bytes(*tr, n_in);
  w.storage.resize(rb * size_t(n_out));
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::uniform_int_distribution<int> byte(0, 255);
  if (t == Type::kF32 || t == Type::kF16 || t == Type::kBF16) {
    std::vector<float> v(static_cast<size_t>(n_in));
    for (int64_t r = 0; r < n_out; ++r) {
      for (auto& f : v) f = u(rng);
      tr->quantize_row_ref(v.data(), w.storage.data() + rb * size_t(r), n_in);
    }
  } else {
    for (auto& b : w.storage) b = uint8_t(byte(rng));
    const size_t nblk = w.storage.size() / tr->block_bytes;
    for (size_t b = 0; b < nblk; ++b)
      for (size_t off : half_fields(t)) {
        uint16_t h = kernels::f32_to_f16(u(rng) * 0.05f);
        std::memcpy(w.storage.data() + b * tr->block_bytes + off, &h, 2);
      }
  }
  w.view = {t, n_in, n_out, w.storage.data(), rb};
  w.deq.resize(size_t(n_in * n_out));
  for (int64_t r = 0; r < n_out; ++r)
    tr->dequantize_row_ref(w.storage.data() + rb * size_t(r), w.deq.data() + r * n_in, n_in);
  return w;
}

std::vector<float> random_vec(size_t n, std::mt19937& rng, float scale = 1.f) {
  std::uniform_real_distribution<float> u(-scale, scale);
  std::vector<float> v(n);
  for (auto& f : v) f = u(rng);
  return v;
}

// y[t][r] = dot(deq row r, x[t]) in double.
std::vector<float> ref_matmul(const HostWeight& w, const std::vector<float>& x, int n_tokens) {
  const int64_t n_in = w.view.n_in, n_out = w.view.n_out;
  std::vector<float> y(size_t(n_tokens * n_out));
  for (int t = 0; t < n_tokens; ++t)
    for (int64_t r = 0; r < n_out; ++r) {
      double s = 0;
      for (int64_t i = 0; i < n_in; ++i) s += double(w.deq[size_t(r * n_in + i)]) * x[size_t(t * n_in + i)];
      y[size_t(t * n_out + r)] = float(s);
    }
  return y;
}

int64_t row_len(Type t, int k) {
  const kernels::TypeTraits* tr = kernels::type_traits(t);
  if (tr->block_elems == 1) return 67 + 32 * k;  // tail: not a multiple of 4 or 32
  return tr->block_elems * (3 + k);
}

Buffer* dev(const std::vector<float>& v, const char* what) { return ops()->upload_f32(v.data(), v.size(), what); }

// mul_mm_cm on f32 x (MatArgs as matmul's): x_tiles into a fresh buffer, then mul_mm_cm.
void run_mm_cm(Ops& o, const GpuWeight& g, const MatArgs& a, uint32_t n_tokens) {
  Buffer* xt = o.mem().device_buffer(Ops::x_tiles_bytes(uint64_t(g.n_in), n_tokens), "x tiles");
  MatArgs t = a;
  t.x = xt;
  t.x_off = 0;
  t.x_stride = n_tokens;
  o.ctx().run_now([&](VkCommandBuffer cb) {
    o.x_tiles(cb, *a.x, a.x_off, a.x_stride, uint32_t(g.n_in), n_tokens, *xt);
    o.barrier(cb);
    o.mul_mm_cm(cb, g, t, n_tokens);
  });
}

std::vector<float> fetch(const Buffer& b, size_t n) {
  std::vector<float> v(n);
  ops()->mem().download(b, 0, v.data(), n * 4);
  return v;
}

// Runs one matmul flavour for every type and compares with the reference.
void check_matmul(bool tiled, int n_tokens, int n_out) {
  std::mt19937 rng(1234);
  for (Type t : kAllTypes) {
    SCOPED_TRACE(kernels::type_traits(t)->name);
    const int64_t n_in = row_len(t, 1);
    HostWeight w = random_weight(t, n_in, n_out, rng);
    auto x = random_vec(size_t(n_in * n_tokens), rng);
    GpuWeight g = ops()->upload_weight(w.view, "w");
    Buffer* xb = dev(x, "x");
    Buffer* yb = ops()->mem().device_buffer(size_t(n_out * n_tokens) * 4, "y");
    MatArgs a{xb, 0, uint32_t(n_in), yb, 0, uint32_t(n_out)};
    ops()->ctx().run_now([&](VkCommandBuffer cb) {
      if (tiled)
        ops()->mul_mm(cb, g, a, uint32_t(n_tokens));
      else
        ops()->mul_mv(cb, g, a, uint32_t(n_tokens));
    });
    EXPECT_LT(nmse(fetch(*yb, size_t(n_out * n_tokens)), ref_matmul(w, x, n_tokens)), kMatTol);
  }
}

TEST(VulkanOps, MulMvEveryType) {
  REQUIRE_VULKAN();
  check_matmul(false, 3, 37);  // 37 rows: not a multiple of the rows per workgroup
}

TEST(VulkanOps, MulMmEveryType) {
  REQUIRE_VULKAN();
  check_matmul(true, 70, 67);  // tails in both tile dimensions
}

// y += W x + bias through Ops::matmul for n_tok tokens, x and y rows starting one row in
// (x_off = n_in, y_off = n_out); 45 rows of 512.
void check_bias_accumulate(Type t, int n_tok, double tol, std::mt19937& rng) {
  const int n_in = 512, n_out = 45;
  HostWeight w = random_weight(t, n_in, n_out, rng);
  auto x = random_vec(size_t(n_in * (n_tok + 1)), rng);
  auto y0 = random_vec(size_t(n_out * (n_tok + 1)), rng);
  auto bias = random_vec(size_t(n_out), rng);
  GpuWeight g = ops()->upload_weight(w.view, "w");
  Buffer *xb = dev(x, "x"), *yb = dev(y0, "y"), *bb = dev(bias, "bias");
  MatArgs a{xb, uint32_t(n_in), uint32_t(n_in), yb, uint32_t(n_out), uint32_t(n_out), bb, true};
  ops()->ctx().run_now([&](VkCommandBuffer cb) { ops()->matmul(cb, g, a, uint32_t(n_tok)); });
  std::vector<float> xs(x.begin() + n_in, x.end());
  auto want = ref_matmul(w, xs, n_tok);
  std::vector<float> expect(y0);
  for (int t2 = 0; t2 < n_tok; ++t2)
    for (int r = 0; r < n_out; ++r)
      expect[size_t((t2 + 1) * n_out + r)] += want[size_t(t2 * n_out + r)] + bias[size_t(r)];
  EXPECT_LT(nmse(fetch(*yb, y0.size()), expect), tol);
}

TEST(VulkanOps, MulMvBiasAccumulateAndOffsets) {
  REQUIRE_VULKAN();
  std::mt19937 rng(7);
  for (bool tiled : {false, true}) {
    SCOPED_TRACE(tiled ? "mul_mm" : "mul_mv");
    check_bias_accumulate(Type::kQ6_K, tiled ? 9 : 2, kMatTol, rng);
  }
}

// x_tiles (mul_mm_cm's activations): every 16-bit word against the layout of
// shaders/x_tiles.comp, on rows of 100 floats (a partial tile; tiles past the row padded
// to 256 elements, all zero), rows 16-byte aligned and not (x_off 3, the scalar path),
// values beyond the f16 range clamped; and the GLU form (silu(g) * u). Runs on any device
// (no tensor cores needed).
TEST(VulkanOps, XTilesLayout) {
  REQUIRE_VULKAN();
  std::mt19937 rng(5);
  const uint32_t n_in = 100, n_tok = 7, stride = 104;
  for (bool glu : {false, true})
    for (uint32_t x_off : {0u, 3u}) {
      SCOPED_TRACE(std::string(glu ? "glu" : "plain") + " x_off " + std::to_string(x_off));
      auto x = random_vec(size_t(x_off + stride * n_tok), rng);
      auto up = random_vec(x.size(), rng);
      x[x_off + stride + 5] = 1e6f;  // clamped to 65504
      x[x_off + 2 * stride + 9] = -1e6f;
      if (glu) up[x_off + stride + 5] = 1.0f, up[x_off + 2 * stride + 9] = -1.0f;
      Buffer* xb = dev(x, "x");
      Buffer* ub = dev(up, "up");
      const uint64_t bytes = Ops::x_tiles_bytes(n_in, n_tok);
      ASSERT_EQ(bytes, 8u * n_tok * 64u);  // 100 elements: one 256-element block of tiles
      Buffer* tb = ops()->mem().device_buffer(bytes, "tiles");
      ops()->ctx().run_now([&](VkCommandBuffer cb) {
        ops()->x_tiles(cb, *xb, x_off, stride, n_in, n_tok, *tb, glu ? ub : nullptr);
      });
      std::vector<uint16_t> got(bytes / 2);
      ops()->mem().download(*tb, 0, got.data(), bytes);
      const int order[8] = {0, 2, 1, 3, 4, 6, 5, 7};
      size_t bad = 0;
      for (uint32_t kt = 0; kt < 8; ++kt)
        for (uint32_t t = 0; t < n_tok; ++t)
          for (uint32_t j = 0; j < 32; ++j) {
            const uint32_t k = 32 * kt + 8 * (j / 8) + uint32_t(order[j % 8]);
            float want = 0.f;
            if (k < n_in) {
              const size_t i = x_off + t * stride + k;
              want = glu ? x[i] / (1.f + std::exp(-x[i])) * up[i] : x[i];
              want = std::clamp(want, -65504.f, 65504.f);
            }
            const float g = kernels::f16_to_f32(got[(size_t(kt) * n_tok + t) * 32 + j]);
            if (std::abs(g - want) > std::abs(want) * 1e-3f + 1e-7f) ++bad;
          }
      EXPECT_EQ(bad, 0u);
    }
}

TEST(VulkanOps, MulMmCoopmatEveryType) {
  REQUIRE_VULKAN();
  std::mt19937 rng(99);
  if (!ops()->coopmat_supported()) {
    HostWeight w = random_weight(Type::kQ8_0, 64, 4, rng);
    GpuWeight g = ops()->upload_weight(w.view, "w");
    Buffer* xb = ops()->mem().device_buffer(64 * 4, "x");
    MatArgs a{xb, 0, 64, xb, 0, 4};
    EXPECT_THROW(ops()->ctx().run_now([&](VkCommandBuffer cb) { ops()->mul_mm_cm(cb, g, a, 1); }),
                 Error);
    GTEST_SKIP() << "device lacks VK_NV_cooperative_matrix (f16 16x16x16); mul_mm_cm not run";
  }
  const int n_tokens = 150, n_out = 200;  // tails in both tile dimensions (128 x 64 tiles)
  for (Type t : kAllTypes) {
    SCOPED_TRACE(kernels::type_traits(t)->name);
    const int64_t n_in = row_len(t, 1);
    HostWeight w = random_weight(t, n_in, n_out, rng);
    auto x = random_vec(size_t(n_in * n_tokens), rng);
    GpuWeight g = ops()->upload_weight(w.view, "w");
    Buffer* xb = dev(x, "x");
    Buffer* yb = ops()->mem().device_buffer(size_t(n_out * n_tokens) * 4, "y");
    MatArgs a{xb, 0, uint32_t(n_in), yb, 0, uint32_t(n_out)};
    run_mm_cm(*ops(), g, a, n_tokens);
    const double e = nmse(fetch(*yb, size_t(n_out * n_tokens)), ref_matmul(w, x, n_tokens));
    EXPECT_LT(e, kCoopmatTol);
    EXPECT_GT(e, 0.0);  // f16 rounding is visible: the tensor-core path really ran
  }
  // bias + accumulate + row offsets through matmul (which picks mul_mm_cm at this size)
  const int n_tok = 40;
  ASSERT_GE(uint32_t(n_tok), ops()->pipes().tuning().cm_min_tokens);
  check_bias_accumulate(Type::kQ4_K, n_tok, kCoopmatTol, rng);
}

// mul_mm_cm at ragged shapes (partial tiles in rows and tokens, one token tile barely
// started) and longer rows (many pipelined k steps), for the types with their own
// dequantization path and one generic type; x starts at an offset that is not a multiple
// of 4 in one case (the scalar x path). Rows of 7 blocks: for the 32-element types an odd
// number of 32-element sub-steps, so the last 64-wide k step is half past the row.
TEST(VulkanOps, MulMmCoopmatRaggedShapes) {
  REQUIRE_VULKAN();
  if (!ops()->coopmat_supported()) GTEST_SKIP() << "device lacks VK_NV_cooperative_matrix";
  std::mt19937 rng(2024);
  struct Case { int n_tokens, n_out; uint32_t x_off; };
  for (Type t : {Type::kQ4_K, Type::kQ5_K, Type::kQ6_K, Type::kQ8_0, Type::kQ4_0, Type::kF16}) {
    for (Case c : {Case{33, 129, 0}, Case{300, 333, 0}, Case{129, 70, 3}}) {
      SCOPED_TRACE(std::string(kernels::type_traits(t)->name) + " tokens " +
                   std::to_string(c.n_tokens) + " rows " + std::to_string(c.n_out) + " x_off " +
                   std::to_string(c.x_off));
      const int64_t n_in = row_len(t, 4);
      HostWeight w = random_weight(t, n_in, c.n_out, rng);
      auto x = random_vec(size_t(n_in * c.n_tokens + c.x_off), rng);
      GpuWeight g = ops()->upload_weight(w.view, "w");
      Buffer* xb = dev(x, "x");
      Buffer* yb = ops()->mem().device_buffer(size_t(c.n_out * c.n_tokens) * 4, "y");
      MatArgs a{xb, c.x_off, uint32_t(n_in), yb, 0, uint32_t(c.n_out)};
      run_mm_cm(*ops(), g, a, uint32_t(c.n_tokens));
      std::vector<float> xs(x.begin() + c.x_off, x.end());
      const double e =
          nmse(fetch(*yb, size_t(c.n_out * c.n_tokens)), ref_matmul(w, xs, c.n_tokens));
      EXPECT_LT(e, kCoopmatTol);
      EXPECT_GT(e, 0.0);
    }
  }
}

// mul_mm_cm picks its tile (rows x tokens) from the grid size: 128 x 64 below 100 tiles of
// 128 x 128 (the small shapes of the tests above), 128 x 128 otherwise. Grids on either
// side of that threshold, with tails in rows and tokens, so both variants run on a ragged
// edge for every type with its own dequantization path and one generic type.
TEST(VulkanOps, MulMmCoopmatTileVariants) {
  REQUIRE_VULKAN();
  if (!ops()->coopmat_supported()) GTEST_SKIP() << "device lacks VK_NV_cooperative_matrix";
  std::mt19937 rng(77);
  struct Case { int n_tokens, n_out; const char* tile; };
  // 25 x 8 = 200 tiles of 128 x 128; 20 x 5 = 100; 10 x 9 = 90 (so 10 x 18 of 128 x 64)
  for (Case c : {Case{1000, 3100, "128x128"}, Case{600, 2500, "128x128"},
                 Case{1100, 1200, "128x64"}}) {
    for (Type t : {Type::kQ4_K, Type::kQ5_K, Type::kQ6_K, Type::kQ8_0, Type::kQ4_0, Type::kF16}) {
      SCOPED_TRACE(std::string(kernels::type_traits(t)->name) + " tile " + c.tile);
      const int64_t n_in = 512;  // 8 k steps; the reference costs up to ~1.6G multiply-adds
      HostWeight w = random_weight(t, n_in, c.n_out, rng);
      auto x = random_vec(size_t(n_in * c.n_tokens), rng);
      GpuWeight g = ops()->upload_weight(w.view, "w");
      Buffer* xb = dev(x, "x");
      Buffer* yb = ops()->mem().device_buffer(size_t(c.n_out) * size_t(c.n_tokens) * 4, "y");
      MatArgs a{xb, 0, uint32_t(n_in), yb, 0, uint32_t(c.n_out)};
      run_mm_cm(*ops(), g, a, uint32_t(c.n_tokens));
      const double e = nmse(fetch(*yb, size_t(c.n_out) * size_t(c.n_tokens)),
                            ref_matmul(w, x, c.n_tokens));
      EXPECT_LT(e, kCoopmatTol);
      EXPECT_GT(e, 0.0);
    }
  }
}

TEST(VulkanOps, MulMvGluFused) {
  REQUIRE_VULKAN();
  std::mt19937 rng(99);
  for (Type t : {Type::kQ4_K, Type::kQ8_0, Type::kF16}) {
    SCOPED_TRACE(kernels::type_traits(t)->name);
    const int64_t n_in = row_len(t, 0), n_out = 41;
    HostWeight wg = random_weight(t, n_in, n_out, rng), wu = random_weight(t, n_in, n_out, rng);
    auto x = random_vec(size_t(n_in * 2), rng);
    GpuWeight gg = ops()->upload_weight(wg.view, "gate"), gu = ops()->upload_weight(wu.view, "up");
    Buffer* xb = dev(x, "x");
    Buffer* yb = ops()->mem().device_buffer(size_t(n_out * 2) * 4, "y");
    ops()->ctx().run_now([&](VkCommandBuffer cb) {
      ops()->mul_mv_glu(cb, gg, gu, {xb, 0, uint32_t(n_in), yb, 0, uint32_t(n_out)}, 2);
    });
    auto a = ref_matmul(wg, x, 2), b = ref_matmul(wu, x, 2);
    for (size_t i = 0; i < a.size(); ++i) a[i] = float(a[i] / (1.0 + std::exp(-double(a[i]))) * b[i]);
    EXPECT_LT(nmse(fetch(*yb, a.size()), a), kMatTol);
  }
}

// x quantized per 32-element block the way mul_mvq does it, then dequantized.
std::vector<float> q8_roundtrip(const std::vector<float>& x) {
  std::vector<float> out(x.size());
  for (size_t b = 0; b < x.size(); b += 32) {
    float amax = 0.f;
    for (size_t i = b; i < b + 32; ++i) amax = std::max(amax, std::fabs(x[i]));
    const float d = amax / 127.f, id = d > 0.f ? 1.f / d : 0.f;
    for (size_t i = b; i < b + 32; ++i) out[i] = d * std::round(x[i] * id);
  }
  return out;
}

// x rows rms-normalized and scaled by w (the CPU side of mul_mvq's fused norm).
std::vector<float> rms_rows(const std::vector<float>& x, const std::vector<float>& w, float eps) {
  const size_t n = w.size();
  std::vector<float> y(x.size());
  for (size_t r = 0; r < x.size() / n; ++r) {
    float ss = 0.f;
    for (size_t i = 0; i < n; ++i) ss += x[r * n + i] * x[r * n + i];
    const float s = 1.f / std::sqrt(ss / float(n) + eps);
    for (size_t i = 0; i < n; ++i) y[r * n + i] = x[r * n + i] * s * w[i];
  }
  return y;
}

// One quantize_q8 + mul_mvq case on `o`: mode 0 plain, 1 norm + bias + accumulate, 2 GLU.
void check_mvq(Ops& o, Type t, int mode, int64_t n_in, std::mt19937& rng) {
  const int64_t n_out = 37, n_tok = 2;  // 37: rows-per-workgroup tail
  HostWeight w = random_weight(t, n_in, n_out, rng), wu = random_weight(t, n_in, n_out, rng);
  auto x = random_vec(size_t(n_in * (n_tok + 1)), rng, 2.f);
  x[5] = 0.f;
  for (int i = 0; i < 32; ++i) x[size_t(n_in + 64 + i)] = 0.f;  // an all-zero block
  auto norm_w = random_vec(size_t(n_in), rng);
  auto y0 = random_vec(size_t(n_out * n_tok), rng);
  auto bias = random_vec(size_t(n_out), rng);
  auto up = [&](const std::vector<float>& v, const char* what) { return o.upload_f32(v.data(), v.size(), what); };
  GpuWeight g = o.upload_weight(w.view, "w"), gu = o.upload_weight(wu.view, "up");
  Buffer *xb = up(x, "x"), *nb = up(norm_w, "norm"), *yb = up(y0, "y"), *bb = up(bias, "b");
  // token rows start one row in: x_off = n_in
  MatArgs a{xb, uint32_t(n_in), uint32_t(n_in), yb, 0, uint32_t(n_out)};
  if (mode == 1) a.bias = bb, a.accumulate = true;
  const float eps = 1e-5f;
  // quantize_q8 (with the norm in mode 1), then the int8 matvec on its rows
  const Q8Act x8 = o.alloc_q8(uint32_t(n_in * n_tok), "x int8");
  MatArgs qa = a;
  qa.x = nullptr;
  qa.x_off = 0;
  o.ctx().run_now([&](VkCommandBuffer cb) {
    o.quantize_q8(cb, *xb, a.x_off, a.x_stride, uint32_t(n_in), uint32_t(n_tok), x8,
                  mode == 1 ? nb : nullptr, eps);
    o.barrier(cb);
    if (mode == 2)
      o.mul_mvq_glu_q8(cb, g, gu, x8, qa, uint32_t(n_tok));
    else
      o.mul_mvq_q8(cb, g, x8, qa, uint32_t(n_tok));
  });
  std::vector<float> xs(x.begin() + n_in, x.end());
  if (mode == 1) xs = rms_rows(xs, norm_w, eps);
  const std::vector<float> xq = q8_roundtrip(xs);
  auto expect = [&](const std::vector<float>& xin) {
    auto y = ref_matmul(w, xin, int(n_tok));
    if (mode == 2) {
      auto u = ref_matmul(wu, xin, int(n_tok));
      for (size_t i = 0; i < y.size(); ++i) y[i] = float(y[i] / (1.0 + std::exp(-double(y[i]))) * u[i]);
    }
    if (mode == 1)
      for (size_t i = 0; i < y.size(); ++i) y[i] += y0[i] + bias[i % size_t(n_out)];
    return y;
  };
  std::vector<float> got(y0.size());
  o.mem().download(*yb, 0, got.data(), got.size() * 4);
  EXPECT_LT(nmse(got, expect(xq)), kMvqTol);
  EXPECT_LT(nmse(got, expect(xs)), kMvqVsF32Tol);
}

TEST(VulkanOps, MulMvqInt8Activations) {
  REQUIRE_VULKAN();
  if (!ops()->ctx().caps.integer_dot) GTEST_SKIP() << "device lacks integer dot products";
  std::mt19937 rng(31);
  // the device's default tuning and the shader defaults (more threads than chunks in a
  // row, few rows per workgroup); odd and even super-block counts per row
  Tuning plain, gpu, cpu;
  gpu.mvq_wg = gpu.mvq_wg_q6_k = 32;  // one subgroup, one row (Q6_K on the H100)
  gpu.mvq_rows = gpu.mvq_rows_q6_k = gpu.mvq_rows_q8_0 = 1;
  cpu.mvq_wg = cpu.mvq_wg_q6_k = cpu.mvq_wg_q8_0 = 64;  // the CPU-device choice
  cpu.mvq_rows = cpu.mvq_rows_q6_k = cpu.mvq_rows_q8_0 = 4;
  Ops alt(0, &plain), alt_gpu(0, &gpu), alt_cpu(0, &cpu);
  for (Ops* o : {ops(), &alt, &alt_gpu, &alt_cpu})
    for (int64_t n_in : {512, 768, 1024, 1280})
      for (Type t : {Type::kQ8_0, Type::kQ4_K, Type::kQ6_K})
        for (int mode = 0; mode < 3; ++mode) {
          if (o != ops() && (n_in == 512 || n_in == 1024)) continue;  // odd counts suffice there
          SCOPED_TRACE(std::string(kernels::type_traits(t)->name) + " mode " + std::to_string(mode) +
                       " n_in " + std::to_string(n_in) + " wg " +
                       std::to_string(o->pipes().tuning().mvq_wg) + " rows " +
                       std::to_string(o->pipes().tuning().mvq_rows));
          check_mvq(*o, t, mode, n_in, rng);
        }
  // unsupported inputs are refused with the reason
  HostWeight w40 = random_weight(Type::kQ4_0, 64, 2, rng);
  GpuWeight g = ops()->upload_weight(w40.view, "q4_0");
  EXPECT_FALSE(ops()->mvq_supported(g));
  const Q8Act xq = ops()->alloc_q8(64, "x int8");
  Buffer* yb = ops()->mem().device_buffer(64 * 4, "y");
  ops()->ctx().run_now([&](VkCommandBuffer cb) {
    EXPECT_THROW(ops()->mul_mvq_q8(cb, g, xq, {nullptr, 0, 64, yb, 0, 2}, 1), Error);
  });
}

// One mul_mvq with a quantized output (MvqIo::out) followed by a matvec that reads it, on
// `o`: glu false: x += W a (accumulate) with y * norm_w quantized and its sums of squares
// kept, the consumer applying the rms (x_rms); glu true: g = silu(Wg a) * (Wu a) quantized.
// The reference path writes y alone and quantizes it with quantize_q8 (norm in the shader).
void check_mvq_out(Ops& o, Type t, Type t2, bool glu, std::mt19937& rng) {
  const int64_t n_in = 256, n_out = 512, n_out2 = 37, n_tok = 2;
  HostWeight w = random_weight(t, n_in, n_out, rng), wu = random_weight(t, n_in, n_out, rng);
  HostWeight w2 = random_weight(t2, n_out, n_out2, rng);
  auto a = random_vec(size_t(n_in * n_tok), rng, 2.f);
  auto y0 = random_vec(size_t(n_out * n_tok), rng, 3.f);
  auto norm_w = random_vec(size_t(n_out), rng);
  auto up = [&](const std::vector<float>& v, const char* what) { return o.upload_f32(v.data(), v.size(), what); };
  GpuWeight g = o.upload_weight(w.view, "w"), gu = o.upload_weight(wu.view, "up");
  GpuWeight g2 = o.upload_weight(w2.view, "w2");
  ASSERT_TRUE(o.mvqo_supported(g, glu));
  Buffer *ab = up(a, "a"), *nb = up(norm_w, "norm"), *yb = up(y0, "y"), *yb_ref = up(y0, "y ref");
  Buffer* zb = o.mem().device_buffer(size_t(n_out2 * n_tok) * 4, "z");
  Buffer* zb_ref = o.mem().device_buffer(size_t(n_out2 * n_tok) * 4, "z ref");
  const Q8Act a8 = o.alloc_q8(uint32_t(n_in * n_tok), "a int8");
  const Q8Act y8 = o.alloc_q8(uint32_t(n_out * n_tok), "y int8");
  const Q8Act y8_ref = o.alloc_q8(uint32_t(n_out * n_tok), "y int8 ref");
  const uint32_t ni = uint32_t(n_in), no = uint32_t(n_out), nt = uint32_t(n_tok);
  const float eps = 1e-5f;
  const MatArgs args{nullptr, 0, ni, yb, 0, no, nullptr, !glu};
  MatArgs args_ref = args;
  args_ref.y = yb_ref;
  o.ctx().run_now([&](VkCommandBuffer cb) {
    o.quantize_q8(cb, *ab, 0, ni, ni, nt, a8, nullptr, eps);
    o.barrier(cb);
    const MvqIo io{false, eps, &y8, glu ? nullptr : nb};
    if (glu) {
      o.mul_mvq_glu_q8(cb, g, gu, a8, args, nt, io);
      o.mul_mvq_glu_q8(cb, g, gu, a8, args_ref, nt);
    } else {
      o.mul_mvq_q8(cb, g, a8, args, nt, io);
      o.mul_mvq_q8(cb, g, a8, args_ref, nt);
    }
    o.barrier(cb);
    o.quantize_q8(cb, *yb_ref, 0, no, no, nt, y8_ref, glu ? nullptr : nb, eps);
    o.barrier(cb);
    o.mul_mvq_q8(cb, g2, y8, {nullptr, 0, no, zb, 0, uint32_t(n_out2)}, nt, {!glu, eps});
    o.mul_mvq_q8(cb, g2, y8_ref, {nullptr, 0, no, zb_ref, 0, uint32_t(n_out2)}, nt);
  });
  auto get = [&](const Buffer& b, size_t n) {
    std::vector<float> v(n);
    o.mem().download(b, 0, v.data(), n * 4);
    return v;
  };
  // y itself as the plain matvec writes it (only the summation order may differ)
  EXPECT_LT(nmse(get(*yb, y0.size()), get(*yb_ref, y0.size())), kMatTol);
  // the consumer's result as if y had gone through quantize_q8 (with the norm)
  const size_t nz = size_t(n_out2 * n_tok);
  EXPECT_LT(nmse(get(*zb, nz), get(*zb_ref, nz)), kMvqTol);
}

TEST(VulkanOps, MulMvqQuantizedOutput) {
  REQUIRE_VULKAN();
  if (!ops()->ctx().caps.integer_dot) GTEST_SKIP() << "device lacks integer dot products";
  std::mt19937 rng(37);
  // the device's row groups (where it uses them) and wider ones
  Tuning wide;
  for (auto* s : {&wide.mvqo_q4_k, &wide.mvqo_q6_k, &wide.mvqo_q8_0}) *s = {64, 4, 64, 2};
  Ops alt(0, &wide);
  for (Ops* o : {ops(), &alt})
    for (Type t : {Type::kQ8_0, Type::kQ4_K, Type::kQ6_K})
      for (bool glu : {false, true}) {
        if (mvqo_shape(o->pipes().tuning(), t == Type::kQ6_K, t == Type::kQ8_0, glu).second == 0)
          continue;  // the device leaves this one to quantize_q8
        SCOPED_TRACE(std::string(kernels::type_traits(t)->name) + (glu ? " glu" : " residual") +
                     " row group " + std::to_string(o->pipes().tuning().mvqo_q4_k.wg));
        check_mvq_out(*o, t, t == Type::kQ8_0 ? Type::kQ4_K : Type::kQ8_0, glu, rng);
      }
  // refused: a row count off the 32-row blocks, or the buffer x is read from
  std::mt19937 r2(5);
  HostWeight w = random_weight(Type::kQ8_0, 64, 40, r2);
  GpuWeight g = ops()->upload_weight(w.view, "q8_0 40 rows");
  EXPECT_FALSE(ops()->mvqo_supported(g));
  const Q8Act xq = ops()->alloc_q8(64, "x int8"), yq = ops()->alloc_q8(64, "y int8");
  Buffer* yb = ops()->mem().device_buffer(64 * 4, "y");
  HostWeight w32 = random_weight(Type::kQ8_0, 64, 32, r2);
  GpuWeight g32 = ops()->upload_weight(w32.view, "q8_0 32 rows");
  ops()->ctx().run_now([&](VkCommandBuffer cb) {
    EXPECT_THROW(ops()->mul_mvq_q8(cb, g, xq, {nullptr, 0, 64, yb, 0, 40}, 1, {false, 0.f, &yq}), Error);
    EXPECT_THROW(ops()->mul_mvq_q8(cb, g32, xq, {nullptr, 0, 64, yb, 0, 32}, 1, {false, 0.f, &xq}), Error);
  });
}

// mul_mvq_f32x (f32 x quantized by each workgroup) against quantize_q8 + mul_mvq_q8 with
// the same output quantization: the same bits, y and the int8 output with its scales.
TEST(VulkanOps, MulMvqFromF32MatchesQuantizeThenMvq) {
  REQUIRE_VULKAN();
  if (!ops()->ctx().caps.integer_dot) GTEST_SKIP() << "device lacks integer dot products";
  Ops& o = *ops();
  std::mt19937 rng(41);
  const int64_t n_out = 64;
  const uint32_t n_tok = 2;
  for (Type t : {Type::kQ8_0, Type::kQ4_K, Type::kQ6_K})
    for (bool norm : {false, true}) {
      const int64_t n_in = t == Type::kQ8_0 ? 736 : 1280;  // not a multiple of the workgroup
      SCOPED_TRACE(std::string(kernels::type_traits(t)->name) + (norm ? " norm" : ""));
      HostWeight w = random_weight(t, n_in, n_out, rng);
      const GpuWeight g = o.upload_weight(w.view, "w");
      if (!o.mvq_f32x_supported(g)) GTEST_SKIP() << "mul_mvqo not run for this type here";
      auto x = random_vec(size_t(n_in) * (n_tok + 1), rng, 2.f);
      for (int i = 0; i < 32; ++i) x[size_t(n_in + 32 + i)] = 0.f;  // an all-zero block
      auto y0 = random_vec(size_t(n_out * n_tok), rng), nw = random_vec(size_t(n_out), rng);
      Buffer *xb = dev(x, "x"), *ya = dev(y0, "y a"), *yb = dev(y0, "y b"), *nb = dev(nw, "norm");
      const Q8Act xq = o.alloc_q8(uint32_t(n_in) * n_tok, "x int8");
      const Q8Act qa = o.alloc_q8(uint32_t(n_out) * n_tok, "out a"), qb = o.alloc_q8(uint32_t(n_out) * n_tok, "out b");
      MvqIo ia, ib;
      ia.out = &qa, ib.out = &qb;
      if (norm) ia.out_norm = ib.out_norm = nb;
      // token rows from one row in: x_off = n_in
      const MatArgs fa{xb, uint32_t(n_in), uint32_t(n_in), yb, 0, uint32_t(n_out), nullptr, true};
      o.ctx().run_now([&](VkCommandBuffer cb) {
        o.quantize_q8(cb, *xb, uint32_t(n_in), uint32_t(n_in), uint32_t(n_in), n_tok, xq, nullptr, 0.f);
        o.barrier(cb);
        o.mul_mvq_q8(cb, g, xq, {nullptr, 0, uint32_t(n_in), ya, 0, uint32_t(n_out), nullptr, true}, n_tok, ia);
        o.mul_mvq_f32x(cb, g, fa, n_tok, ib);
      });
      EXPECT_EQ(fetch(*yb, y0.size()), fetch(*ya, y0.size()));
      // the parts written: int8 rows, (d, s) per block, sums of squares per block (norm)
      const size_t n = size_t(n_out) * n_tok, nb32 = n / 32;
      for (auto [off, bytes, what] : {std::tuple{size_t(0), n, "int8"},
                                      std::tuple{size_t(qa.ds_off()) * 8, nb32 * 8, "scales"},
                                      std::tuple{size_t(qa.ps_off()) * 4, nb32 * 4, "squares"}}) {
        if (!norm && std::string(what) == "squares") continue;  // written with the norm only
        std::vector<uint8_t> ba(bytes), bb(bytes);
        o.mem().download(*qa.buf, off, ba.data(), bytes);
        o.mem().download(*qb.buf, off, bb.data(), bytes);
        EXPECT_EQ(ba, bb) << what;
      }
    }
  // refused: no quantized output, or x rows off 16-byte boundaries
  std::mt19937 r2(6);
  HostWeight w = random_weight(Type::kQ8_0, 64, 32, r2);
  const GpuWeight g = o.upload_weight(w.view, "q8_0 32 rows");
  Buffer* xb = o.mem().device_buffer(128 * 4, "x");
  Buffer* yb = o.mem().device_buffer(64 * 4, "y");
  const Q8Act yq = o.alloc_q8(64, "y int8");
  o.ctx().run_now([&](VkCommandBuffer cb) {
    EXPECT_THROW(o.mul_mvq_f32x(cb, g, {xb, 0, 64, yb, 0, 32}, 1, {}), Error);
    EXPECT_THROW(o.mul_mvq_f32x(cb, g, {xb, 2, 64, yb, 0, 32}, 1, {false, 0.f, &yq}), Error);
  });
}

// MvqIo::half: gate/up's f16 copy of g is g rounded to halves (infinity past f16's range),
// and mul_mvq_f32x reading x from halves gives the bits of reading those halves' values as
// floats; a half block holding an infinity takes its 16 floats instead (its other halves
// here are wrong on purpose).
TEST(VulkanOps, MulMvqHalfCopiesOfG) {
  REQUIRE_VULKAN();
  Ops& o = *ops();
  if (!o.ctx().caps.integer_dot || !o.half_supported())
    GTEST_SKIP() << "device lacks integer dot products or 16-bit storage";
  std::mt19937 rng(43);
  const uint32_t n_tok = 2;
  for (Type t : {Type::kQ8_0, Type::kQ6_K}) {
    SCOPED_TRACE(kernels::type_traits(t)->name);
    const int64_t n_in = 512, n_ff = 768;
    // gate/up: y (f32) and its halves
    HostWeight wg = random_weight(t, n_in, n_ff, rng), wu = random_weight(t, n_in, n_ff, rng);
    const GpuWeight gg = o.upload_weight(wg.view, "gate"), gu = o.upload_weight(wu.view, "up");
    // (with the random Q6_K weights, which are large, some of g is past f16's range)
    auto x = random_vec(size_t(n_in) * n_tok, rng, t == Type::kQ6_K ? 0.3f : 3.f);
    Buffer* xb = dev(x, "x");
    const Q8Act xq = o.alloc_q8(uint32_t(n_in) * n_tok, "x int8");
    Buffer* g = o.mem().device_buffer(size_t(n_ff) * n_tok * 4, "g");
    Buffer* gh = o.mem().device_buffer(size_t(n_ff) * n_tok * 2, "g f16");
    MvqIo io;
    io.half = gh;
    o.ctx().run_now([&](VkCommandBuffer cb) {
      o.quantize_q8(cb, *xb, 0, uint32_t(n_in), uint32_t(n_in), n_tok, xq, nullptr, 0.f);
      o.barrier(cb);
      o.mul_mvq_glu_q8(cb, gg, gu, xq, {nullptr, 0, uint32_t(n_in), g, 0, uint32_t(n_ff)}, n_tok, io);
    });
    const std::vector<float> gf = fetch(*g, size_t(n_ff) * n_tok);
    std::vector<uint16_t> gv(gf.size());
    o.mem().download(*gh, 0, gv.data(), gv.size() * 2);
    size_t wrong = 0, past = 0;
    for (size_t i = 0; i < gf.size(); ++i) {
      const bool fits = std::fabs(gf[i]) < 65504.f;
      past += !fits;
      wrong += fits ? gv[i] != kernels::f32_to_f16(gf[i]) : (gv[i] & 0x7FFF) != 0x7C00;
    }
    EXPECT_EQ(wrong, 0u) << "halves that are not g rounded (or infinity past 65504)";
    if (t == Type::kQ6_K) {
      EXPECT_GT(past, 0u) << "no g past f16's range";
    }

    // down from the halves against down from their values as floats
    HostWeight wd = random_weight(t, n_ff, 64, rng);
    const GpuWeight gd = o.upload_weight(wd.view, "down");
    if (!o.mvq_f32x_supported(gd)) continue;
    // the floats: g where it is past f16's range (as the f32 copy holds it), else its half
    std::vector<float> as_f(gv.size());
    for (size_t i = 0; i < gv.size(); ++i)
      as_f[i] = std::fabs(gf[i]) < 65504.f ? kernels::f16_to_f32(gv[i]) : gf[i];
    // half block 3 of token 1: an infinity and wrong halves; its floats are as_f's
    const size_t hb = size_t(n_ff) + 3 * 16;
    for (size_t i = 0; i < 16; ++i) gv[hb + i] = kernels::f32_to_f16(-as_f[hb + i] + 1.f);
    gv[hb + 5] = 0x7C00;
    o.mem().upload(*gh, 0, gv.data(), gv.size() * 2);
    Buffer *fb = dev(as_f, "g as floats");
    auto y0 = random_vec(size_t(64) * n_tok, rng);
    Buffer *ya = dev(y0, "y a"), *yb = dev(y0, "y b");
    const Q8Act qa = o.alloc_q8(64 * n_tok, "out a"), qb = o.alloc_q8(64 * n_tok, "out b");
    MvqIo ia, ib;
    ia.out = &qa, ib.out = &qb;
    ib.half = gh;
    o.ctx().run_now([&](VkCommandBuffer cb) {
      o.mul_mvq_f32x(cb, gd, {fb, 0, uint32_t(n_ff), ya, 0, 64, nullptr, true}, n_tok, ia);
      o.mul_mvq_f32x(cb, gd, {fb, 0, uint32_t(n_ff), yb, 0, 64, nullptr, true}, n_tok, ib);
    });
    EXPECT_EQ(fetch(*yb, y0.size()), fetch(*ya, y0.size()));
    std::vector<uint8_t> ba(64 * n_tok), bb(ba.size());
    o.mem().download(*qa.buf, 0, ba.data(), ba.size());
    o.mem().download(*qb.buf, 0, bb.data(), bb.size());
    EXPECT_EQ(ba, bb) << "int8 output";
  }
}

// MvqoShape::unroll / o_unroll / glu_unroll / x_unroll (UNR chunks' loads in flight a
// thread) only reorder the loads: plain, gate/up, quantized-output and f32-input matvecs
// give the same bits as one chunk a round, at row lengths that leave a round part-filled.
TEST(VulkanOps, MulMvqUnrolledRoundsGiveTheSameBits) {
  REQUIRE_VULKAN();
  if (!ops()->ctx().caps.integer_dot) GTEST_SKIP() << "device lacks integer dot products";
  std::mt19937 rng(47);
  const int64_t n_out = 64;
  const uint32_t n_tok = 2;
  auto run = [&](Ops& o, const HostWeight& w, const HostWeight& wu, const std::vector<float>& x,
                 int64_t n_in, int mode) {
    const GpuWeight g = o.upload_weight(w.view, "w"), gu = o.upload_weight(wu.view, "up");
    Buffer* xb = o.upload_f32(x.data(), x.size(), "x");
    Buffer* yb = o.mem().device_buffer(size_t(n_out) * n_tok * 4, "y");
    const Q8Act xq = o.alloc_q8(uint32_t(n_in) * n_tok, "x int8");
    const Q8Act yq = o.alloc_q8(uint32_t(n_out) * n_tok, "y int8");
    const MatArgs a{nullptr, 0, uint32_t(n_in), yb, 0, uint32_t(n_out)};
    MvqIo io;
    if (mode >= 2) io.out = &yq;
    o.ctx().run_now([&](VkCommandBuffer cb) {
      o.quantize_q8(cb, *xb, 0, uint32_t(n_in), uint32_t(n_in), n_tok, xq, nullptr, 0.f);
      o.barrier(cb);
      if (mode == 1)
        o.mul_mvq_glu_q8(cb, g, gu, xq, a, n_tok);
      else if (mode == 3)
        o.mul_mvq_f32x(cb, g, {xb, 0, uint32_t(n_in), yb, 0, uint32_t(n_out)}, n_tok, io);
      else
        o.mul_mvq_q8(cb, g, xq, a, n_tok, io);
    });
    std::vector<float> y(size_t(n_out) * n_tok);
    o.mem().download(*yb, 0, y.data(), y.size() * 4);
    if (mode >= 2) {  // and the quantized rows
      std::vector<uint8_t> q(size_t(n_out) * n_tok);
      o.mem().download(*yq.buf, 0, q.data(), q.size());
      for (uint8_t b : q) y.push_back(float(b));
    }
    return y;
  };
  auto tuning = [&](uint32_t unr) {
    Tuning tu = Ops::default_tuning(ops()->ctx().caps);
    for (auto* sh : {&tu.mvqo_q4_k, &tu.mvqo_q6_k, &tu.mvqo_q8_0})
      sh->unroll = sh->o_unroll = sh->glu_unroll = sh->x_unroll = unr;
    return tu;
  };
  const Tuning t1 = tuning(1);
  Ops one(0, &t1);
  for (uint32_t unr : {2u, 3u}) {
    const Tuning tu = tuning(unr);
    Ops alt(0, &tu);
    for (Type t : {Type::kQ8_0, Type::kQ4_K, Type::kQ6_K}) {
      const GpuWeight probe = one.upload_weight(random_weight(t, 256, n_out, rng).view, "probe");
      for (int mode = 0; mode < 4; ++mode) {  // 0 plain, 1 gate/up, 2 quantized output, 3 f32 x
        if ((mode == 2 && !one.mvqo_supported(probe)) || (mode == 3 && !one.mvq_f32x_supported(probe)))
          continue;
        const int64_t n_in = t == Type::kQ8_0 ? 736 : 1280;
        SCOPED_TRACE(std::string(kernels::type_traits(t)->name) + " mode " + std::to_string(mode) +
                     " unroll " + std::to_string(unr));
        HostWeight w = random_weight(t, n_in, n_out, rng), wu = random_weight(t, n_in, n_out, rng);
        auto x = random_vec(size_t(n_in) * n_tok, rng, 2.f);
        EXPECT_EQ(run(alt, w, wu, x, n_in, mode), run(one, w, wu, x, n_in, mode));
      }
    }
  }
}

// mul_mvq_qkv (q, k and v in one dispatch) against three mul_mvq_q8 calls: the same bits,
// with and without biases and v, at row counts that leave partial workgroups.
TEST(VulkanOps, MulMvqQkvMatchesThreeMatvecs) {
  REQUIRE_VULKAN();
  if (!ops()->ctx().caps.integer_dot) GTEST_SKIP() << "device lacks integer dot products";
  Ops& o = *ops();
  std::mt19937 rng(43);
  const int64_t n_q = 97, n_kv = 33;
  const uint32_t n_tok = 3;
  for (Type t : {Type::kQ8_0, Type::kQ4_K, Type::kQ6_K})
    for (int mode = 0; mode < 3; ++mode) {  // 0: q/k/v, 1: with biases, 2: q and k only
      const int64_t n_in = t == Type::kQ8_0 ? 736 : 1280;
      SCOPED_TRACE(std::string(kernels::type_traits(t)->name) + " mode " + std::to_string(mode));
      HostWeight hq = random_weight(t, n_in, n_q, rng), hk = random_weight(t, n_in, n_kv, rng),
                 hv = random_weight(t, n_in, n_kv, rng);
      const GpuWeight gq = o.upload_weight(hq.view, "q"), gk = o.upload_weight(hk.view, "k"),
                      gv = o.upload_weight(hv.view, "v");
      auto x = random_vec(size_t(n_in) * n_tok, rng, 2.f);
      Buffer* xb = dev(x, "x");
      const Q8Act xq = o.alloc_q8(uint32_t(n_in) * n_tok, "x int8");
      const std::vector<float> zq(size_t(n_q) * n_tok), zkv(size_t(n_kv) * n_tok);
      Buffer* out[2][3];
      for (auto& set : out) set[0] = dev(zq, "q"), set[1] = dev(zkv, "k"), set[2] = dev(zkv, "v");
      Buffer* bias[3] = {nullptr, nullptr, nullptr};
      if (mode == 1)
        bias[0] = dev(random_vec(size_t(n_q), rng), "bq"), bias[1] = dev(random_vec(size_t(n_kv), rng), "bk"),
        bias[2] = dev(random_vec(size_t(n_kv), rng), "bv");
      const Buffer* const outs[3] = {out[0][0], out[0][1], out[0][2]};
      const Buffer* const biases[3] = {bias[0], bias[1], bias[2]};
      const GpuWeight* wv = mode == 2 ? nullptr : &gv;
      ASSERT_TRUE(o.mvq_qkv_supported(gq, gk, wv, biases));
      const uint32_t ni = uint32_t(n_in);
      o.ctx().run_now([&](VkCommandBuffer cb) {
        o.quantize_q8(cb, *xb, 0, ni, ni, n_tok, xq, nullptr, 0.f);
        o.barrier(cb);
        o.mul_mvq_qkv(cb, gq, gk, wv, xq, {nullptr, 0, ni, outs[0], 0, uint32_t(n_q), biases[0]}, outs,
                      biases, n_tok, {});
        const GpuWeight* ws[3] = {&gq, &gk, &gv};
        for (int i = 0; i < (wv ? 3 : 2); ++i)
          o.mul_mvq_q8(cb, *ws[i], xq, {nullptr, 0, ni, out[1][i], 0, uint32_t(ws[i]->n_out), bias[i]}, n_tok);
      });
      for (int i = 0; i < 3; ++i) {
        const size_t n = (i == 0 ? zq : zkv).size();
        if (i == 2 && !wv) EXPECT_EQ(fetch(*out[0][2], n), zkv) << "v untouched";
        else EXPECT_EQ(fetch(*out[0][i], n), fetch(*out[1][i], n)) << "weight " << i;
      }
    }
  // refused: k and v of different types, biases on some only
  std::mt19937 r2(7);
  HostWeight a = random_weight(Type::kQ4_K, 256, 64, r2), b = random_weight(Type::kQ6_K, 256, 32, r2),
             c = random_weight(Type::kQ4_K, 256, 32, r2);
  const GpuWeight ga = o.upload_weight(a.view, "a"), gb = o.upload_weight(b.view, "b"),
                  gc = o.upload_weight(c.view, "c");
  Buffer* bb = o.mem().device_buffer(64 * 4, "bias");
  const Buffer* const none[3] = {nullptr, nullptr, nullptr};
  const Buffer* const some[3] = {bb, nullptr, nullptr};
  EXPECT_FALSE(o.mvq_qkv_supported(ga, gc, &gb, none));
  EXPECT_TRUE(o.mvq_qkv_supported(ga, gc, &gc, none));
  EXPECT_FALSE(o.mvq_qkv_supported(ga, gc, &gc, some));
  const Q8Act xq = o.alloc_q8(256, "x int8");
  const Buffer* const outs[3] = {bb, bb, bb};
  o.ctx().run_now([&](VkCommandBuffer cb) {
    EXPECT_THROW(o.mul_mvq_qkv(cb, ga, gc, &gb, xq, {nullptr, 0, 256, bb, 0, 64}, outs, none, 1, {}), Error);
  });
}

TEST(VulkanOps, GetRowsEveryType) {
  REQUIRE_VULKAN();
  std::mt19937 rng(5);
  for (Type t : kAllTypes) {
    SCOPED_TRACE(kernels::type_traits(t)->name);
    const int64_t n_in = row_len(t, 0), n_rows = 11;
    HostWeight w = random_weight(t, n_in, n_rows, rng);
    GpuWeight g = ops()->upload_weight(w.view, "embd");
    const std::vector<int32_t> ids{3, 0, 10, 3, 7};
    Buffer* idb = ops()->mem().device_buffer(ids.size() * 4, "ids");
    ops()->mem().upload(*idb, 0, ids.data(), ids.size() * 4);
    Buffer* out = ops()->mem().device_buffer(ids.size() * size_t(n_in) * 4, "out");
    ops()->ctx().run_now([&](VkCommandBuffer cb) { ops()->get_rows(cb, g, *idb, 0, *out, uint32_t(ids.size())); });
    std::vector<float> want;
    for (int32_t id : ids) want.insert(want.end(), w.deq.begin() + id * n_in, w.deq.begin() + (id + 1) * n_in);
    EXPECT_EQ(nmse(fetch(*out, want.size()), want), 0.0);  // dequantization is exact
  }
}

// get_rows_q8: the rows as get_rows gives them, and an int8 matvec reading the quantized
// rows with the norm deferred (x_rms) as one reading quantize_q8(rows, norm).
TEST(VulkanOps, GetRowsQ8FeedsTheInt8Matvec) {
  REQUIRE_VULKAN();
  if (!ops()->ctx().caps.integer_dot) GTEST_SKIP() << "device lacks integer dot products";
  Ops& o = *ops();
  std::mt19937 rng(59);
  const std::vector<int32_t> ids{3, 0, 10};
  const uint32_t nt = uint32_t(ids.size()), n_out = 37;
  const float eps = 1e-5f;
  for (Type t : kAllTypes) {
    SCOPED_TRACE(kernels::type_traits(t)->name);
    const int64_t n_in = std::max<int64_t>(row_len(t, 0), 256);
    HostWeight w = random_weight(t, n_in, 11, rng);
    HostWeight wm = random_weight(Type::kQ8_0, n_in, n_out, rng);
    const GpuWeight g = o.upload_weight(w.view, "embd"), gm = o.upload_weight(wm.view, "w");
    if (!o.get_rows_q8_supported(g)) GTEST_SKIP() << "subgroups under 8 invocations";
    Buffer* idb = o.mem().device_buffer(ids.size() * 4, "ids");
    o.mem().upload(*idb, 0, ids.data(), ids.size() * 4);
    const uint32_t ni = uint32_t(n_in);
    Buffer* nb = dev(random_vec(size_t(n_in), rng), "norm");
    Buffer* x = o.mem().device_buffer(size_t(nt) * ni * 4, "x");
    Buffer* x_ref = o.mem().device_buffer(size_t(nt) * ni * 4, "x ref");
    Buffer* y = o.mem().device_buffer(size_t(nt) * n_out * 4, "y");
    Buffer* y_ref = o.mem().device_buffer(size_t(nt) * n_out * 4, "y ref");
    const Q8Act q = o.alloc_q8(nt * ni, "x int8"), q_ref = o.alloc_q8(nt * ni, "x int8 ref");
    o.ctx().run_now([&](VkCommandBuffer cb) {
      o.get_rows_q8(cb, g, *idb, *x, nt, q, *nb);
      o.get_rows(cb, g, *idb, 0, *x_ref, nt);
      o.barrier(cb);
      o.quantize_q8(cb, *x_ref, 0, ni, ni, nt, q_ref, nb, eps);
      o.barrier(cb);
      o.mul_mvq_q8(cb, gm, q, {nullptr, 0, ni, y, 0, n_out}, nt, {true, eps});
      o.mul_mvq_q8(cb, gm, q_ref, {nullptr, 0, ni, y_ref, 0, n_out}, nt);
    });
    EXPECT_EQ(fetch(*x, size_t(nt) * ni), fetch(*x_ref, size_t(nt) * ni));
    EXPECT_LT(nmse(fetch(*y, size_t(nt) * n_out), fetch(*y_ref, size_t(nt) * n_out)), kMvqTol);
  }
}

TEST(VulkanOps, RmsNormSiluMulAddSoftmaxArgmax) {
  REQUIRE_VULKAN();
  std::mt19937 rng(11);
  const uint32_t rows = 3, n = 1000;
  auto x = random_vec(rows * n, rng, 3.f), w = random_vec(n, rng), u = random_vec(rows * n, rng);
  Buffer *xb = dev(x, "x"), *wb = dev(w, "w"), *ub = dev(u, "u");
  Buffer* yb = ops()->mem().device_buffer(rows * n * 4, "y");
  ops()->ctx().run_now([&](VkCommandBuffer cb) { ops()->rms_norm(cb, *xb, 0, *wb, *yb, 0, rows, n, 1e-5f); });
  std::vector<float> want(rows * n);
  for (uint32_t r = 0; r < rows; ++r) {
    double ss = 0;
    for (uint32_t i = 0; i < n; ++i) ss += double(x[r * n + i]) * x[r * n + i];
    double s = 1.0 / std::sqrt(ss / n + 1e-5);
    for (uint32_t i = 0; i < n; ++i) want[r * n + i] = float(x[r * n + i] * s * w[i]);
  }
  EXPECT_LT(nmse(fetch(*yb, want.size()), want), kEltTol) << "rms_norm";

  ops()->ctx().run_now([&](VkCommandBuffer cb) { ops()->silu_mul(cb, *xb, *ub, *yb, rows * n - 5); });
  auto got = fetch(*yb, rows * n - 5);
  want.resize(rows * n - 5);
  for (size_t i = 0; i < want.size(); ++i) want[i] = float(x[i] / (1.0 + std::exp(-double(x[i]))) * u[i]);
  EXPECT_LT(nmse(got, want), kEltTol) << "silu_mul";

  ops()->ctx().run_now([&](VkCommandBuffer cb) { ops()->add(cb, *ub, *xb, rows * n); });
  want.resize(rows * n);
  for (size_t i = 0; i < want.size(); ++i) want[i] = u[i] + x[i];
  EXPECT_EQ(nmse(fetch(*ub, want.size()), want), 0.0) << "add";

  Buffer* idx = ops()->mem().device_buffer(rows * 4, "argmax");
  x[1 * n + 777] = 50.f;  // a clear maximum in row 1; rows 0 and 2 random
  x[2 * n + 5] = x[2 * n + 900] = 60.f;  // a tie: the lower index wins
  ops()->mem().upload(*xb, 0, x.data(), x.size() * 4);
  ops()->ctx().run_now([&](VkCommandBuffer cb) {
    ops()->argmax(cb, *xb, *idx, rows, n);
    ops()->barrier(cb);
    ops()->softmax(cb, *xb, rows, n);
  });
  std::vector<uint32_t> am(rows);
  ops()->mem().download(*idx, 0, am.data(), rows * 4);
  EXPECT_EQ(am[0], uint32_t(std::max_element(x.begin(), x.begin() + n) - x.begin()));
  EXPECT_EQ(am[1], 777u);
  EXPECT_EQ(am[2], 5u);
  for (uint32_t r = 0; r < rows; ++r) {
    double m = *std::max_element(x.begin() + r * n, x.begin() + (r + 1) * n), s = 0;
    for (uint32_t i = 0; i < n; ++i) s += std::exp(double(x[r * n + i]) - m);
    for (uint32_t i = 0; i < n; ++i) want[r * n + i] = float(std::exp(double(x[r * n + i]) - m) / s);
  }
  EXPECT_LT(nmse(fetch(*xb, want.size()), want), kEltTol) << "softmax";
}

TEST(VulkanOps, ArgmaxLowestIndexOnTiesBothPaths) {
  REQUIRE_VULKAN();
  std::mt19937 rng(12);
  // n % 4 == 0 takes 16-byte loads in rounds of four, other n one float at a time
  for (const uint32_t n : {32000u, 12004u, 12003u, 37u}) {
    SCOPED_TRACE("n " + std::to_string(n));
    const uint32_t rows = 3;
    auto x = random_vec(rows * n, rng, 3.f);
    // row 0: equal maxima in different threads and vector lanes; row 1: all equal
    for (uint32_t i : {n - 1, n / 2 + 1, n / 3 + 2, 7u % n}) x[i] = 99.f;
    std::fill(x.begin() + n, x.begin() + 2 * n, 0.f);
    Buffer* xb = dev(x, "x");
    Buffer* idx = ops()->mem().device_buffer(rows * 4, "argmax");
    ops()->ctx().run_now([&](VkCommandBuffer cb) { ops()->argmax(cb, *xb, *idx, rows, n); });
    std::vector<uint32_t> am(rows);
    ops()->mem().download(*idx, 0, am.data(), rows * 4);
    for (uint32_t r = 0; r < rows; ++r)
      EXPECT_EQ(am[r], uint32_t(std::max_element(x.begin() + r * n, x.begin() + (r + 1) * n) -
                                (x.begin() + r * n)))
          << "row " << r;
  }
}

TEST(VulkanOps, TopKChunksHoldTheRowsTopK) {
  REQUIRE_VULKAN();
  std::mt19937 rng(13);
  using Cand = std::pair<float, uint32_t>;
  auto before = [](const Cand& a, const Cand& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  for (const uint32_t n : {32000u, 4097u, 100u, 1u}) {
    for (const uint32_t k : {1u, 40u, 64u, 128u}) {
      SCOPED_TRACE("n " + std::to_string(n) + " k " + std::to_string(k));
      std::vector<float> x(n);
      for (auto& v : x) v = float(int(rng() % 50)) * 0.5f - 10.f;  // many equal values
      if (n > 10) x[n - 1] = x[3] = 1e9f;  // the two largest: the lower index first
      Buffer* xb = dev(x, "x");
      const uint32_t chunks = (n + ops()->top_k_chunk() - 1) / ops()->top_k_chunk();
      // k from a buffer (word 1, as the forward pass's params hold it), below a k_max
      // that sizes the output
      const uint32_t k_max = 128;
      const std::vector<uint32_t> kw{7u, k};
      Buffer* kb = ops()->mem().device_buffer(kw.size() * 4, "k");
      ops()->mem().upload(*kb, 0, kw.data(), kw.size() * 4);
      Buffer* ob = ops()->mem().device_buffer(uint64_t(chunks) * k_max * 8, "top_k");
      ops()->ctx().run_now([&](VkCommandBuffer cb) { ops()->top_k(cb, *xb, n, k_max, *ob, *kb, 1); });
      std::vector<uint32_t> raw(size_t(chunks) * k * 2);
      ops()->mem().download(*ob, 0, raw.data(), raw.size() * 4);
      std::vector<Cand> got;
      for (size_t i = 0; i < raw.size(); i += 2) {
        if (raw[i + 1] == 0xFFFFFFFFu) continue;
        float v;
        std::memcpy(&v, &raw[i], 4);
        got.push_back({v, raw[i + 1]});
      }
      // each chunk's list is ranked, padding last (the backend merges the lists by their
      // heads)
      for (uint32_t ch = 0; ch < chunks; ++ch)
        for (uint32_t r = 1; r < k; ++r) {
          const size_t a = (size_t(ch) * k + r - 1) * 2, b = a + 2;
          if (raw[b + 1] == 0xFFFFFFFFu) continue;
          ASSERT_NE(raw[a + 1], 0xFFFFFFFFu) << "chunk " << ch << " rank " << r;
          float va, vb;
          std::memcpy(&va, &raw[a], 4);
          std::memcpy(&vb, &raw[b], 4);
          EXPECT_TRUE(before({va, raw[a + 1]}, {vb, raw[b + 1]})) << "chunk " << ch << " rank " << r;
        }
      std::sort(got.begin(), got.end(), before);
      std::vector<Cand> want;
      for (uint32_t i = 0; i < n; ++i) want.push_back({x[i], i});
      std::sort(want.begin(), want.end(), before);
      want.resize(std::min<size_t>(k, n));
      got.resize(std::min(got.size(), want.size()));
      EXPECT_EQ(got, want);
    }
  }
}

float f16_round(float f) { return kernels::f16_to_f32(kernels::f32_to_f16(f)); }

// RoPE + cache store + attention for a batch of tokens after `pos0` cached positions,
// against a plain CPU implementation (k and v rounded to f16 like the cache).
// hd: head_dim (multiples of 8 take the uvec4 key path, other even values the generic one);
// n_rot = 3/4 of it, rounded down to even; n_head query heads over n_kv kv heads.
// tiled: attention_tiled instead of attention (n_split unused).
void check_attention(uint32_t mode, uint32_t n_tok, uint32_t pos0, uint32_t n_split,
                     uint32_t hd = 32, uint32_t n_head = 4, uint32_t n_kv = 2, bool tiled = false) {
  SCOPED_TRACE(std::string(tiled ? "tiled " : "") + "head_dim " + std::to_string(hd) + " mode " + std::to_string(mode) + " tokens " +
               std::to_string(n_tok) + " pos0 " + std::to_string(pos0) + " splits " +
               std::to_string(n_split) + " heads " + std::to_string(n_head) + "/" +
               std::to_string(n_kv));
  std::mt19937 rng(42 + mode + n_tok + n_split + hd);
  const uint32_t n_rot = hd * 3 / 4 / 2 * 2, n_ctx = 160;
  const uint32_t q_dim = n_head * hd, kv_dim = n_kv * hd;
  auto q = random_vec(n_tok * q_dim, rng), k = random_vec(n_tok * kv_dim, rng),
       v = random_vec(n_tok * kv_dim, rng);
  // earlier cache rows 0..pos0-1: random f16 values
  std::vector<uint16_t> kc(n_ctx * kv_dim, 0), vc(n_ctx * kv_dim, 0);
  std::vector<float> kf(n_ctx * kv_dim, 0.f), vf(n_ctx * kv_dim, 0.f);
  auto pk = random_vec(pos0 * kv_dim, rng), pv = random_vec(pos0 * kv_dim, rng);
  for (size_t i = 0; i < pk.size(); ++i) {
    kc[i] = kernels::f32_to_f16(pk[i]);
    vc[i] = kernels::f32_to_f16(pv[i]);
    kf[i] = kernels::f16_to_f32(kc[i]);
    vf[i] = kernels::f16_to_f32(vc[i]);
  }
  std::vector<float> inv(n_rot / 2);
  for (uint32_t i = 0; i < n_rot / 2; ++i) inv[i] = std::pow(10000.f, -2.f * i / n_rot) / (1.f + 0.1f * i);

  Memory& m = ops()->mem();
  Buffer *qb = dev(q, "q"), *kb = dev(k, "k"), *vb = dev(v, "v"), *ib = dev(inv, "inv_freq");
  Buffer *kcb = m.device_buffer(kc.size() * 2, "kc"), *vcb = m.device_buffer(vc.size() * 2, "vc");
  m.upload(*kcb, 0, kc.data(), kc.size() * 2);
  m.upload(*vcb, 0, vc.data(), vc.size() * 2);
  Buffer* params = m.host_buffer(16, false, "params");
  static_cast<uint32_t*>(params->mapped)[0] = pos0;
  Buffer* out = m.device_buffer(n_tok * q_dim * 4, "out");
  Buffer* part = m.device_buffer(n_tok * n_head * n_split * (hd + 2) * 4, "part");
  ops()->ctx().run_now([&](VkCommandBuffer cb) {
    ops()->rope_store(cb, *qb, *kb, *vb, *kcb, *vcb, *params, *ib,
                      {n_head, n_kv, hd, n_rot, mode, q_dim, kv_dim}, n_tok);
    ops()->barrier(cb);
    if (tiled)
      ops()->attention_tiled(cb, *qb, *kcb, *vcb, *out, *params,
                             {n_head, n_kv, hd, n_tok, 1.f / std::sqrt(float(hd))});
    else
      ops()->attention(cb, *qb, *kcb, *vcb, *out, *part, *params,
                       {n_head, n_kv, hd, n_split, 1.f / std::sqrt(float(hd))}, n_tok);
  });

  auto rope = [&](float* h, uint32_t p) {
    for (uint32_t i = 0; i < n_rot / 2; ++i) {
      double th = double(p) * inv[i], c = std::cos(th), s = std::sin(th);
      uint32_t a = mode == 0 ? 2 * i : i, b = mode == 0 ? 2 * i + 1 : i + n_rot / 2;
      double x0 = h[a], x1 = h[b];
      h[a] = float(x0 * c - x1 * s);
      h[b] = float(x0 * s + x1 * c);
    }
  };
  for (uint32_t t = 0; t < n_tok; ++t) {
    for (uint32_t h = 0; h < n_head; ++h) rope(&q[t * q_dim + h * hd], pos0 + t);
    for (uint32_t h = 0; h < n_kv; ++h) rope(&k[t * kv_dim + h * hd], pos0 + t);
    for (uint32_t i = 0; i < kv_dim; ++i) {
      kf[(pos0 + t) * kv_dim + i] = f16_round(k[t * kv_dim + i]);
      vf[(pos0 + t) * kv_dim + i] = f16_round(v[t * kv_dim + i]);
    }
  }
  EXPECT_LT(nmse(fetch(*qb, q.size()), q), kAttnTol) << "rope q";
  std::vector<uint16_t> kc_got(kc.size());
  m.download(*kcb, 0, kc_got.data(), kc_got.size() * 2);
  std::vector<float> kc_f(kc.size());
  for (size_t i = 0; i < kc.size(); ++i) kc_f[i] = kernels::f16_to_f32(kc_got[i]);
  EXPECT_LT(nmse(kc_f, kf), kAttnTol) << "k cache";

  std::vector<float> want(n_tok * q_dim);
  for (uint32_t t = 0; t < n_tok; ++t)
    for (uint32_t h = 0; h < n_head; ++h) {
      const uint32_t hk = h / (n_head / n_kv), n_keys = pos0 + t + 1;
      std::vector<double> sc(n_keys);
      double mx = -1e300;
      for (uint32_t j = 0; j < n_keys; ++j) {
        double s = 0;
        for (uint32_t d = 0; d < hd; ++d) s += double(q[t * q_dim + h * hd + d]) * kf[j * kv_dim + hk * hd + d];
        sc[j] = s / std::sqrt(double(hd));
        mx = std::max(mx, sc[j]);
      }
      double sum = 0;
      for (auto& s : sc) sum += (s = std::exp(s - mx));
      for (uint32_t d = 0; d < hd; ++d) {
        double o = 0;
        for (uint32_t j = 0; j < n_keys; ++j) o += sc[j] * vf[j * kv_dim + hk * hd + d];
        want[t * q_dim + h * hd + d] = float(o / sum);
      }
    }
  EXPECT_LT(nmse(fetch(*out, want.size()), want), kAttnTol) << "attention";
}

TEST(VulkanOps, RopeStoreAttentionDecode) {
  REQUIRE_VULKAN();
  check_attention(0, 1, 0, 1);     // first token, adjacent pairs
  check_attention(2, 1, 100, 1);   // NeoX pairs, 100 cached rows (two key tiles)
  check_attention(0, 1, 130, 3);   // split-K over 131 keys
  check_attention(2, 1, 2, 4);     // more splits than needed: empty splits
}

TEST(VulkanOps, RopeStoreAttentionPrompt) {
  REQUIRE_VULKAN();
  check_attention(2, 9, 0, 1);     // causal mask inside the batch
  check_attention(0, 5, 70, 1);    // batch after cached rows
}

TEST(VulkanOps, RopeStoreAttentionGroupSizes) {
  REQUIRE_VULKAN();
  // query heads per kv head 1, 3, 8 and 12; decode with splits and prompts
  for (auto [n_head, n_kv] : {std::pair<uint32_t, uint32_t>{2, 2}, {6, 2}, {8, 1}, {12, 1}}) {
    check_attention(0, 1, 130, 3, 64, n_head, n_kv);
    check_attention(2, 9, 20, 1, 64, n_head, n_kv);
    check_attention(2, 5, 70, 1, 40, n_head, n_kv);  // head_dim % 8 != 0: pair path
  }
}

// attn_tiled (prompt batches): head sizes 8..128, query heads per kv head 1, 2, 3, 4 and
// 7 (workgroups of 32 rows cut through tokens), batches that leave a workgroup partly
// empty and span several key tiles, after cached rows or not.
TEST(VulkanOps, RopeStoreAttentionTiled) {
  REQUIRE_VULKAN();
  struct Case { uint32_t hd, n_head, n_kv, n_tok, pos0; };
  for (Case c : {Case{32, 4, 2, 9, 0}, Case{64, 4, 1, 40, 0}, Case{128, 8, 2, 37, 70},
                 Case{8, 6, 2, 33, 3}, Case{128, 7, 1, 20, 100}, Case{96, 2, 2, 100, 31},
                 Case{64, 16, 4, 64, 0}}) {
    check_attention(c.n_tok % 2 == 0 ? 0 : 2, c.n_tok, c.pos0, 1, c.hd, c.n_head, c.n_kv, true);
  }
  // head sizes it does not take (not a multiple of 8, above 128) are refused with the reason
  Buffer* b = ops()->mem().device_buffer(256, "b");
  for (uint32_t hd : {44u, 136u})
    EXPECT_THROW(ops()->ctx().run_now([&](VkCommandBuffer cb) {
      ops()->attention_tiled(cb, *b, *b, *b, *b, *b, {4, 2, hd, 8, 1.f});
    }), Error);
}

TEST(VulkanOps, RopeStoreAttentionAnyEvenHeadDim) {
  REQUIRE_VULKAN();
  for (uint32_t hd : {4u, 12u, 6u, 40u, 256u, 250u}) {
    check_attention(0, 1, 0, 1, hd);    // decode, first token
    check_attention(2, 1, 100, 1, hd);  // decode over two key tiles
    check_attention(0, 1, 130, 3, hd);  // split-K
    check_attention(2, 9, 0, 1, hd);    // prompt: causal mask inside the batch
    check_attention(0, 5, 70, 1, hd);   // prompt after cached rows
  }
  // odd head_dim is refused with the reason
  Buffer* b = ops()->mem().device_buffer(256, "b");
  ops()->ctx().run_now([&](VkCommandBuffer cb) {
    try {
      ops()->attention(cb, *b, *b, *b, *b, *b, *b, {2, 2, 5, 1, 1.f}, 1);
      ADD_FAILURE() << "expected an error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("head_dim 5"), std::string::npos) << e.what();
    }
  });
}

TEST(VulkanOps, ErrorsNameTheProblem) {
  REQUIRE_VULKAN();
  std::vector<uint8_t> bytes(144 * 2);
  kernels::WeightView w{Type::kQ4_K, 300, 1, bytes.data(), 144};
  try {
    ops()->upload_weight(w, "blk.0.attn_q.weight");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("blk.0.attn_q.weight"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("256"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ops()->pipes().get("no_such_shader"), Error);
}

// grid_sync (bench only): each phase folds its region of src into the thread's word and,
// with sync, every workgroup counts itself at that phase's counter (one workgroup here, so
// the grid barrier never waits); no poll gives up.
TEST(VulkanOps, GridSyncStreamFoldsAndCounts) {
  REQUIRE_VULKAN();
  const uint32_t n4 = 64, phases = 3, phase0 = 5, threads = Ops::kGridSyncThreads;
  std::mt19937 rng(5);
  std::vector<uint32_t> src(size_t(n4) * 4 * 8);
  for (auto& v : src) v = uint32_t(rng());
  Memory& m = ops()->mem();
  Buffer* sb = m.device_buffer(src.size() * 4, "src");
  m.upload(*sb, 0, src.data(), src.size() * 4);
  Buffer* cb = m.device_buffer((phases + 1) * 4, "counters");
  Buffer* db = m.device_buffer(threads * 4, "dst");
  std::vector<uint32_t> want(threads, 0u);
  for (uint32_t k = 0; k < phases; ++k)
    for (uint32_t t = 0; t < n4; ++t) {
      const uint32_t* w = &src[(size_t((phase0 + k) % 8) * n4 + t) * 4];
      want[t] ^= w[0] ^ w[1] ^ w[2] ^ w[3];
    }
  for (uint32_t sync : {0u, 1u}) {
    ops()->ctx().run_now([&](VkCommandBuffer c) {
      ops()->ctx().fn.vkCmdFillBuffer(c, cb->handle, 0, VK_WHOLE_SIZE, 0);
      ops()->ctx().fn.vkCmdFillBuffer(c, db->handle, 0, VK_WHOLE_SIZE, 0xFFFFFFFFu);
      ops()->transfer_barrier(c);
      ops()->grid_sync_stream(c, *sb, *cb, *db, {n4, phases, sync, phase0}, 1);
    });
    std::vector<uint32_t> got(threads), cnt(phases + 1);
    m.download(*db, 0, got.data(), threads * 4);
    m.download(*cb, 0, cnt.data(), (phases + 1) * 4);
    EXPECT_EQ(got, want) << "sync " << sync;
    const std::vector<uint32_t> counts = sync ? std::vector<uint32_t>{1, 1, 1, 0}
                                              : std::vector<uint32_t>{0, 0, 0, 0};
    EXPECT_EQ(cnt, counts) << "sync " << sync;
  }
}

// Tuning::spin_wait (the host polls the fence) returns only once the pass is done, and the
// pass clock (Tuning::time_passes) reads a start no later than the end.
TEST(VulkanOps, SpinWaitAndPassClock) {
  REQUIRE_VULKAN();
  Tuning tu = Ops::default_tuning(ops()->ctx().caps);
  tu.spin_wait = true;
  Ops o(0, &tu);
  EXPECT_TRUE(o.ctx().spin_wait);
  const uint32_t n = 1u << 20;
  std::mt19937 rng(3);
  const auto x = random_vec(n, rng), u = random_vec(n, rng);
  Buffer *xb = o.upload_f32(x.data(), n, "x"), *ub = o.upload_f32(u.data(), n, "u");
  Buffer* yb = o.mem().device_buffer(size_t(n) * 4, "y");
  const bool clock = o.ctx().caps.timestamp_bits > 0;
  for (int rep = 0; rep < 3; ++rep) {
    o.ctx().run_now([&](VkCommandBuffer cb) {
      if (clock) o.pass_clock(cb, false);
      o.silu_mul(cb, *xb, *ub, *yb, n);
      o.host_barrier(cb);
      if (clock) o.pass_clock(cb, true);
    });
    std::vector<float> got(n);
    o.mem().download(*yb, 0, got.data(), size_t(n) * 4);
    std::vector<float> want(n);
    for (size_t i = 0; i < n; ++i) want[i] = float(x[i] / (1.0 + std::exp(-double(x[i]))) * u[i]);
    EXPECT_LT(nmse(got, want), kEltTol) << "rep " << rep;
    if (clock) {
      const auto [start, end] = o.pass_clock_read();
      EXPECT_LE(start, end) << "rep " << rep;
    }
  }
}

// A gated submission (Context::submit_gated, Tuning::presubmit) runs only once released,
// sees the host's writes made between its submission and its release, and can be held
// while the one before it runs; settle releases and waits.
TEST(VulkanOps, GatedSubmissionSeesHostWritesBeforeItsRelease) {
  REQUIRE_VULKAN();
  Context& c = ops()->ctx();
  if (!c.caps.timeline_semaphore) GTEST_SKIP() << "the device has no timeline semaphores";
  Memory& m = ops()->mem();
  Buffer* src = m.host_buffer(64, false, "gate source");
  Buffer* dst = m.host_buffer(64, true, "gate destination");
  VkCommandBuffer cb = c.alloc_command_buffer();
  VkCommandBufferBeginInfo bi{};
  bi.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
  bi.flags = VK_COMMAND_BUFFER_USAGE_SIMULTANEOUS_USE_BIT;
  ASSERT_EQ(c.fn.vkBeginCommandBuffer(cb, &bi), VK_SUCCESS);
  const VkBufferCopy cp{0, 0, 64};
  ops()->transfer_barrier(cb);
  c.fn.vkCmdCopyBuffer(cb, src->handle, dst->handle, 1, &cp);
  ops()->host_barrier(cb);
  ASSERT_EQ(c.fn.vkEndCommandBuffer(cb), VK_SUCCESS);
  auto word = [](Buffer* b) { return static_cast<uint32_t*>(b->mapped)[5]; };
  static_cast<uint32_t*>(dst->mapped)[5] = 0;
  static_cast<uint32_t*>(src->mapped)[5] = 1;
  c.submit_gated(cb);
  EXPECT_TRUE(c.holding());
  EXPECT_THROW(c.submit_gated(cb), Error);  // one held at a time
  static_cast<uint32_t*>(src->mapped)[5] = 2;  // after the submission, before the release
  c.open_gate();
  EXPECT_FALSE(c.holding());
  c.submit_gated(cb);  // held while the first may still run
  c.wait_gated();
  m.invalidate(*dst);
  EXPECT_EQ(word(dst), 2u);
  static_cast<uint32_t*>(src->mapped)[5] = 3;
  c.open_gate();
  c.wait_gated();
  m.invalidate(*dst);
  EXPECT_EQ(word(dst), 3u);
  c.submit_gated(cb);
  static_cast<uint32_t*>(src->mapped)[5] = 4;
  c.run_now([](VkCommandBuffer) {});  // releases the held one first
  EXPECT_FALSE(c.holding());
  m.invalidate(*dst);
  EXPECT_EQ(word(dst), 4u);
  c.settle();  // nothing held: a no-op
  c.free_command_buffer(cb);
}

// The rule that keeps gate/up's quantized output to one wave of workgroups (H100: 4 per
// SM, 132 SMs: 16896 rows fit, 17408 do not); no limit where the limit or the SM count is
// unknown.
TEST(VulkanOps, MvqoGluOneWaveRule) {
  EXPECT_TRUE(Ops::mvqo_fits_one_wave(16896, 132, 4));
  EXPECT_FALSE(Ops::mvqo_fits_one_wave(17408, 132, 4));
  EXPECT_FALSE(Ops::mvqo_fits_one_wave(18944, 132, 4));
  EXPECT_FALSE(Ops::mvqo_fits_one_wave(16897, 132, 4));  // a 529th block of (part of) 32 rows
  EXPECT_TRUE(Ops::mvqo_fits_one_wave(18944, 0, 4));
  EXPECT_TRUE(Ops::mvqo_fits_one_wave(18944, 132, 0));
}

}  // namespace
}  // namespace petrel::vk
