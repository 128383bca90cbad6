// matmul (matrix-vector, VNNI GEMM and generic batch paths, 1 and 2 threads, every ISA
// the CPU has) against matmul_ref, which runs only the scalar reference vec_dot.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/blocks.h"
#include "kernels/isa.h"
#include "kernels/matmul.h"
#include "kernels/types.h"

namespace petrel::kernels {
namespace {

// The fast paths use the same integer block products as the reference and differ only in
// the order of f32 sums (and, in the GEMM, in applying the K-quant mins per 32-element
// sub-block in f32): a few ulps (eps 6e-8) of the sum of |w*x| over 512 elements.
constexpr double kMatmulRelTol = 4e-6;

constexpr Type kTypes[] = {Type::kF32,  Type::kF16,  Type::kBF16, Type::kQ4_0,
                           Type::kQ4_1, Type::kQ5_0, Type::kQ5_1, Type::kQ8_0,
                           Type::kQ4_K, Type::kQ5_K, Type::kQ6_K};

struct Matrix {
  std::vector<uint8_t> data;
  std::vector<float> dequant;  // [n_out][n_in]
  WeightView view;
};

// Random weights: f32 values quantized with the type's reference quantizer.
Matrix make_matrix(Type type, int64_t n_in, int64_t n_out, std::mt19937& rng) {
  const TypeTraits& t = *type_traits(type);
  Matrix m;
  const size_t rb = row_bytes(t, n_in);
  m.data.resize(rb * static_cast<size_t>(n_out));
  m.dequant.resize(static_cast<size_t>(n_in * n_out));
  std::normal_distribution<float> nd(0.0f, 0.5f);
  std::vector<float> row(static_cast<size_t>(n_in));
  for (int64_t r = 0; r < n_out; ++r) {
    for (auto& v : row) v = nd(rng) + 0.1f;  // an offset so the min terms matter
    t.quantize_row_ref(row.data(), m.data.data() + rb * static_cast<size_t>(r), n_in);
    t.dequantize_row_ref(m.data.data() + rb * static_cast<size_t>(r), m.dequant.data() + r * n_in, n_in);
  }
  m.view = {type, n_in, n_out, m.data.data(), rb};
  return m;
}

std::vector<Isa> isas() {
  std::vector<Isa> out = {Isa::kScalar};
  if (detect_isa() != Isa::kScalar) out.push_back(Isa::kAvx2);
  if (detect_isa() == Isa::kAvx512) out.push_back(Isa::kAvx512);
  return out;
}

class IsaGuard {
 public:
  IsaGuard() : saved_(active_isa()) {}
  ~IsaGuard() { set_active_isa(saved_); }
 private:
  Isa saved_;
};

TEST(KernelsMatmul, MatchesReferenceOnEveryPath) {
  IsaGuard guard;
  std::mt19937 rng(3);
  const int64_t n_in = 512, n_out = 37;  // n_out not a multiple of any tile
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (Type type : kTypes) {
    const Matrix m = make_matrix(type, n_in, n_out, rng);
    for (int64_t n_tokens : {1, 2, 7, 40, 64}) {
      std::vector<float> x(static_cast<size_t>(n_in * n_tokens));
      for (auto& v : x) v = nd(rng);
      std::vector<float> want(static_cast<size_t>(n_out * n_tokens));
      matmul_ref(m.view, x.data(), n_tokens, want.data());
      std::vector<double> scale(want.size(), 0.0);  // sum of |w*x| per output
      for (int64_t t = 0; t < n_tokens; ++t)
        for (int64_t r = 0; r < n_out; ++r)
          for (int64_t i = 0; i < n_in; ++i)
            scale[static_cast<size_t>(t * n_out + r)] += std::fabs(m.dequant[r * n_in + i] * x[t * n_in + i]);
      for (Isa isa : isas()) {
        ASSERT_TRUE(set_active_isa(isa));
        for (int threads : {1, 2}) {
          Workspace ws;
          std::vector<float> got(want.size(), NAN);
          matmul(m.view, x.data(), n_tokens, got.data(), ws, threads);
          for (int64_t t = 0; t < n_tokens; ++t) {
            for (int64_t r = 0; r < n_out; ++r) {
              const size_t k = static_cast<size_t>(t * n_out + r);
              ASSERT_NEAR(got[k], want[k], kMatmulRelTol * scale[k])
                  << type_traits(type)->name << " " << isa_name(isa) << " tokens=" << n_tokens
                  << " threads=" << threads << " t=" << t << " r=" << r;
            }
          }
        }
      }
    }
  }
}

// Weights sharing one input, of mixed types (as Q, K, V of a Q4_K_M layer), with row
// counts that do not split evenly: every output equals the single-weight reference.
TEST(KernelsMatmul, MultiMatchesReferenceForMixedTypes) {
  IsaGuard guard;
  std::mt19937 rng(5);
  const int64_t n_in = 512;
  const Type types[] = {Type::kQ4_K, Type::kQ6_K, Type::kQ8_0, Type::kQ4_K, Type::kF16};
  const int64_t rows[] = {37, 5, 64, 1, 19};
  std::vector<Matrix> ms;
  std::vector<WeightView> views;
  for (int j = 0; j < 5; ++j) {
    ms.push_back(make_matrix(types[j], n_in, rows[j], rng));
    views.push_back(ms.back().view);
  }
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (int64_t n_tokens : {1, 3}) {
    std::vector<float> x(static_cast<size_t>(n_in * n_tokens));
    for (auto& v : x) v = nd(rng);
    for (Isa isa : isas()) {
      ASSERT_TRUE(set_active_isa(isa));
      for (int threads : {1, 2, 3}) {
        Workspace ws;
        std::vector<std::vector<float>> got(5);
        std::vector<float*> ys;
        for (int j = 0; j < 5; ++j) {
          got[j].assign(static_cast<size_t>(rows[j] * n_tokens), NAN);
          ys.push_back(got[j].data());
        }
        matmul_multi(views.data(), ys.data(), 5, x.data(), n_tokens, ws, threads);
        for (int j = 0; j < 5; ++j) {
          std::vector<float> want(got[j].size());
          matmul(views[j], x.data(), n_tokens, want.data(), ws, 1);
          for (size_t k = 0; k < want.size(); ++k)
            ASSERT_NEAR(got[j][k], want[k], 1e-5f * (1 + std::fabs(want[k])))
                << "weight " << j << " " << isa_name(isa) << " threads=" << threads << " k=" << k;
        }
      }
    }
  }
}

TEST(KernelsMatmul, ReferenceIsCloseToDequantizedProduct) {
  // Guards the reference itself: the activation quantization error stays small.
  std::mt19937 rng(4);
  const int64_t n_in = 256, n_out = 5;
  const Matrix m = make_matrix(Type::kQ4_K, n_in, n_out, rng);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> x(n_in), y(n_out);
  for (auto& v : x) v = nd(rng);
  matmul_ref(m.view, x.data(), 1, y.data());
  for (int64_t r = 0; r < n_out; ++r) {
    double exact = 0, scale = 0;
    for (int64_t i = 0; i < n_in; ++i) {
      exact += m.dequant[r * n_in + i] * x[i];
      scale += std::fabs(m.dequant[r * n_in + i] * x[i]);
    }
    EXPECT_NEAR(y[r], exact, 0.02 * scale);  // Q8_K rounding: <= 0.5/127 of each |x|
  }
}

TEST(KernelsMatmul, WorkspaceReuseGivesIdenticalResults) {
  IsaGuard guard;
  std::mt19937 rng(5);
  const Matrix m = make_matrix(Type::kQ6_K, 768, 19, rng);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  Workspace ws;
  for (int64_t n_tokens : {1, 33}) {
    std::vector<float> x(static_cast<size_t>(768 * n_tokens));
    for (auto& v : x) v = nd(rng);
    std::vector<float> a(static_cast<size_t>(19 * n_tokens)), b(a.size());
    matmul(m.view, x.data(), n_tokens, a.data(), ws, 2);
    matmul(m.view, x.data(), n_tokens, b.data(), ws, 2);
    EXPECT_EQ(a, b);
  }
}

TEST(KernelsMatmul, DequantizeRowMatchesReferenceAndChecksRange) {
  std::mt19937 rng(6);
  const Matrix m = make_matrix(Type::kQ5_0, 64, 3, rng);
  std::vector<float> row(64);
  dequantize_row(m.view, 2, row.data());
  for (int i = 0; i < 64; ++i) EXPECT_EQ(row[i], m.dequant[2 * 64 + i]);
  EXPECT_THROW(dequantize_row(m.view, 3, row.data()), std::exception);
}

}  // namespace
}  // namespace petrel::kernels
