// rms_norm, rope, softmax, silu_mul and add against straightforward double-precision
// versions written from their definitions.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/ops.h"

namespace petrel::kernels {
namespace {

// f32 kernels vs double formulas: a few ulps of f32 (eps 1.2e-7) on O(1) values.
constexpr double kOpsRelTol = 2e-6;
// RoPE angles are built in f32 by repeated multiplication (as ggml does), so the angle
// itself carries ~i ulps of pos*theta: with pos <= 5000 that is up to ~1e-4 rad absolute.
constexpr double kRopeAbsTol = 2e-3;

std::vector<float> random_vec(int64_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = nd(rng);
  return v;
}

TEST(KernelsOps, RmsNorm) {
  for (int64_t n : {1, 7, 64, 2049}) {
    const auto x = random_vec(n, 1, 3.0f), w = random_vec(n, 2);
    std::vector<float> y(static_cast<size_t>(n));
    rms_norm(x.data(), w.data(), y.data(), n, 1e-5f);
    double ss = 0;
    for (float v : x) ss += static_cast<double>(v) * v;
    const double scale = 1.0 / std::sqrt(ss / static_cast<double>(n) + 1e-5);
    for (int64_t i = 0; i < n; ++i) {
      const double want = x[i] * scale * w[i];
      EXPECT_NEAR(y[i], want, kOpsRelTol * (std::fabs(want) + 1e-3)) << "n=" << n << " i=" << i;
    }
  }
  // In place (y aliases x).
  auto x = random_vec(33, 3);
  const auto w = random_vec(33, 4);
  std::vector<float> y(33);
  rms_norm(x.data(), w.data(), y.data(), 33, 1e-6f);
  rms_norm(x.data(), w.data(), x.data(), 33, 1e-6f);
  EXPECT_EQ(x, y);
}

void rope_double(std::vector<double>& x, int64_t n_rot, int64_t pos, double base, RopeMode mode,
                 const float* ff) {
  const int64_t half = n_rot / 2;
  for (int64_t i = 0; i < half; ++i) {
    double theta = static_cast<double>(pos) * std::pow(base, -2.0 * static_cast<double>(i) / static_cast<double>(n_rot));
    if (ff) theta /= ff[i];
    const int64_t i0 = mode == RopeMode::kNeox ? i : 2 * i;
    const int64_t i1 = mode == RopeMode::kNeox ? i + half : 2 * i + 1;
    const double a = x[i0], b = x[i1];
    x[i0] = a * std::cos(theta) - b * std::sin(theta);
    x[i1] = a * std::sin(theta) + b * std::cos(theta);
  }
}

TEST(KernelsOps, RopeBothPairingsWithFreqFactors) {
  const int64_t head_dim = 64;
  std::vector<float> ff(32);
  for (size_t i = 0; i < ff.size(); ++i) ff[i] = 1.0f + 0.25f * static_cast<float>(i % 5);
  for (RopeMode mode : {RopeMode::kAdjacent, RopeMode::kNeox}) {
    for (int64_t n_rot : {64, 32}) {
      for (int64_t pos : {0, 1, 17, 5000}) {
        for (const float* f : {static_cast<const float*>(nullptr), static_cast<const float*>(ff.data())}) {
          auto x = random_vec(head_dim, 9);
          std::vector<double> want(x.begin(), x.end());
          rope(x.data(), head_dim, n_rot, pos, 10000.0f, mode, f);
          rope_double(want, n_rot, pos, 10000.0, mode, f);
          for (int64_t i = 0; i < head_dim; ++i) {
            EXPECT_NEAR(x[i], want[i], kRopeAbsTol) << "mode=" << static_cast<int>(mode)
                                                    << " n_rot=" << n_rot << " pos=" << pos << " i=" << i;
          }
        }
      }
    }
  }
}

TEST(KernelsOps, RopePairingsDiffer) {
  auto a = random_vec(8, 5), b = a;
  rope(a.data(), 8, 8, 3, 10000.0f, RopeMode::kAdjacent, nullptr);
  rope(b.data(), 8, 8, 3, 10000.0f, RopeMode::kNeox, nullptr);
  EXPECT_NE(a, b);
  // Position 0 is the identity.
  auto c = random_vec(8, 6), d = c;
  rope(c.data(), 8, 8, 0, 10000.0f, RopeMode::kNeox, nullptr);
  EXPECT_EQ(c, d);
}

TEST(KernelsOps, Softmax) {
  for (int64_t n : {1, 5, 100, 1000}) {
    auto x = random_vec(n, 7, 4.0f);
    if (n > 2) x[1] = -INFINITY;  // masked entry
    std::vector<double> want(x.begin(), x.end());
    double mx = -INFINITY;
    for (double v : want) mx = std::max(mx, v);
    double sum = 0;
    for (double& v : want) sum += (v = std::exp(v - mx));
    softmax(x.data(), n);
    double total = 0;
    for (int64_t i = 0; i < n; ++i) {
      EXPECT_NEAR(x[i], want[i] / sum, kOpsRelTol * (want[i] / sum) + 1e-9) << "n=" << n;
      total += x[i];
    }
    EXPECT_NEAR(total, 1.0, 1e-5);
  }
}

TEST(KernelsOps, SiluMulAndAdd) {
  const int64_t n = 77;
  const auto g = random_vec(n, 11, 3.0f), u = random_vec(n, 12);
  std::vector<float> out(n);
  silu_mul(g.data(), u.data(), out.data(), n);
  for (int64_t i = 0; i < n; ++i) {
    const double want = g[i] / (1.0 + std::exp(-static_cast<double>(g[i]))) * u[i];
    EXPECT_NEAR(out[i], want, kOpsRelTol * (std::fabs(want) + 1e-3));
  }
  auto y = random_vec(n, 13);
  const auto y0 = y;
  add(y.data(), u.data(), n);
  for (int64_t i = 0; i < n; ++i) EXPECT_EQ(y[i], y0[i] + u[i]);
}

}  // namespace
}  // namespace petrel::kernels
