// Reference tests of the block formats against ../shared: every tensor of every model in
// golden/dequant.json dequantized with the scalar reference (first values bit-exact, sums
// to ~1e-6), and the reference quantizers reproducing llama.cpp's bytes where the source
// weights are available (stories260K-f32 -> the Q5_0 / Q8_0 / F16 tensors of its Q4_K_M).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "kernels/types.h"
#include "tests/support/test_env.h"

namespace petrel::kernels {
namespace {

// Dequantization is exact arithmetic, so the double sums differ from numpy's only by
// summation order (~n * 2^-53 relative to sum |x|); 1e-6 is the documented bar.
constexpr double kSumRelTol = 1e-6;

uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

std::vector<float> dequantize_tensor(const gguf::TensorInfo& t, const std::string& where) {
  const TypeTraits* tr = type_traits(t.type);
  if (tr == nullptr) {
    ADD_FAILURE() << where << ": no kernels for type id " << t.type;
    return {};
  }
  const auto n0 = static_cast<int64_t>(t.ne[0]);
  const size_t rb = row_bytes(*tr, n0);
  std::vector<float> out(t.n_elements);
  for (uint64_t r = 0; r < t.rows(); ++r) {
    tr->dequantize_row_ref(t.data + r * rb, out.data() + r * n0, n0);
  }
  return out;
}

nlohmann::json load_dequant_json() {
  std::ifstream in(test::shared_path("golden/dequant.json"));
  EXPECT_TRUE(in.good()) << "cannot open golden/dequant.json";
  return nlohmann::json::parse(in);
}

TEST(RefDequant, EveryTensorOfEveryGoldenModel) {
  PETREL_REQUIRE_SHARED();
  const nlohmann::json golden = load_dequant_json();
  ASSERT_FALSE(golden.empty());
  size_t n_checked = 0;
  for (const auto& [model, tensors] : golden.items()) {
    const auto file = gguf::File::open(test::shared_path("models/" + model));
    ASSERT_EQ(file->tensors().size(), tensors.size()) << model;
    for (const auto& ref : tensors) {
      const std::string name = ref.at("name").get<std::string>();
      const std::string where = model + ": " + name;
      const gguf::TensorInfo* t = file->find_tensor(name);
      ASSERT_NE(t, nullptr) << where;
      const TypeTraits* tr = type_traits(t->type);
      ASSERT_NE(tr, nullptr) << where;
      EXPECT_EQ(std::string(tr->name), ref.at("type").get<std::string>()) << where;
      EXPECT_EQ(t->ne, ref.at("ne").get<std::vector<uint64_t>>()) << where;

      const std::vector<float> v = dequantize_tensor(*t, where);
      ASSERT_EQ(v.size(), t->n_elements) << where;
      const auto first = ref.at("first").get<std::vector<double>>();
      ASSERT_LE(first.size(), v.size()) << where;
      for (size_t i = 0; i < first.size(); ++i) {
        ASSERT_EQ(float_bits(v[i]), float_bits(static_cast<float>(first[i])))
            << where << " element " << i << ": " << v[i] << " vs " << first[i];
      }
      double sum = 0, sumsq = 0, sum_abs = 0;
      for (float x : v) {
        sum += x;
        sumsq += static_cast<double>(x) * x;
        sum_abs += std::fabs(x);
      }
      const double ref_sum = ref.at("sum").get<double>();
      const double ref_sumsq = ref.at("sumsq").get<double>();
      // The sum may cancel to near zero: scale its tolerance by sum |x|.
      EXPECT_NEAR(sum, ref_sum, kSumRelTol * sum_abs) << where;
      EXPECT_NEAR(sumsq, ref_sumsq, kSumRelTol * std::fabs(ref_sumsq)) << where;
      ++n_checked;
    }
  }
  EXPECT_GT(n_checked, 400u);
}

// llama.cpp quantized stories260K-f32 into stories260K-q4_k_m.gguf with its reference
// quantizers (no importance matrix); its rows of 64 made it fall back to Q5_0, Q8_0 and
// F16. Quantizing the same f32 weights here must give the same bytes.
TEST(RefQuantize, MatchesLlamaCppBytesOnStories260K) {
  PETREL_REQUIRE_SHARED();
  const auto src = gguf::File::open(test::shared_path("models/stories260K-f32.gguf"));
  const auto dst = gguf::File::open(test::shared_path("models/stories260K-q4_k_m.gguf"));
  size_t n_compared = 0;
  for (const gguf::TensorInfo& q : dst->tensors()) {
    if (q.type == static_cast<uint32_t>(Type::kF32)) continue;
    const gguf::TensorInfo* f = src->find_tensor(q.name);
    ASSERT_NE(f, nullptr) << q.name;
    ASSERT_EQ(f->type, static_cast<uint32_t>(Type::kF32)) << q.name;
    ASSERT_EQ(f->ne, q.ne) << q.name;
    const TypeTraits* tr = type_traits(q.type);
    ASSERT_NE(tr, nullptr) << q.name;
    std::vector<float> x(f->n_elements);
    std::memcpy(x.data(), f->data, x.size() * sizeof(float));
    std::vector<uint8_t> bytes(q.n_bytes);
    const auto n0 = static_cast<int64_t>(q.ne[0]);
    const size_t rb = row_bytes(*tr, n0);
    ASSERT_EQ(rb * q.rows(), q.n_bytes) << q.name;
    for (uint64_t r = 0; r < q.rows(); ++r) {
      tr->quantize_row_ref(x.data() + r * n0, bytes.data() + r * rb, n0);
    }
    size_t first_diff = bytes.size();
    for (size_t i = 0; i < bytes.size(); ++i) {
      if (bytes[i] != q.data[i]) {
        first_diff = i;
        break;
      }
    }
    EXPECT_EQ(first_diff, bytes.size()) << q.name << " (" << tr->name << "): first differing byte "
                                        << first_diff << " of " << bytes.size();
    ++n_compared;
  }
  EXPECT_GT(n_compared, 30u);
}

}  // namespace
}  // namespace petrel::kernels
