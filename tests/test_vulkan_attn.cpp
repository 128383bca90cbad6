// attn_fused (RoPE + KV-cache store + split-K attention merged in place, f32 or int8
// output) against the unfused ops it replaces in decode: rope_store, attention (+
// attn_combine), quantize_q8. Same device, same data: the caches must match bit for bit
// and the outputs up to summation order. Skips when no Vulkan device is available.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/vulkan/vk_ops.h"
#include "kernels/types.h"
#include "tests/support/vulkan_test.h"

namespace petrel::vk {
namespace {

// Both sides round k and v to f16 and use f32 elsewhere; only the order of the softmax
// sums (split boundaries, merge order) differs: relative error ~1e-6, nMSE < 1e-10. A
// wrong key, position or rotation gives ~1e-2..1.
constexpr double kTol = 1e-9;
// int8 outputs, dequantized: a one-step flip of q at a rounding tie costs d^2 / 32 per
// block, nMSE ~1e-6 at worst; an indexing bug gives ~1.
constexpr double kQ8Tol = 1e-5;

using test::nmse;
using test::ops;

struct Shape {
  uint32_t n_head, n_head_kv, hd, n_rot, mode;
};

// Dequantized rows of a Q8 activation buffer holding n_rows rows of n.
std::vector<float> download_q8(Ops& o, const Q8Act& a, uint32_t n_rows, uint32_t n) {
  std::vector<int8_t> q(size_t(n_rows) * n);
  std::vector<float> ds(size_t(n_rows) * n / 32 * 2);
  o.mem().download(*a.buf, 0, q.data(), q.size());
  o.mem().download(*a.buf, uint64_t(a.ds_off()) * 8, ds.data(), ds.size() * 4);
  std::vector<float> out(q.size());
  for (size_t i = 0; i < q.size(); ++i) out[i] = ds[(i / 32) * 2] * float(q[i]);
  return out;
}

// One case: n_tok tokens at positions pos0.., n_split key ranges; `q8`: int8 output.
void check(Ops& o, const Shape& s, uint32_t pos0, uint32_t n_tok, uint32_t n_split, bool q8) {
  SCOPED_TRACE("wg " + std::to_string(o.pipes().tuning().attn_wg) + " hd " + std::to_string(s.hd) + " heads " + std::to_string(s.n_head) + "/" +
               std::to_string(s.n_head_kv) + " n_rot " + std::to_string(s.n_rot) + " mode " +
               std::to_string(s.mode) + " pos0 " + std::to_string(pos0) + " tokens " +
               std::to_string(n_tok) + " splits " + std::to_string(n_split) +
               (q8 ? " int8" : " f32"));
  std::mt19937 rng(pos0 * 131 + n_tok * 7 + n_split);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  const uint32_t q_dim = s.n_head * s.hd, kv_dim = s.n_head_kv * s.hd;
  const uint32_t n_ctx = pos0 + n_tok;
  auto rnd = [&](size_t n) {
    std::vector<float> v(n);
    for (float& x : v) x = u(rng);
    return v;
  };
  const auto q = rnd(size_t(n_tok) * q_dim), k = rnd(size_t(n_tok) * kv_dim),
             v = rnd(size_t(n_tok) * kv_dim);
  std::vector<uint16_t> cache(size_t(n_ctx) * kv_dim);
  for (auto& h : cache) h = kernels::f32_to_f16(u(rng));
  std::vector<float> inv(s.n_rot / 2);
  for (uint32_t i = 0; i < s.n_rot / 2; ++i) inv[i] = std::pow(10000.f, -2.f * float(i) / float(s.n_rot));

  Memory& m = o.mem();
  auto up = [&](const std::vector<float>& x, const char* what) { return o.upload_f32(x.data(), x.size(), what); };
  auto cache_buf = [&](const char* what) {
    Buffer* b = m.device_buffer(cache.size() * 2, what);
    m.upload(*b, 0, cache.data(), cache.size() * 2);
    return b;
  };
  Buffer *qa = up(q, "q a"), *ka = up(k, "k a"), *va = up(v, "v a");
  Buffer *qb = up(q, "q b"), *kb = up(k, "k b"), *vb = up(v, "v b");
  Buffer *kca = cache_buf("kc a"), *vca = cache_buf("vc a"), *kcb = cache_buf("kc b"),
         *vcb = cache_buf("vc b");
  Buffer* inv_b = up(inv, "inv_freq");
  Buffer* params = m.host_buffer(16, false, "params");
  static_cast<uint32_t*>(params->mapped)[0] = pos0;
  const size_t part_n = size_t(n_tok) * s.n_head * n_split * (s.hd + 2);
  Buffer* part_a = m.device_buffer(part_n * 4, "part a");
  Buffer* part_b = m.device_buffer(part_n * 4, "part b");
  Buffer* counters = m.device_buffer(size_t(n_tok) * s.n_head * 4, "counters");
  Buffer* out_a = m.device_buffer(size_t(n_tok) * q_dim * 4, "out a");
  Buffer* out_b = m.device_buffer(size_t(n_tok) * q_dim * 4, "out b");
  const uint32_t q8_cap = (n_tok * q_dim + 31) / 32 * 32;
  const Q8Act qa8 = o.alloc_q8(q8_cap, "out a int8"), qb8 = o.alloc_q8(q8_cap, "out b int8");
  const float scale = 1.f / std::sqrt(float(s.hd));

  o.ctx().run_now([&](VkCommandBuffer cb) {
    o.ctx().fn.vkCmdFillBuffer(cb, counters->handle, 0, VK_WHOLE_SIZE, 0);
    o.transfer_barrier(cb);
    o.rope_store(cb, *qa, *ka, *va, *kca, *vca, *params, *inv_b,
                 {s.n_head, s.n_head_kv, s.hd, s.n_rot, s.mode, q_dim, kv_dim}, n_tok);
    o.barrier(cb);
    o.attention(cb, *qa, *kca, *vca, *out_a, *part_a, *params,
                {s.n_head, s.n_head_kv, s.hd, n_split, scale}, n_tok);
    o.barrier(cb);
    if (q8) o.quantize_q8(cb, *out_a, 0, q_dim, q_dim, n_tok, qa8, nullptr, 0.f);
    // twice: the second run sees the counters the first left behind (must be zero)
    for (int rep = 0; rep < 2; ++rep) {
      o.attention_fused(cb, {qb, kb, vb, kcb, vcb, q8 ? qb8.buf : out_b, part_b, counters, params, inv_b},
                        {s.n_head, s.n_head_kv, s.hd, s.n_rot, s.mode, n_split, q8 ? 1u : 0u,
                         q8 ? qb8.ds_off() : 0u, scale},
                        n_tok);
      o.barrier(cb);
    }
  });
  std::vector<uint16_t> ca(cache.size()), cb_(cache.size());
  for (auto [x, y] : {std::pair<Buffer*, Buffer*>{kca, kcb}, {vca, vcb}}) {
    m.download(*x, 0, ca.data(), ca.size() * 2);
    m.download(*y, 0, cb_.data(), cb_.size() * 2);
    EXPECT_EQ(0, std::memcmp(ca.data(), cb_.data(), ca.size() * 2)) << "KV cache rows differ";
  }
  std::vector<float> a(size_t(n_tok) * q_dim), b(a.size());
  if (q8) {
    a = download_q8(o, qa8, n_tok, q_dim);
    b = download_q8(o, qb8, n_tok, q_dim);
    EXPECT_LT(nmse(b, a), kQ8Tol);
  } else {
    m.download(*out_a, 0, a.data(), a.size() * 4);
    m.download(*out_b, 0, b.data(), b.size() * 4);
    EXPECT_LT(nmse(b, a), kTol);
  }
  std::vector<uint32_t> cnt(size_t(n_tok) * s.n_head);
  m.download(*counters, 0, cnt.data(), cnt.size() * 4);
  for (uint32_t c : cnt) EXPECT_EQ(c, 0u) << "split counters not reset";
}

TEST(VulkanAttnFused, MatchesUnfusedOps) {
  REQUIRE_VULKAN();
  // adjacent pairs with GQA; NeoX with partial rotation and one kv head; head_dim % 8 != 0
  // (whole heads rotated and one token, the first and the last shape at wg >= head_dim:
  // the decode path that loads q, k and v at once)
  const Shape shapes[] = {{4, 2, 64, 64, 0}, {4, 1, 128, 64, 2}, {2, 2, 10, 10, 2}};
  for (const Shape& s : shapes)
    for (uint32_t pos0 : {0u, 5u, 150u})
      for (uint32_t n_tok : {1u, 3u})
        for (uint32_t n_split : {1u, 2u, 16u})
          for (bool q8 : {false, true}) {
            if (q8 && s.hd % 32 != 0) continue;
            check(*ops(), s, pos0, n_tok, n_split, q8);
          }
  // the smallest and the largest workgroup (tiles of 32 and 256 keys)
  for (uint32_t wg : {32u, 256u}) {
    Tuning t = Ops::default_tuning(ops()->ctx().caps);
    t.attn_wg = wg;
    Ops o(0, &t);
    for (const Shape& s : shapes)
      for (uint32_t pos0 : {5u, 300u})
        check(o, s, pos0, 3, 4, s.hd % 32 == 0);
  }
}

// One-token passes without splits, where attention_fused takes attn_decode: both pairings,
// GQA, positions that end a round of keys, start one, or take several (a round: 8 keys per
// key group of head_dim / 8 lanes, per workgroup of attn_wg threads).
TEST(VulkanAttnFused, DecodeKernelMatchesUnfusedOps) {
  REQUIRE_VULKAN();
  const Shape shapes[] = {{4, 2, 64, 64, 0}, {4, 1, 64, 64, 2}, {8, 2, 32, 32, 0},
                          {4, 4, 16, 16, 2}, {2, 1, 128, 128, 2}};
  int taken = 0;
  for (uint32_t wg : {64u, 256u}) {
    Tuning t = Ops::default_tuning(ops()->ctx().caps);
    t.attn_wg = wg;
    Ops o(0, &t);
    for (const Shape& s : shapes) {
      const AttnFusedPush probe{s.n_head, s.n_head_kv, s.hd, s.n_rot, s.mode, 1, 0, 0, 1.f};
      if (!o.uses_attn_decode(probe, 1)) continue;  // head_dim / 8 past the subgroup size
      ++taken;
      for (uint32_t pos0 : {0u, 1u, 63u, 64u, 65u, 200u, 255u})
        for (bool q8 : {false, true}) {
          if (q8 && s.hd % 32 != 0) continue;
          check(o, s, pos0, 1, 1, q8);
        }
    }
  }
  EXPECT_GE(taken, 3) << "attn_decode was not taken for the shapes that fit every subgroup size";
  Tuning t = Ops::default_tuning(ops()->ctx().caps);
  t.attn_decode = false;
  EXPECT_FALSE(Ops(0, &t).uses_attn_decode({4, 2, 64, 64, 0, 1, 0, 0, 1.f}, 1));
  EXPECT_FALSE(ops()->uses_attn_decode({4, 2, 64, 64, 0, 2, 0, 0, 1.f}, 1));   // splits
  EXPECT_FALSE(ops()->uses_attn_decode({4, 2, 64, 32, 0, 1, 0, 0, 1.f}, 1));   // partial rotation
  EXPECT_FALSE(ops()->uses_attn_decode({4, 2, 64, 64, 0, 1, 0, 0, 1.f}, 2));   // two tokens
  EXPECT_FALSE(ops()->uses_attn_decode({4, 2, 48, 48, 0, 1, 0, 0, 1.f}, 1));   // 6 lanes a key
}

TEST(VulkanAttnFused, RefusesBadShapes) {
  REQUIRE_VULKAN();
  Buffer* b = ops()->mem().device_buffer(1024, "x");
  const Ops::AttnFusedBufs bufs{b, b, b, b, b, b, b, b, b, b};
  ops()->ctx().run_now([&](VkCommandBuffer cb) {
    // too many tokens; int8 output with head_dim % 32 != 0; odd head_dim
    EXPECT_THROW(ops()->attention_fused(cb, bufs, {4, 2, 64, 64, 0, 1, 0, 0, 1.f}, 9), Error);
    EXPECT_THROW(ops()->attention_fused(cb, bufs, {4, 2, 48, 48, 0, 1, 1, 0, 1.f}, 1), Error);
    EXPECT_THROW(ops()->attention_fused(cb, bufs, {4, 2, 7, 6, 0, 1, 0, 0, 1.f}, 1), Error);
  });
}

}  // namespace
}  // namespace petrel::vk
