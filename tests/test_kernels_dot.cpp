// Every SIMD vec_dot and activation quantizer in the (type x ISA) table against the scalar
// reference, on random blocks at sizes with tails.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/blocks.h"
#include "kernels/isa.h"
#include "kernels/ref.h"
#include "kernels/types.h"

namespace petrel::kernels {
namespace {

// Integer-product dots differ from the reference only in the order of the f32 block sums:
// a few ulps of the sum of |terms| over <= 40 blocks (f32 eps 6e-8 x 40 ~ 2.4e-6).
constexpr double kQuantDotRelTol = 3e-6;
// F32/F16/BF16 SIMD dots sum in f32 (the reference in double, like ggml's generic code):
// error grows like n/64 ulps of the sum of |terms| over <= 1100 elements.
constexpr double kFloatDotRelTol = 2e-6;
// The reference dot against a double-precision dot of the dequantized rows (checks the
// reference against the dequantizers): also only f32 rounding of block partial sums.
constexpr double kRefVsDequantRelTol = 3e-6;
// Q8_1 stores s = d * sum(q) as f16 (llama.cpp does too), so Q4_1/Q5_1 dots carry up to
// half an f16 ulp (2^-11 relative) of each block's |m * s| beyond the dequantized dot.
constexpr double kF16HalfUlp = 1.0 / 2048;

constexpr Type kWeightTypes[] = {Type::kF32,  Type::kF16,  Type::kBF16, Type::kQ4_0,
                                 Type::kQ4_1, Type::kQ5_0, Type::kQ5_1, Type::kQ8_0,
                                 Type::kQ4_K, Type::kQ5_K, Type::kQ6_K};

std::vector<Isa> simd_isas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
    if (isa == Isa::kAvx2 && detect_isa() == Isa::kScalar) continue;
    if (isa == Isa::kAvx512 && detect_isa() != Isa::kAvx512) continue;
    out.push_back(isa);
  }
  return out;
}

// Random weight row of n elements: random bytes for every quant field, sane f16 scales.
std::vector<uint8_t> random_row(Type type, int64_t n, std::mt19937& rng) {
  const TypeTraits* t = type_traits(type);
  std::vector<uint8_t> row(row_bytes(*t, n));
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& b : row) b = static_cast<uint8_t>(byte(rng));
  std::uniform_real_distribution<float> mag(0.002f, 0.05f);
  auto put_half = [&](size_t off, float v) {
    const uint16_t h = f32_to_f16(v);
    std::memcpy(row.data() + off, &h, 2);
  };
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const int64_t nb = n / t->block_elems;
  switch (type) {
    case Type::kF32:
      for (int64_t i = 0; i < n; ++i) {
        const float v = nd(rng);
        std::memcpy(row.data() + 4 * i, &v, 4);
      }
      break;
    case Type::kF16:
      for (int64_t i = 0; i < n; ++i) put_half(2 * i, nd(rng));
      break;
    case Type::kBF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = f32_to_bf16(nd(rng));
        std::memcpy(row.data() + 2 * i, &h, 2);
      }
      break;
    case Type::kQ4_0: case Type::kQ5_0: case Type::kQ8_0:
      for (int64_t b = 0; b < nb; ++b) put_half(b * t->block_bytes, mag(rng));
      break;
    case Type::kQ4_1: case Type::kQ5_1:
      for (int64_t b = 0; b < nb; ++b) {
        put_half(b * t->block_bytes, mag(rng));
        put_half(b * t->block_bytes + 2, -mag(rng) * 8);
      }
      break;
    case Type::kQ4_K: case Type::kQ5_K:
      for (int64_t b = 0; b < nb; ++b) {
        put_half(b * t->block_bytes, mag(rng) / 16);
        put_half(b * t->block_bytes + 2, mag(rng) / 16);
      }
      break;
    case Type::kQ6_K:
      for (int64_t b = 0; b < nb; ++b) put_half(b * t->block_bytes + offsetof(BlockQ6_K, d), mag(rng) / 16);
      break;
    default: break;
  }
  return row;
}

std::vector<float> random_acts(int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::uniform_int_distribution<int> rare(0, 63);
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) v = nd(rng) * (rare(rng) == 0 ? 20.0f : 1.0f);
  return x;
}

std::vector<int64_t> sizes_for(Type type) {
  const int64_t be = type_traits(type)->block_elems;
  if (be == 1) return {1, 15, 17, 64, 100, 1023, 1100};
  if (be == 32) return {32, 96, 224, 1056, 1248};
  return {256, 768, 1280, 4352};
}

// Double-precision dot of the dequantized rows and the sum of |terms| (the error scale).
void exact_dot(const TypeTraits& wt, const void* w, const TypeTraits& at, const void* a, int64_t n,
               double* dot, double* abs_sum) {
  std::vector<float> wf(static_cast<size_t>(n)), af(static_cast<size_t>(n));
  wt.dequantize_row_ref(w, wf.data(), n);
  at.dequantize_row_ref(a, af.data(), n);
  *dot = 0.0;
  *abs_sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    *dot += static_cast<double>(wf[i]) * af[i];
    *abs_sum += std::fabs(static_cast<double>(wf[i]) * af[i]);
  }
}

// Extra error allowance for the f16-rounded Q8_1 block sums (zero for other pairs).
double q8_1_sum_slack(const TypeTraits& wt, const void* w, const TypeTraits& at, const void* a, int64_t n) {
  if (at.type != Type::kQ8_1) return 0.0;
  const auto* ab = static_cast<const BlockQ8_1*>(a);
  const auto* wb = static_cast<const uint8_t*>(w);
  double slack = 0.0;
  for (int64_t b = 0; b < n / kQK; ++b) {
    uint16_t m;  // Q4_1 and Q5_1 both keep m right after d
    std::memcpy(&m, wb + b * wt.block_bytes + 2, 2);
    slack += std::fabs(static_cast<double>(f16_to_f32(m)) * f16_to_f32(ab[b].s)) * kF16HalfUlp;
  }
  return slack;
}

TEST(KernelsDot, TableHasSimdForEveryWeightTypeOnEachIsa) {
  for (Isa isa : simd_isas()) {
    for (Type type : kWeightTypes) {
      const KernelSet k = kernels_for(type, isa);
      EXPECT_NE(k.vec_dot, nullptr) << type_traits(type)->name << " " << isa_name(isa);
      EXPECT_FALSE(k.is_reference) << type_traits(type)->name << " " << isa_name(isa);
    }
  }
  const KernelSet r = kernels_for(Type::kQ4_K, Isa::kScalar);
  EXPECT_TRUE(r.is_reference);
  EXPECT_EQ(r.vec_dot, &vec_dot_q4_k_q8_k_ref);
  EXPECT_EQ(kernels_for(Type::kF32, Isa::kScalar).quantize_act, nullptr);
  EXPECT_NE(kernel_table_report().find("Q4_K x Q8_K"), std::string::npos);
}

TEST(KernelsDot, ReferenceMatchesDequantizedDot) {
  std::mt19937 rng(7);
  for (Type type : kWeightTypes) {
    const TypeTraits& wt = *type_traits(type);
    const TypeTraits& at = *type_traits(wt.vec_dot_type);
    for (int64_t n : sizes_for(type)) {
      const auto w = random_row(type, n, rng);
      const auto x = random_acts(n, rng);
      std::vector<uint8_t> a(row_bytes(at, n));
      at.quantize_row_ref(x.data(), a.data(), n);
      float s = 0;
      wt.vec_dot_ref(n, &s, w.data(), a.data());
      double dot, abs_sum;
      exact_dot(wt, w.data(), at, a.data(), n, &dot, &abs_sum);
      const double slack = q8_1_sum_slack(wt, w.data(), at, a.data(), n);
      EXPECT_NEAR(s, dot, kRefVsDequantRelTol * abs_sum + slack + 1e-30) << wt.name << " n=" << n;
    }
  }
}

TEST(KernelsDot, SimdMatchesReference) {
  std::mt19937 rng(11);
  for (Isa isa : simd_isas()) {
    for (Type type : kWeightTypes) {
      const TypeTraits& wt = *type_traits(type);
      const TypeTraits& at = *type_traits(wt.vec_dot_type);
      const KernelSet k = kernels_for(type, isa);
      const double tol = wt.block_elems == 1 ? kFloatDotRelTol : kQuantDotRelTol;
      for (int64_t n : sizes_for(type)) {
        for (int rep = 0; rep < 3; ++rep) {
          const auto w = random_row(type, n, rng);
          const auto x = random_acts(n, rng);
          std::vector<uint8_t> a(row_bytes(at, n));
          at.quantize_row_ref(x.data(), a.data(), n);
          float s_ref = 0, s_simd = 1e30f;
          wt.vec_dot_ref(n, &s_ref, w.data(), a.data());
          k.vec_dot(n, &s_simd, w.data(), a.data());
          double dot, abs_sum;
          exact_dot(wt, w.data(), at, a.data(), n, &dot, &abs_sum);
          EXPECT_NEAR(s_simd, s_ref, tol * abs_sum + 1e-30)
              << wt.name << " " << isa_name(isa) << " n=" << n << " rep=" << rep;
        }
      }
    }
  }
}

// Activations that hit rounding ties: amax 127 makes the Q8_0/Q8_K scale exactly 1.
std::vector<float> tie_acts(int64_t n, std::mt19937& rng) {
  std::uniform_int_distribution<int> k(-126, 126);
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) v = static_cast<float>(k(rng)) + 0.5f;
  for (int64_t i = 0; i < n; i += 32) x[static_cast<size_t>(i)] = (i / 32) % 2 ? 127.0f : -127.0f;
  return x;
}

TEST(KernelsDot, SimdActivationQuantizersAreBitIdentical) {
  std::mt19937 rng(5);
  for (Isa isa : simd_isas()) {
    for (Type type : kWeightTypes) {
      const TypeTraits& wt = *type_traits(type);
      const TypeTraits& at = *type_traits(wt.vec_dot_type);
      const KernelSet k = kernels_for(type, isa);
      if (k.quantize_act == nullptr) {
        EXPECT_EQ(wt.vec_dot_type, Type::kF32);
        continue;
      }
      for (int64_t n : sizes_for(type)) {
        if (n % at.block_elems != 0) continue;
        for (int variant = 0; variant < 3; ++variant) {
          std::vector<float> x = variant == 0 ? random_acts(n, rng) : tie_acts(n, rng);
          if (variant == 2) std::fill(x.begin(), x.begin() + std::min<int64_t>(n, 256), 0.0f);
          std::vector<uint8_t> r(row_bytes(at, n), 0xcd), s(row_bytes(at, n), 0xab);
          at.quantize_row_ref(x.data(), r.data(), n);
          k.quantize_act(x.data(), s.data(), n);
          EXPECT_EQ(0, std::memcmp(r.data(), s.data(), r.size()))
              << at.name << " " << isa_name(isa) << " n=" << n << " variant=" << variant;
        }
      }
    }
  }
}

TEST(KernelsDot, ActiveIsaCanBeSetAndRestored) {
  const Isa before = active_isa();
  EXPECT_TRUE(set_active_isa(Isa::kScalar));
  EXPECT_EQ(active_isa(), Isa::kScalar);
  EXPECT_TRUE(set_active_isa(detect_isa()));
  EXPECT_EQ(active_isa(), detect_isa());
  set_active_isa(before);
}

}  // namespace
}  // namespace petrel::kernels
