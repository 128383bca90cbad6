// Unit tests of the reference block formats: f16/bf16 conversions, quantize->dequantize
// round trips on gaussian data, Q8_K block sums, degenerate inputs, and the traits table.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gguf/ggml_types.h"
#include "kernels/blocks.h"
#include "kernels/ref.h"
#include "kernels/types.h"

namespace petrel::kernels {
namespace {

// Relative RMS error bounds, sqrt(sum (x - y)^2 / sum x^2), for unit gaussian data (seed 42,
// 64K values). Measured with these reference quantizers: F16 2.1e-4, BF16 1.7e-3,
// Q8_0/Q8_1 5.4e-3, Q8_K 6.9e-3 (256-blocks: larger amax), Q6_K 1.8e-2, Q5_K 3.6e-2,
// Q5_1 3.8e-2, Q5_0 4.3e-2, Q4_K 7.2e-2, Q4_1 7.8e-2, Q4_0 8.6e-2 (llama.cpp's quantizers
// give the same figures); each bound is the measured value plus ~15%.
constexpr double kRelRmsF16 = 2.4e-4;
constexpr double kRelRmsBF16 = 2.0e-3;
constexpr double kRelRmsQ8 = 0.0062;
constexpr double kRelRmsQ8K = 0.008;
constexpr double kRelRmsQ6K = 0.0205;
constexpr double kRelRmsQ5K = 0.0415;
constexpr double kRelRmsQ5_1 = 0.0435;
constexpr double kRelRmsQ5_0 = 0.049;
constexpr double kRelRmsQ4K = 0.082;
constexpr double kRelRmsQ4_1 = 0.09;
constexpr double kRelRmsQ4_0 = 0.099;
// A constant input is representable by every format up to the f16 rounding of its scales
// (relative 2^-11), times a few levels of requantization. (Tiny constants are not: their
// K-quant super-scale d = c/15/63 becomes an f16 subnormal, in llama.cpp too.)
constexpr double kConstantRelTol = 4e-3;

constexpr int64_t kRoundTripElems = 256 * 256;  // 256 K-quant blocks, 2048 32-blocks

uint16_t half_bits(_Float16 h) {
  uint16_t b;
  std::memcpy(&b, &h, sizeof b);
  return b;
}

uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

std::vector<float> gaussian(int64_t n, uint32_t seed, float stddev = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, stddev);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

std::vector<float> round_trip(Type type, const std::vector<float>& x) {
  const TypeTraits* t = type_traits(type);
  EXPECT_NE(t, nullptr);
  const auto n = static_cast<int64_t>(x.size());
  std::vector<uint8_t> q(row_bytes(*t, n));
  t->quantize_row_ref(x.data(), q.data(), n);
  std::vector<float> y(x.size());
  t->dequantize_row_ref(q.data(), y.data(), n);
  return y;
}

double rel_rms(const std::vector<float>& x, const std::vector<float>& y) {
  double err = 0, ref = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double d = static_cast<double>(x[i]) - y[i];
    err += d * d;
    ref += static_cast<double>(x[i]) * x[i];
  }
  return std::sqrt(err / ref);
}

// ---- f16 / bf16 -------------------------------------------------------------------------

TEST(F16, EveryHalfRoundTripsThroughF32) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = f16_to_f32(static_cast<uint16_t>(h));
    const bool is_nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0;
    if (is_nan) {
      ASSERT_TRUE(std::isnan(f)) << std::hex << h;
      const uint16_t back = f32_to_f16(f);
      ASSERT_EQ(back & 0x7c00, 0x7c00) << std::hex << h;
      ASSERT_NE(back & 0x3ff, 0) << std::hex << h;
      continue;
    }
    // The widening must agree with the compiler's _Float16 (exact arithmetic).
    _Float16 hv;
    const auto hb = static_cast<uint16_t>(h);
    std::memcpy(&hv, &hb, sizeof hv);
    ASSERT_EQ(float_bits(f), float_bits(static_cast<float>(hv))) << std::hex << h;
    ASSERT_EQ(f32_to_f16(f), h) << std::hex << h;
  }
}

TEST(F16, KnownValues) {
  EXPECT_EQ(f32_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(f32_to_f16(-2.0f), 0xc000);
  EXPECT_EQ(f32_to_f16(0.1f), 0x2e66);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);   // largest finite half
  EXPECT_EQ(f32_to_f16(65519.99f), 0x7bff);  // just below the tie
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);   // tie rounds to even = inf
  EXPECT_EQ(f32_to_f16(1e9f), 0x7c00);
  EXPECT_EQ(f32_to_f16(-INFINITY), 0xfc00);
  EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -14)), 0x0400);         // smallest normal
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -24)), 0x0001);         // smallest subnormal
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);         // tie to even: 0
  EXPECT_EQ(f32_to_f16(std::ldexp(3.0f, -25)), 0x0002);         // 1.5 units: tie to even 2
  EXPECT_EQ(f32_to_f16(std::ldexp(1.5f, -25)), 0x0001);         // 0.75 units rounds up
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);  // tie to even
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(3.0f, -11)), 0x3c02);  // tie to even (up)
  EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(NAN))));
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(f16_to_f32(0x7bff), 65504.0f);
  EXPECT_EQ(f16_to_f32(0xfc00), -INFINITY);
}

TEST(F16, NarrowingMatchesCompilerOnRandomFloats) {
  // Every f32 exponent from well below the subnormal range to overflow, random mantissas,
  // plus exact ties (mantissa low 13 bits = 0x1000).
  std::mt19937 rng(7);
  for (int i = 0; i < 200000; ++i) {
    uint32_t exp = 90 + rng() % 60;  // 2^-37 .. 2^22
    uint32_t mant = rng() & 0x7fffff;
    if (i % 4 == 0) mant = (mant & ~0x1fffu) | 0x1000u;
    const uint32_t sign = (rng() & 1) << 31;
    const float f = bits_float(sign | (exp << 23) | mant);
    ASSERT_EQ(f32_to_f16(f), half_bits(static_cast<_Float16>(f))) << std::hexfloat << f;
  }
}

TEST(BF16, KnownValuesAndRounding) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(bits_float(0x3f808000)), 0x3f80);  // tie, even stays
  EXPECT_EQ(f32_to_bf16(bits_float(0x3f818000)), 0x3f82);  // tie, odd rounds up
  EXPECT_EQ(f32_to_bf16(bits_float(0x3f808001)), 0x3f81);  // above tie
  EXPECT_EQ(f32_to_bf16(bits_float(0x3f807fff)), 0x3f80);  // below tie
  EXPECT_EQ(f32_to_bf16(-INFINITY), 0xff80);
  EXPECT_EQ(f32_to_bf16(bits_float(0x7f7fffff)), 0x7f80);  // max float rounds to inf
  const uint16_t n = f32_to_bf16(bits_float(0x7f800001));  // nan whose payload is only low bits
  EXPECT_TRUE(std::isnan(bf16_to_f32(n)));
  EXPECT_EQ(bf16_to_f32(0x4049), bits_float(0x40490000));
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = bf16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(f32_to_bf16(f), h) << std::hex << h;
  }
}

// ---- round trips ------------------------------------------------------------------------

struct Bound {
  Type type;
  double rel_rms;
};

TEST(Quants, RoundTripErrorWithinBounds) {
  const Bound bounds[] = {
      {Type::kF16, kRelRmsF16},  {Type::kBF16, kRelRmsBF16}, {Type::kQ8_0, kRelRmsQ8},
      {Type::kQ8_1, kRelRmsQ8},  {Type::kQ8_K, kRelRmsQ8K},  {Type::kQ6_K, kRelRmsQ6K},
      {Type::kQ5_K, kRelRmsQ5K}, {Type::kQ5_1, kRelRmsQ5_1}, {Type::kQ5_0, kRelRmsQ5_0},
      {Type::kQ4_K, kRelRmsQ4K}, {Type::kQ4_1, kRelRmsQ4_1}, {Type::kQ4_0, kRelRmsQ4_0},
  };
  const std::vector<float> x = gaussian(kRoundTripElems, 42);
  for (const Bound& b : bounds) {
    const std::vector<float> y = round_trip(b.type, x);
    const double e = rel_rms(x, y);
    EXPECT_LT(e, b.rel_rms) << type_traits(b.type)->name;
    EXPECT_GT(e, 0.0) << type_traits(b.type)->name;  // lossy formats do lose something
  }
  EXPECT_EQ(round_trip(Type::kF32, x), x);
}

TEST(Quants, FinerFormatsAreMoreAccurate) {
  const std::vector<float> x = gaussian(kRoundTripElems, 3, 0.02f);
  const double q4k = rel_rms(x, round_trip(Type::kQ4_K, x));
  const double q5k = rel_rms(x, round_trip(Type::kQ5_K, x));
  const double q6k = rel_rms(x, round_trip(Type::kQ6_K, x));
  const double q4_0 = rel_rms(x, round_trip(Type::kQ4_0, x));
  const double q8_0 = rel_rms(x, round_trip(Type::kQ8_0, x));
  EXPECT_LT(q5k, q4k);
  EXPECT_LT(q6k, q5k);
  EXPECT_LT(q4k, q4_0);  // the K-quant search beats plain absmax rounding
  EXPECT_LT(q8_0, q6k);
}

TEST(Quants, DeterministicAndRowIndependent) {
  // Quantizing a row in one call or block by block gives the same bytes.
  const std::vector<float> x = gaussian(4 * 256, 11);
  for (Type type : {Type::kQ4_0, Type::kQ5_1, Type::kQ8_0, Type::kQ4_K, Type::kQ5_K, Type::kQ6_K}) {
    const TypeTraits* t = type_traits(type);
    const auto n = static_cast<int64_t>(x.size());
    std::vector<uint8_t> whole(row_bytes(*t, n)), parts(row_bytes(*t, n));
    t->quantize_row_ref(x.data(), whole.data(), n);
    for (int64_t i = 0; i < n; i += t->block_elems) {
      t->quantize_row_ref(x.data() + i, parts.data() + row_bytes(*t, i), t->block_elems);
    }
    EXPECT_EQ(whole, parts) << t->name;
  }
}

TEST(Quants, Q8KBlockSumsAndScale) {
  const std::vector<float> x = gaussian(3 * kQKK, 5);
  std::vector<BlockQ8_K> q(3);
  quantize_row_q8_k_ref(x.data(), q.data(), static_cast<int64_t>(x.size()));
  for (int b = 0; b < 3; ++b) {
    int max_abs = 0;
    for (int i = 0; i < 16; ++i) {
      int sum = 0;
      for (int j = 0; j < 16; ++j) sum += q[b].qs[16 * i + j];
      EXPECT_EQ(q[b].bsums[i], sum) << "block " << b << " group " << i;
    }
    float amax = 0;
    for (int j = 0; j < kQKK; ++j) {
      max_abs = std::max(max_abs, std::abs(static_cast<int>(q[b].qs[j])));
      amax = std::max(amax, std::fabs(x[b * kQKK + j]));
    }
    EXPECT_EQ(max_abs, 127);
    EXPECT_NEAR(std::fabs(q[b].d) * 127, amax, amax * 1e-6);
  }
}

TEST(Quants, Q4_0UsesSignedMaxAsMinusEight) {
  // The largest-magnitude value maps to level 0 (d = max / -8), so it is reproduced exactly
  // up to the f16 rounding of d.
  std::vector<float> x(kQK, 0.25f);
  x[5] = -3.0f;
  BlockQ4_0 b;
  quantize_row_q4_0_ref(x.data(), &b, kQK);
  EXPECT_EQ(f16_to_f32(b.d), 3.0f / 8);
  EXPECT_EQ(b.qs[5] & 0x0f, 0);
  std::vector<float> y(kQK);
  dequantize_row_q4_0_ref(&b, y.data(), kQK);
  EXPECT_EQ(y[5], -3.0f);
}

TEST(Quants, ZeroAndConstantInputs) {
  const Type types[] = {Type::kF16,  Type::kBF16, Type::kQ4_0, Type::kQ4_1,
                        Type::kQ5_0, Type::kQ5_1, Type::kQ8_0, Type::kQ8_1,
                        Type::kQ4_K, Type::kQ5_K, Type::kQ6_K, Type::kQ8_K};
  for (Type type : types) {
    const char* name = type_traits(type)->name;
    const std::vector<float> zeros(2 * kQKK, 0.0f);
    for (float v : round_trip(type, zeros)) ASSERT_EQ(v, 0.0f) << name;
    for (float c : {0.5f, -1.25f, 7.0f}) {
      const std::vector<float> x(2 * kQKK, c);
      for (float v : round_trip(type, x)) {
        ASSERT_FALSE(std::isnan(v)) << name << " constant " << c;
        ASSERT_NEAR(v, c, std::fabs(c) * kConstantRelTol) << name << " constant " << c;
      }
    }
  }
}

// ---- traits table -----------------------------------------------------------------------

TEST(Traits, TableMatchesBlockStructsAndDotTypes) {
  struct Row {
    Type type;
    int64_t elems;
    size_t bytes;
    Type dot;
  };
  const Row rows[] = {
      {Type::kF32, 1, 4, Type::kF32},
      {Type::kF16, 1, 2, Type::kF16},
      {Type::kBF16, 1, 2, Type::kBF16},
      {Type::kQ4_0, 32, sizeof(BlockQ4_0), Type::kQ8_0},
      {Type::kQ4_1, 32, sizeof(BlockQ4_1), Type::kQ8_1},
      {Type::kQ5_0, 32, sizeof(BlockQ5_0), Type::kQ8_0},
      {Type::kQ5_1, 32, sizeof(BlockQ5_1), Type::kQ8_1},
      {Type::kQ8_0, 32, sizeof(BlockQ8_0), Type::kQ8_0},
      {Type::kQ8_1, 32, sizeof(BlockQ8_1), Type::kQ8_1},
      {Type::kQ4_K, 256, sizeof(BlockQ4_K), Type::kQ8_K},
      {Type::kQ5_K, 256, sizeof(BlockQ5_K), Type::kQ8_K},
      {Type::kQ6_K, 256, sizeof(BlockQ6_K), Type::kQ8_K},
      {Type::kQ8_K, 256, sizeof(BlockQ8_K), Type::kQ8_K},
  };
  for (const Row& r : rows) {
    const TypeTraits* t = type_traits(r.type);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->type, r.type);
    EXPECT_EQ(t->block_elems, r.elems) << t->name;
    EXPECT_EQ(t->block_bytes, r.bytes) << t->name;
    EXPECT_EQ(t->vec_dot_type, r.dot) << t->name;
    EXPECT_NE(t->dequantize_row_ref, nullptr) << t->name;
    EXPECT_NE(t->quantize_row_ref, nullptr) << t->name;
    const bool activation_only = r.type == Type::kQ8_1 || r.type == Type::kQ8_K;
    EXPECT_EQ(t->vec_dot_ref == nullptr, activation_only) << t->name;
  }
  for (uint32_t id : {4u, 5u, 10u, 11u, 16u, 20u, 24u, 28u, 29u, 31u, 34u, 99u, 0xffffffffu}) {
    EXPECT_EQ(type_traits(id), nullptr) << id;
  }
}

TEST(Traits, AgreesWithGgufTypeTable) {
  for (uint32_t id = 0; id < 64; ++id) {
    const TypeTraits* k = type_traits(id);
    if (k == nullptr) continue;
    const gguf::GgmlTypeInfo* g = gguf::ggml_type_info(id);
    ASSERT_NE(g, nullptr) << id;
    EXPECT_EQ(std::string(k->name), g->name) << id;
    EXPECT_EQ(static_cast<uint32_t>(k->block_elems), g->block_elems) << k->name;
    EXPECT_EQ(k->block_bytes, g->block_bytes) << k->name;
  }
  // Every type the file layer calls supported has kernels (Q8_1 is activation-only there).
  for (uint32_t id = 0; id < 64; ++id) {
    const gguf::GgmlTypeInfo* g = gguf::ggml_type_info(id);
    if (g != nullptr && g->supported) {
      EXPECT_NE(type_traits(id), nullptr) << g->name;
    }
  }
}

}  // namespace
}  // namespace petrel::kernels
