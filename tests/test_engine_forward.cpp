// The CPU forward pass on a tiny synthetic model (made by the synth tool, no ../shared):
// batched and token-by-token evaluation agree, every ISA agrees with the scalar path,
// and generation is deterministic for a seed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "kernels/isa.h"
#include "petrel/petrel.h"
#include "petrel/tools.h"
#include "tests/support/generate_ref.h"
#include "tests/support/test_env.h"
#include "tests/support/tiny_model.h"

namespace {

// Batched vs sequential evaluation differ only by summation order in the GEMM paths:
// f32 rounding, far below 1e-3 relative on logits of order 1-10.
constexpr float kBatchTol = 2e-3f;
// ISA paths vs each other: same integer dot products, f32 sums in another order.
constexpr float kIsaTol = 2e-3f;
// Scalar vs SIMD on K-quant models: the scalar F16 attention dot sums in double, SIMD in
// float; the last-bit difference flips a few roundings when the next layer requantizes
// its input to Q8_K (one scale per 256 values), and a random model amplifies that step
// per layer (measured: 0.063 on tiny Q4_K_M). Same order as the golden bar for quantized
// models (0.04), with headroom; a wrong kernel is off by O(1).
constexpr float kScalarVsSimdKQuantTol = 0.15f;

std::string tiny_model(const std::string& ftype) { return petrel::test::tiny_model(ftype, 3); }

float max_rel_diff(const float* a, const float* b, int n) {
  float m = 0;
  for (int i = 0; i < n; ++i) m = std::max(m, std::fabs(a[i] - b[i]) / (1 + std::fabs(b[i])));
  return m;
}

class ForwardTest : public testing::TestWithParam<std::string> {};

TEST_P(ForwardTest, BatchedEqualsSequential) {
  auto model = petrel::Model::load(tiny_model(GetParam()));
  const int nv = model->n_vocab();
  std::vector<int> toks = {1, 17, 42, 99, 7, 250, 3, 64, 128, 5};
  for (auto& t : toks) t %= nv;
  petrel::SessionOptions so;
  so.n_ctx = 64;
  so.n_threads = 2;
  auto a = petrel::Session::create(*model, so);
  a->eval(toks, true);
  auto b = petrel::Session::create(*model, so);
  for (size_t i = 0; i < toks.size(); ++i) {
    b->eval({toks[i]});
    EXPECT_LT(max_rel_diff(b->logits(), a->logits(int(i)), nv), kBatchTol) << "position " << i;
  }
  for (int i = 0; i < nv; ++i) ASSERT_TRUE(std::isfinite(a->logits()[i]));
}

TEST_P(ForwardTest, EveryIsaMatchesScalar) {
  auto model = petrel::Model::load(tiny_model(GetParam()));
  const int nv = model->n_vocab();
  std::vector<int> toks = {2, 30, 77, 11, 90};
  std::vector<std::vector<float>> per_isa;
  for (int isa = 0; isa <= int(petrel::kernels::detect_isa()); ++isa) {
    ASSERT_TRUE(petrel::kernels::set_active_isa(petrel::kernels::Isa(isa)));
    auto s = petrel::Session::create(*model, {64, 2, 512});
    s->eval(toks);
    per_isa.emplace_back(s->logits(), s->logits() + nv);
  }
  petrel::kernels::set_active_isa(petrel::kernels::detect_isa());
  const bool k_quant = GetParam().find("_K") != std::string::npos;
  for (size_t i = 1; i < per_isa.size(); ++i)
    EXPECT_LT(max_rel_diff(per_isa[i].data(), per_isa[0].data(), nv),
              k_quant ? kScalarVsSimdKQuantTol : kIsaTol) << "isa " << i << " vs scalar";
  for (size_t i = 2; i < per_isa.size(); ++i)
    EXPECT_LT(max_rel_diff(per_isa[i].data(), per_isa[1].data(), nv), kIsaTol) << "isa " << i << " vs avx2";
}

TEST_P(ForwardTest, GenerationIsDeterministicForASeed) {
  auto model = petrel::Model::load(tiny_model(GetParam()));
  auto run = [&](uint64_t seed) {
    auto s = petrel::Session::create(*model, {64, 2, 512});
    petrel::GenerateOptions go;
    go.n_predict = 16;
    go.sampling.temperature = 1.0f;
    go.sampling.seed = seed;
    return petrel::generate(*model, *s, {1, 5, 9}, go).tokens;
  };
  auto x = run(11);
  EXPECT_EQ(x, run(11));
  EXPECT_LE(x.size(), 16u);
}

TEST_P(ForwardTest, EvalGreedyIsTheArgmaxOfEval) {
  auto model = petrel::Model::load(tiny_model(GetParam()));
  const int nv = model->n_vocab();
  petrel::SessionOptions so;
  so.n_ctx = 64;
  so.n_threads = 2;
  so.n_batch = 2;  // the prompt in chunks: only the last one's argmax counts
  auto a = petrel::Session::create(*model, so);
  auto b = petrel::Session::create(*model, so);
  std::vector<int> toks = {4, 80, 33, 2, 91};
  for (auto& t : toks) t %= nv;
  a->eval(toks);
  int want = int(std::max_element(a->logits(), a->logits() + nv) - a->logits());
  int got = b->eval_greedy(toks);
  EXPECT_EQ(got, want) << "prompt";
  EXPECT_THROW(b->logits(), petrel::Error);  // eval_greedy keeps no logits
  EXPECT_EQ(b->n_past(), a->n_past());
  for (int i = 0; i < 6; ++i) {
    a->eval({want});
    const int next = int(std::max_element(a->logits(), a->logits() + nv) - a->logits());
    EXPECT_EQ(b->eval_greedy({got}), next) << "step " << i;
    got = want = next;
  }
}

TEST_P(ForwardTest, EvalTopKAndSamplingFromIt) {
  auto model = petrel::Model::load(tiny_model(GetParam()));
  const int nv = model->n_vocab();
  petrel::SessionOptions so;
  so.n_ctx = 64;
  so.n_threads = 2;
  so.n_batch = 2;
  auto a = petrel::Session::create(*model, so);
  auto b = petrel::Session::create(*model, so);
  std::vector<int> toks = {4, 80, 33, 2, 91};
  for (auto& t : toks) t %= nv;
  a->eval(toks);
  const auto top = b->eval_top_k(toks, 7);
  ASSERT_EQ(top.size(), 7u);
  const auto want = petrel::test::ranked_logits(a->logits(), nv, 7);
  EXPECT_EQ(top, want);
  EXPECT_THROW(b->logits(), petrel::Error);
  // generate, on each of its paths, against sampling every logit
  petrel::test::expect_generate_paths_match(*model, so, 12);
}

INSTANTIATE_TEST_SUITE_P(Types, ForwardTest, testing::Values("Q8_0", "Q4_K_M", "F16"));

TEST(Forward, ContextOverflowIsAnError) {
  auto model = petrel::Model::load(tiny_model("Q8_0"));
  auto s = petrel::Session::create(*model, {8, 1, 512});
  s->eval({1, 2, 3, 4, 5, 6});
  try {
    s->eval({1, 2, 3});
    FAIL() << "expected an error";
  } catch (const petrel::Error& e) {
    EXPECT_NE(std::string(e.what()).find("context"), std::string::npos) << e.what();
  }
}

TEST(Forward, GenerateStopsAtContextLimit) {
  auto model = petrel::Model::load(tiny_model("Q8_0"));
  auto s = petrel::Session::create(*model, {8, 1, 512});
  petrel::GenerateOptions go;
  go.n_predict = 100;
  go.sampling.temperature = 0;
  auto r = petrel::generate(*model, *s, {1, 2, 3}, go);
  EXPECT_LE(r.tokens.size(), 6u);
}

}  // namespace
