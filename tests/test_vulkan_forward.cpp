// The whole Vulkan forward pass against a plain CPU implementation of the llama/qwen2
// math written here (f32 activations, weights dequantized by the kernels' reference and
// multiplied with kernels::matmul_ref, KV cache rounded to f16 like the GPU's), on tiny
// random models built in memory. Skips when no Vulkan device is available.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <deque>
#include <random>
#include <thread>
#include <vector>

#include "engine/vulkan/vk_backend.h"
#include "engine/vulkan/vk_ops.h"
#include "tests/support/generate_ref.h"
#include "tests/support/vulkan_test.h"
#include "kernels/matmul.h"
#include "kernels/types.h"

namespace petrel::vk {
namespace {

using kernels::Type;
using kernels::WeightView;

// Logits: both sides do the same f32 math in a different order (plus device exp/sin/cos
// and rare 1-ulp f16 rounding flips in the cache); nMSE lands near 1e-10; a wrong
// operation order or index gives >1e-2.
constexpr double kLogitsTol = 1e-6;
// Logits when decode-sized batches take mul_mvq (activations rounded to int8 per block of
// 32 before Q8_0/Q4_K/Q6_K matvecs, which the f32 reference does not do): each matvec
// adds nMSE ~1e-5 (half a step of amax / 127), compounding over the layers to at most
// 5.5e-4 measured on these models (lavapipe); still far below the >1e-2 of a wrong
// operation or index.
constexpr double kLogitsTolQ8 = 2e-3;
// Logits of prompt batches on tensor cores (mul_mm_cm rounds weights and activations to
// f16): each matmul adds nMSE ~1.6e-7 (test_vulkan_ops), compounding over the layers.
constexpr double kLogitsTolF16 = 1e-4;

using petrel::vk::test::nmse;

struct Config {
  const char* arch;
  int n_vocab, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_rot;
  kernels::RopeMode mode;
  bool biases, rope_freqs, tied;
  Type t_embd, t_q, t_k, t_v, t_o, t_gate, t_up, t_down, t_out;
};

// A random model whose weights live in `bytes_`; dequantized F32 copies for the reference.
class TinyModel {
 public:
  TinyModel(const Config& c, uint32_t seed) : rng_(seed) {
    HParams& hp = w.hp;
    hp.arch = c.arch;
    hp.n_vocab = c.n_vocab;
    hp.n_ctx_train = 256;
    hp.n_embd = c.n_embd;
    hp.n_layer = c.n_layer;
    hp.n_head = c.n_head;
    hp.n_head_kv = c.n_head_kv;
    hp.head_dim = c.head_dim;
    hp.n_ff = c.n_ff;
    hp.n_rot = c.n_rot;
    hp.norm_eps = 1e-5f;
    hp.rope_base = 10000.f;
    hp.rope_mode = c.mode;
    const int q_dim = c.n_head * c.head_dim, kv_dim = c.n_head_kv * c.head_dim;
    w.tok_embd = weight(c.t_embd, c.n_embd, c.n_vocab, 1.0f);
    w.output_norm = floats(size_t(c.n_embd), 0.5f, 1.5f);
    w.output = c.tied ? w.tok_embd : weight(c.t_out, c.n_embd, c.n_vocab, 1.0f);
    if (c.rope_freqs) w.rope_freqs = floats(size_t(c.n_rot / 2), 1.0f, 4.0f);
    for (int l = 0; l < c.n_layer; ++l) {
      LayerWeights L;
      L.attn_norm = floats(size_t(c.n_embd), 0.5f, 1.5f);
      L.wq = weight(c.t_q, c.n_embd, q_dim, 1.0f);
      L.wk = weight(c.t_k, c.n_embd, kv_dim, 1.0f);
      L.wv = weight(c.t_v, c.n_embd, kv_dim, 1.0f);
      if (c.biases) {
        L.bq = floats(size_t(q_dim), -0.5f, 0.5f);
        L.bk = floats(size_t(kv_dim), -0.5f, 0.5f);
        L.bv = floats(size_t(kv_dim), -0.5f, 0.5f);
      }
      L.wo = weight(c.t_o, q_dim, c.n_embd, 1.0f);
      L.ffn_norm = floats(size_t(c.n_embd), 0.5f, 1.5f);
      L.w_gate = weight(c.t_gate, c.n_embd, c.n_ff, 1.0f);
      L.w_up = weight(c.t_up, c.n_embd, c.n_ff, 1.0f);
      L.w_down = weight(c.t_down, c.n_ff, c.n_embd, 1.0f);
      w.layers.push_back(L);
    }
  }

  // The F32 view holding the dequantized values of a weight view made by this model.
  const WeightView& f32_of(const WeightView& v) const {
    for (size_t i = 0; i < views_.size(); ++i)
      if (views_[i].data == v.data) return f32_views_[i];
    throw Error("unknown weight view");
  }

  ModelWeights w;

 private:
  WeightView weight(Type t, int n_in, int n_out, float scale) {
    const kernels::TypeTraits* tr = kernels::type_traits(t);
    const size_t rb = kernels::row_bytes(*tr, n_in);
    auto& bytes = bytes_.emplace_back(rb * size_t(n_out));
    auto& deq = f32_.emplace_back(size_t(n_in) * size_t(n_out));
    std::normal_distribution<float> nd(0.f, scale / std::sqrt(float(n_in)));
    std::vector<float> row(static_cast<size_t>(n_in));
    for (int r = 0; r < n_out; ++r) {
      for (auto& f : row) f = nd(rng_);
      tr->quantize_row_ref(row.data(), bytes.data() + rb * size_t(r), n_in);
      tr->dequantize_row_ref(bytes.data() + rb * size_t(r), deq.data() + size_t(r) * size_t(n_in), n_in);
    }
    WeightView v{t, n_in, n_out, bytes.data(), rb};
    views_.push_back(v);
    f32_views_.push_back({Type::kF32, n_in, n_out, deq.data(), size_t(n_in) * 4});
    return v;
  }
  const float* floats(size_t n, float lo, float hi) {
    std::uniform_real_distribution<float> u(lo, hi);
    auto& v = f32_.emplace_back(n);
    for (auto& f : v) f = u(rng_);
    return v.data();
  }

  std::mt19937 rng_;
  std::deque<std::vector<uint8_t>> bytes_;
  std::deque<std::vector<float>> f32_;
  std::vector<WeightView> views_, f32_views_;
};

float f16_round(float f) { return kernels::f16_to_f32(kernels::f32_to_f16(f)); }

// The forward pass of the brief, one token at a time, in plain f32 loops.
class CpuReference {
 public:
  explicit CpuReference(const TinyModel& m) : m_(m), hp_(m.w.hp) {}

  // Logits [n_vocab] of token `tok` at the next position.
  std::vector<float> step(int32_t tok) {
    const int n_embd = hp_.n_embd, hd = hp_.head_dim, q_dim = hp_.n_head * hd;
    const int kv_dim = hp_.n_head_kv * hd, p = pos_++;
    auto vec = [](int n) { return std::vector<float>(static_cast<size_t>(n)); };
    auto x = vec(n_embd), h = vec(n_embd), q = vec(q_dim), k = vec(kv_dim), v = vec(kv_dim),
         att = vec(q_dim), g = vec(hp_.n_ff), u = vec(hp_.n_ff), o = vec(n_embd);
    kernels::dequantize_row(m_.w.tok_embd, tok, x.data());
    if (kc_.empty()) kc_.resize(hp_.n_layer), vc_.resize(hp_.n_layer);
    for (int l = 0; l < hp_.n_layer; ++l) {
      const LayerWeights& L = m_.w.layers[size_t(l)];
      norm(x, L.attn_norm, h);
      mm(L.wq, h, q, L.bq);
      mm(L.wk, h, k, L.bk);
      mm(L.wv, h, v, L.bv);
      for (int hh = 0; hh < hp_.n_head; ++hh) rope(&q[size_t(hh * hd)], p);
      for (int hh = 0; hh < hp_.n_head_kv; ++hh) rope(&k[size_t(hh * hd)], p);
      for (int i = 0; i < kv_dim; ++i) {
        kc_[size_t(l)].push_back(f16_round(k[size_t(i)]));
        vc_[size_t(l)].push_back(f16_round(v[size_t(i)]));
      }
      const int group = hp_.n_head / hp_.n_head_kv;
      for (int hq = 0; hq < hp_.n_head; ++hq) {
        const int hk = hq / group;
        std::vector<float> sc(size_t(p + 1));
        float mx = -INFINITY;
        for (int j = 0; j <= p; ++j) {
          float s = 0;
          for (int d = 0; d < hd; ++d) s += q[size_t(hq * hd + d)] * kc_[size_t(l)][size_t(j * kv_dim + hk * hd + d)];
          sc[size_t(j)] = s / std::sqrt(float(hd));
          mx = std::max(mx, sc[size_t(j)]);
        }
        float sum = 0;
        for (auto& s : sc) sum += (s = std::exp(s - mx));
        for (int d = 0; d < hd; ++d) {
          float a = 0;
          for (int j = 0; j <= p; ++j) a += sc[size_t(j)] * vc_[size_t(l)][size_t(j * kv_dim + hk * hd + d)];
          att[size_t(hq * hd + d)] = a / sum;
        }
      }
      mm(L.wo, att, o, nullptr);
      for (int i = 0; i < n_embd; ++i) x[size_t(i)] += o[size_t(i)];
      norm(x, L.ffn_norm, h);
      mm(L.w_gate, h, g, nullptr);
      mm(L.w_up, h, u, nullptr);
      for (size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1.f + std::exp(-g[i])) * u[i];
      mm(L.w_down, g, o, nullptr);
      for (int i = 0; i < n_embd; ++i) x[size_t(i)] += o[size_t(i)];
    }
    norm(x, m_.w.output_norm, h);
    std::vector<float> logits(size_t(hp_.n_vocab));
    mm(m_.w.output, h, logits, nullptr);
    return logits;
  }

 private:
  void norm(const std::vector<float>& x, const float* w, std::vector<float>& y) const {
    float ss = 0;
    for (float f : x) ss += f * f;
    const float s = 1.f / std::sqrt(ss / float(x.size()) + hp_.norm_eps);
    for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * s * w[i];
  }
  void mm(const WeightView& w, const std::vector<float>& x, std::vector<float>& y, const float* b) const {
    kernels::matmul_ref(m_.f32_of(w), x.data(), 1, y.data());
    if (b)
      for (size_t i = 0; i < y.size(); ++i) y[i] += b[i];
  }
  void rope(float* h, int p) const {
    for (int i = 0; i < hp_.n_rot / 2; ++i) {
      double th = p * std::pow(double(hp_.rope_base), -2.0 * i / hp_.n_rot);
      if (m_.w.rope_freqs) th /= m_.w.rope_freqs[i];
      const bool neox = hp_.rope_mode == kernels::RopeMode::kNeox;
      const int a = neox ? i : 2 * i, b = neox ? i + hp_.n_rot / 2 : 2 * i + 1;
      const double x0 = h[a], x1 = h[b];
      h[a] = float(x0 * std::cos(th) - x1 * std::sin(th));
      h[b] = float(x0 * std::sin(th) + x1 * std::cos(th));
    }
  }

  const TinyModel& m_;
  const HParams& hp_;
  int pos_ = 0;
  std::vector<std::vector<float>> kc_, vc_;
};

// Whether device 0 runs mul_mvq (int8 activations) for decode batches when asked (`mvq`)
// or by default; false without a device.
bool device_uses_mvq(bool mvq) {
  try {
    Ops o(0);
    return o.ctx().caps.integer_dot && (mvq || o.pipes().tuning().use_mvq);
  } catch (const Error&) {
    return false;
  }
}

bool device_uses_coopmat(uint32_t n_tokens) {
  try {
    Ops o(0);
    return o.uses_coopmat(n_tokens);
  } catch (const Error&) {
    return false;
  }
}

// (tuning: the device's default when null)
std::unique_ptr<Backend> make_backend(const ModelWeights& w, int n_ctx, int max_batch,
                                      const Tuning* tuning) {
  try {
    return Backend::create(w, 0, n_ctx, max_batch, tuning);
  } catch (const Error& e) {
    if (std::string(e.what()).find("no loader/driver") != std::string::npos) return nullptr;
    throw;
  }
}

std::unique_ptr<Backend> make_backend(const ModelWeights& w, int n_ctx, int max_batch,
                                      bool mvq) {
  Tuning t;
  t.use_mvq = true;
  return make_backend(w, n_ctx, max_batch, mvq ? &t : nullptr);
}

// Prompt of n_prompt tokens (all logits), then n_decode single tokens; every logits row
// compared with the reference. mvq: let decode-sized batches take mul_mvq (looser
// tolerance where the device runs it), else the device's default path.
void run_and_compare(const Config& c, int n_prompt, int n_decode, int max_batch,
                     bool mvq = false) {
  TinyModel m(c, 77);
  auto be = make_backend(m.w, 64, max_batch, mvq);
  const double tol = device_uses_mvq(mvq) ? kLogitsTolQ8 : kLogitsTol;
  if (!be) GTEST_SKIP() << "no Vulkan device available; skipping";
  CpuReference ref(m);
  std::mt19937 rng(3);
  std::uniform_int_distribution<int32_t> tok(0, c.n_vocab - 1);
  std::vector<int32_t> prompt(static_cast<size_t>(n_prompt));
  for (auto& t : prompt) t = tok(rng);
  const size_t nv = size_t(c.n_vocab);
  std::vector<float> got(size_t(n_prompt) * nv);
  be->forward(prompt.data(), n_prompt, 0, got.data(), true);
  const double tol_prompt =
      device_uses_coopmat(uint32_t(std::min(n_prompt, max_batch))) ? std::max(tol, kLogitsTolF16) : tol;
  for (int i = 0; i < n_prompt; ++i) {
    auto want = ref.step(prompt[size_t(i)]);
    EXPECT_LT(nmse(&got[size_t(i) * nv], want.data(), nv), tol_prompt) << "prompt token " << i;
  }
  for (int i = 0; i < n_decode; ++i) {
    int32_t t = tok(rng);
    std::vector<float> one(nv);
    be->forward(&t, 1, n_prompt + i, one.data(), false);
    auto want = ref.step(t);
    EXPECT_LT(nmse(one.data(), want.data(), nv), tol) << "decode step " << i;
  }
}

TEST(VulkanForward, LlamaF32MatchesCpu) {
  const Config c{"llama", 50, 64, 2, 4, 2, 16, 96, 16, kernels::RopeMode::kAdjacent, false, false,
                 false, Type::kF32, Type::kF32, Type::kF32, Type::kF32, Type::kF32,
                 Type::kF32, Type::kF32, Type::kF32, Type::kF16};
  run_and_compare(c, 9, 3, 16);  // 9 prompt tokens take the tiled matmul path
}

TEST(VulkanForward, Qwen2QuantizedMatchesCpu) {
  // Q4_K_M-like mix plus the 32-blocks; qwen2 biases, NeoX rope, rope_freqs, tied output.
  const Config c{"qwen2", 40, 256, 2, 8, 2, 32, 512, 32, kernels::RopeMode::kNeox, true, true,
                 true, Type::kQ6_K, Type::kQ4_K, Type::kQ4_0, Type::kQ8_0, Type::kQ5_K,
                 Type::kQ4_K, Type::kQ4_K, Type::kQ6_K, Type::kQ6_K};
  run_and_compare(c, 11, 3, 8);  // chunks of 8 (tiled) + 3 (matvec), then decode
  run_and_compare(c, 11, 3, 8, true);  // the same with mul_mvq where types allow
}

TEST(VulkanForward, LongPromptMatchesCpu) {
  // 40 tokens in one batch: attn_tiled and, on devices with tensor cores, x_tiles +
  // mul_mm_cm (down's tiles made from gate and up); fused gate/up Q4_K, down Q6_K
  const Config c{"qwen2", 40, 256, 2, 8, 2, 32, 512, 32, kernels::RopeMode::kNeox, true, true,
                 true, Type::kQ6_K, Type::kQ4_K, Type::kQ4_0, Type::kQ8_0, Type::kQ5_K,
                 Type::kQ4_K, Type::kQ4_K, Type::kQ6_K, Type::kQ6_K};
  run_and_compare(c, 40, 2, 40);
}

TEST(VulkanForward, Int8ActivationMatvecMatchesCpu) {
  // every matrix of a type mul_mvq takes: fused norm for q/k/v, gate/up and output
  const Config c{"qwen2", 40, 256, 2, 8, 2, 32, 512, 32, kernels::RopeMode::kNeox, true, false,
                 false, Type::kQ4_K, Type::kQ4_K, Type::kQ8_0, Type::kQ6_K, Type::kQ4_K,
                 Type::kQ4_K, Type::kQ4_K, Type::kQ6_K, Type::kQ6_K};
  run_and_compare(c, 3, 4, 4, true);
}

TEST(VulkanForward, Int8ActivationsAroundOtherTypes) {
  // int8 matvecs next to steps that cannot take them (wo Q5_K, one layer's down Q5_K via
  // the types here): the quantized activations one matvec leaves for the next must not be
  // taken by a later one that expects another norm
  const Config c{"llama", 40, 256, 3, 8, 2, 32, 512, 32, kernels::RopeMode::kAdjacent, false,
                 false, false, Type::kQ4_K, Type::kQ4_K, Type::kQ8_0, Type::kQ6_K, Type::kQ5_K,
                 Type::kQ4_K, Type::kQ4_K, Type::kQ6_K, Type::kQ8_0};
  run_and_compare(c, 3, 4, 4, true);
  const Config d{"llama", 40, 256, 2, 8, 2, 32, 512, 32, kernels::RopeMode::kAdjacent, false,
                 false, false, Type::kQ4_K, Type::kQ4_K, Type::kQ4_K, Type::kQ4_K, Type::kQ8_0,
                 Type::kQ4_K, Type::kQ4_K, Type::kQ5_K, Type::kQ4_K};
  run_and_compare(d, 3, 4, 4, true);
}

TEST(VulkanForward, OtherBlockTypesMatchCpu) {
  const Config c{"llama", 33, 256, 1, 4, 4, 64, 256, 48, kernels::RopeMode::kAdjacent, false,
                 false, false, Type::kQ5_0, Type::kQ4_1, Type::kQ5_1, Type::kBF16, Type::kF16,
                 Type::kQ5_0, Type::kQ8_0, Type::kQ5_1, Type::kQ4_1};
  run_and_compare(c, 4, 2, 4);  // gate/up of different types: unfused decode path
}

TEST(VulkanForward, TopKOfEveryKFromOneRecordedPass) {
  // a sampler with penalties asks for a different k nearly every token: the k comes to the
  // recorded pass through its params, so every k replays one command buffer
  const Config c{"llama", 9000, 256, 1, 8, 2, 32, 512, 32, kernels::RopeMode::kAdjacent, false,
                 false, false, Type::kQ4_K, Type::kQ4_K, Type::kQ4_K, Type::kQ4_K, Type::kQ4_K,
                 Type::kQ4_K, Type::kQ4_K, Type::kQ6_K, Type::kQ4_K};
  TinyModel m(c, 5);
  auto be = make_backend(m.w, 16, 4, true);
  if (!be) GTEST_SKIP() << "no Vulkan device available; skipping";
  const int32_t prompt[3] = {11, 4000, 8999};
  std::vector<float> logits(size_t(c.n_vocab));
  be->forward(prompt, 3, 0, logits.data(), false);
  const int32_t t = 77;
  be->forward(&t, 1, 3, logits.data(), false);
  const size_t before = be->recorded_passes();
  for (const int k : {1, 2, 40, 41, 87, 64, 128, 3, 127}) {
    const auto top = be->forward_top_k(&t, 1, 3, k);  // the same position again
    EXPECT_EQ(top, petrel::test::ranked_logits(logits.data(), c.n_vocab, size_t(k))) << "k " << k;
  }
  EXPECT_EQ(be->recorded_passes(), before + 1);
}

// How a pass gets its inputs and how the host waits for it change no bits: positions and
// token ids copied from host memory (no Tuning::direct_params) and a polled fence
// (Tuning::spin_wait) against the defaults, over a prompt and decode steps.
// Two layers of the int8-activation types (the pass-transport tests' model)
const Config kTransport{"llama", 40, 256, 2, 8, 2, 32, 512, 32, kernels::RopeMode::kAdjacent,
                        false, false, false, Type::kQ4_K, Type::kQ4_K, Type::kQ8_0, Type::kQ6_K,
                        Type::kQ4_K, Type::kQ4_K, Type::kQ4_K, Type::kQ6_K, Type::kQ8_0};

TEST(VulkanForward, PassTransportGivesTheSameLogits) {
  const Config& c = kTransport;
  TinyModel m(c, 7);
  auto logits_of = [&](const Tuning& t) {
    auto be = make_backend(m.w, 16, 4, &t);
    if (!be) return std::vector<float>{};
    const int32_t toks[6] = {3, 17, 39, 5, 0, 22};
    std::vector<float> all, row(size_t(c.n_vocab));
    be->forward(toks, 3, 0, row.data(), false);
    all = row;
    for (int i = 3; i < 6; ++i) {
      be->forward(&toks[i], 1, i, row.data(), false);
      all.insert(all.end(), row.begin(), row.end());
    }
    return all;
  };
  Tuning base;
  base.use_mvq = true;
  const std::vector<float> want = logits_of(base);
  if (want.empty()) GTEST_SKIP() << "no Vulkan device available; skipping";
  Tuning copied = base, polled = base;
  copied.direct_params = false;
  polled.spin_wait = true;
  EXPECT_EQ(logits_of(copied), want) << "params copied from host memory";
  EXPECT_EQ(logits_of(polled), want) << "fence polled";
}

// Logits left where the pass put them (Backend::forward_logits, what Session::eval uses)
// are the bits forward copies out, written by the output matvec straight into host memory
// (Tuning::direct_logits) or copied there, with passes submitted ahead or not; and they
// stay put until the next call (the pass held for it does not overwrite them).
TEST(VulkanForward, KeptLogitsAreTheCopiedOnes) {
  const Config& c = kTransport;
  TinyModel m(c, 11);
  const size_t nv = size_t(c.n_vocab);
  const int32_t toks[7] = {3, 17, 39, 5, 0, 22, 9};
  auto run = [&](const Tuning& t, bool kept) {
    auto be = make_backend(m.w, 16, 4, &t);
    if (!be) return std::vector<float>{};
    std::vector<float> all, row(nv);
    for (int i : {0, 3, 4, 5, 6}) {
      const int n = i == 0 ? 3 : 1;  // a prompt, then one token at a time
      if (kept) {
        const float* l = be->forward_logits(&toks[i], n, i);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        all.insert(all.end(), l, l + nv);
      } else {
        be->forward(&toks[i], n, i, row.data(), false);
        all.insert(all.end(), row.begin(), row.end());
      }
    }
    return all;
  };
  Tuning base;
  base.use_mvq = true;
  const std::vector<float> want = run(base, false);
  if (want.empty()) GTEST_SKIP() << "no Vulkan device available; skipping";
  for (const bool direct : {false, true})
    for (const bool ahead : {false, true}) {
      Tuning t = base;
      t.direct_logits = direct;
      t.presubmit = ahead;
      const std::vector<float> got = run(t, true);
      ASSERT_EQ(got.size(), want.size());
      EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0)
          << "kept logits, direct " << direct << ", ahead " << ahead;
      if (direct) {
        const std::vector<float> copied = run(t, false);
        EXPECT_EQ(std::memcmp(copied.data(), want.data(), copied.size() * sizeof(float)), 0)
            << "direct logits copied by forward, ahead " << ahead;
      }
    }
}

// g handed from a plain gate/up to a down that quantizes it itself as halves
// (MvqoShape::x_half on every type): the pipelines that take halves run, and the logits
// stay as close to the CPU's as the int8 path's are.
TEST(VulkanForward, DownReadingGAsHalvesMatchesCpu) {
  const Config& c = kTransport;
  TinyModel m(c, 13);
  const size_t nv = size_t(c.n_vocab);
  Tuning t;
  t.use_mvq = true;
  t.profile = true;
  for (auto* s : {&t.mvqo_q4_k, &t.mvqo_q6_k, &t.mvqo_q8_0}) s->glu_rows = 0, s->x_half = true;
  auto be = make_backend(m.w, 16, 4, &t);
  if (!be) GTEST_SKIP() << "no Vulkan device available; skipping";
  if (!test::ops() || !test::ops()->half_supported() || !device_uses_mvq(true))
    GTEST_SKIP() << "device lacks 16-bit storage or int8 matvecs";
  CpuReference ref(m);
  const int32_t toks[5] = {3, 17, 39, 5, 22};
  std::vector<float> row(nv);
  for (int i = 0; i < 5; ++i) {
    be->forward(&toks[i], 1, i, row.data(), false);
    EXPECT_LT(nmse(row.data(), ref.step(toks[i]).data(), nv), kLogitsTolQ8) << "token " << i;
  }
  std::string names;
  for (const auto& [name, s] : be->stage_times()) names += name + " ";
  EXPECT_NE(names.find("mul_mvq_gluh_"), std::string::npos) << names;
  EXPECT_NE(names.find("mul_mvqoxh_"), std::string::npos) << names;
}

// Passes submitted ahead (Tuning::presubmit) give the bits of passes submitted when
// called, whatever the calls do: one-token steps of one kind (the held pass taken), a
// change of kind, a prompt, a step back in position, a change of split count (past 256
// cached positions), Backend::idle (which releases the held pass without waiting: the next
// call, another kind, waits for it), and a pass still held when the backend goes.
TEST(VulkanForward, PassesSubmittedAheadGiveTheSameResults) {
  const Config& c = kTransport;
  TinyModel m(c, 9);
  auto run = [&](const Tuning& t) {
    auto be = make_backend(m.w, 272, 4, &t);
    if (!be) return std::vector<float>{};
    std::vector<float> all, row(size_t(c.n_vocab));
    auto logits = [&](const int32_t* toks, int n, int pos) {
      be->forward(toks, n, pos, row.data(), false);
      all.insert(all.end(), row.begin(), row.end());
    };
    auto argmax = [&](int32_t tok, int pos) { all.push_back(float(be->forward_argmax(&tok, 1, pos))); };
    const int32_t toks[4] = {3, 17, 39, 5};
    logits(toks, 3, 0);
    for (int i = 3; i < 6; ++i) logits(&toks[i % 4], 1, i);  // held passes taken
    argmax(22, 6);  // another kind
    argmax(7, 7);
    logits(&toks[1], 1, 5);  // back two positions, another kind
    logits(&toks[2], 1, 6);
    logits(&toks[2], 1, 4);  // back two, the same kind: the held pass taken at another position
    logits(toks, 4, 5);  // a prompt
    logits(&toks[0], 1, 9);
    EXPECT_EQ(be->holding(), t.presubmit && test::ops()->ctx().caps.timeline_semaphore);
    be->idle();
    EXPECT_FALSE(be->holding());
    argmax(4, 10);  // (another kind)
    logits(&toks[0], 1, 9);  // the same position again
    be->idle();
    logits(&toks[3], 1, 10);
    std::vector<int32_t> fill(255);
    for (size_t i = 0; i < fill.size(); ++i) fill[i] = int32_t(i % 40);
    for (int p = 11; p < 255; p += 4) be->forward(&fill[size_t(p)], 4, p, row.data(), false);
    for (int p = 255; p < 259; ++p) logits(&fill[size_t(p) % 255], 1, p);  // 1, then 2 splits
    logits(&toks[1], 1, 12);  // back to one split
    logits(&toks[2], 1, 13);  // (held at the backend's end)
    if (t.time_passes) {  // the pass clock is read while the next pass is held
      const auto times = be->take_pass_times();
      EXPECT_FALSE(times.empty());
      for (const auto& p : times) EXPECT_LE(p.start, p.end);
    }
    return all;
  };
  Tuning base;
  base.use_mvq = true;
  base.presubmit = false;
  const std::vector<float> want = run(base);
  if (want.empty()) GTEST_SKIP() << "no Vulkan device available; skipping";
  Tuning ahead = base;
  ahead.presubmit = true;
  for (const bool timed : {false, true}) {
    ahead.time_passes = timed && test::ops() &&
                        test::ops()->ctx().caps.timestamp_bits > 0;
    const std::vector<float> got = run(ahead);
    ASSERT_EQ(got.size(), want.size());
    EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0)
        << "passes submitted ahead, timed " << ahead.time_passes;
  }
}

// Attention that waits inside the pass for the q/k/v values it needs (Tuning::attn_wait:
// no barrier between them; they come through a per-head buffer the matvecs write and the
// attention polls) gives the barrier's bits, with q, k and v in one dispatch or v in its
// own, passes submitted ahead or not, attention recorded after q/k/v or before them. The
// per-head buffer ends empty, and a wait that gives up (its word set here by hand; on a
// device that runs dispatches in turn, every wait of attention recorded first) has the call
// redone with barriers, and every later one.
TEST(VulkanForward, AttentionWaitingForItsRowsGivesTheBarriersResults) {
  const Config one{"llama", 40, 256, 2, 8, 2, 32, 512, 32, kernels::RopeMode::kAdjacent, false,
                   false, false, Type::kQ4_K, Type::kQ4_K, Type::kQ4_K, Type::kQ4_K, Type::kQ4_K,
                   Type::kQ4_K, Type::kQ4_K, Type::kQ6_K, Type::kQ8_0};
  const Config two{"qwen2", 40, 256, 2, 8, 2, 32, 512, 32, kernels::RopeMode::kNeox, true, false,
                   false, Type::kQ4_K, Type::kQ4_K, Type::kQ4_K, Type::kQ6_K, Type::kQ4_K,
                   Type::kQ4_K, Type::kQ4_K, Type::kQ6_K, Type::kQ6_K};
  for (const Config* c : {&one, &two}) {
    TinyModel m(*c, 13);
    auto run = [&](const Tuning& t, int give_up_at) {
      auto be = make_backend(m.w, 64, 4, &t);
      if (!be) return std::vector<float>{};
      if (t.attn_wait) EXPECT_FALSE(be->attn_wait_words().empty()) << c->arch;
      std::vector<float> all, row(size_t(c->n_vocab));
      const int32_t toks[9] = {3, 17, 39, 5, 0, 22, 9, 31, 12};
      be->forward(toks, 3, 0, row.data(), false);
      all = row;
      for (int i = 3; i < 9; ++i) {
        if (i == give_up_at) be->set_attn_wait_gave_up(1);
        be->forward(&toks[i], 1, i, row.data(), false);
        all.insert(all.end(), row.begin(), row.end());
      }
      if (t.attn_wait && !t.attn_wait_first) {
        const std::vector<uint32_t> words = be->attn_wait_words();
        EXPECT_EQ(be->attn_wait_redos(), give_up_at < 0 ? 0 : 1) << c->arch;
        EXPECT_EQ(words.empty(), give_up_at >= 0) << c->arch;
        for (size_t i = 0; i < words.size(); ++i)
          EXPECT_EQ(words[i], i == 0 ? 0u : 0xFFFFFFFFu) << c->arch << " word " << i;
      }
      return all;
    };
    Tuning base;
    base.use_mvq = true;
    base.presubmit = false;
    const std::vector<float> want = run(base, -1);
    if (want.empty()) GTEST_SKIP() << "no Vulkan device available; skipping";
    Tuning waits = base;
    waits.attn_wait = true;
    waits.profile = true;  // the wait's pipelines ran
    {
      auto be = make_backend(m.w, 64, 4, &waits);
      std::vector<float> row(size_t(c->n_vocab));
      const int32_t tok = 3;
      be->forward(&tok, 1, 0, row.data(), false);
      std::string labels;
      for (const auto& [label, us] : be->stage_times()) labels += label + " ";
      EXPECT_NE(labels.find("attn_decode_wait"), std::string::npos) << labels;
      EXPECT_NE(labels.find("_heads_"), std::string::npos) << labels;
    }
    waits.profile = false;
    for (const bool first : {false, true})
      for (const bool ahead : {false, true}) {
        waits.attn_wait_first = first;
        waits.presubmit = ahead;
        for (const int give_up_at : {-1, 5}) {
          const std::vector<float> got = run(waits, give_up_at);
          ASSERT_EQ(got.size(), want.size());
          EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0)
              << c->arch << ", first " << first << ", ahead " << ahead << ", gave up at "
              << give_up_at;
        }
      }
  }
}

TEST(VulkanForward, RejectsBadInput) {
  const Config c{"llama", 50, 64, 1, 4, 2, 16, 96, 16, kernels::RopeMode::kAdjacent, false, false,
                 true, Type::kF32, Type::kF32, Type::kF32, Type::kF32, Type::kF32,
                 Type::kF32, Type::kF32, Type::kF32, Type::kF32};
  TinyModel m(c, 1);
  auto be = make_backend(m.w, 8, 4, true);
  if (!be) GTEST_SKIP() << "no Vulkan device available; skipping";
  std::vector<float> logits(50);
  int32_t bad = 50, ok = 1;
  try {
    be->forward(&bad, 1, 0, logits.data(), false);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("token id 50"), std::string::npos) << e.what();
  }
  EXPECT_THROW(be->forward(&ok, 1, 8, logits.data(), false), Error);
  EXPECT_GT(be->device_bytes_used(), 0u);
  EXPECT_FALSE(be->device_name().empty());
}

}  // namespace
}  // namespace petrel::vk
