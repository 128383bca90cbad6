// Tests of `petrel quantize`: llama.cpp's per-tensor type choice (engine/ftype.h) for
// several layer counts and fall-backs, and quantize_model on small made-up F32/F16 models
// (types, metadata, values close to the originals, thread-count independence, errors).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "engine/ftype.h"
#include "gguf/gguf.h"
#include "gguf/writer.h"
#include "kernels/types.h"
#include "petrel/tools.h"
#include "tests/support/test_env.h"

namespace petrel::tools {
namespace {

// Relative RMS error of the dequantized weights against the F32 originals for a Q4_K_M
// model of gaussian weights: mostly Q4_K (7.2e-2 measured in test_kernels_quants) with some
// Q6_K, so it must stay below the Q4_K bound there (0.082).
constexpr double kQ4KMRelRms = 0.082;
// F16 keeps 11 significant bits: relative RMS ~2.1e-4 on gaussian data.
constexpr double kF16RelRms = 2.4e-4;

constexpr uint32_t kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ5_0 = 6, kQ5_1 = 7, kQ8_0 = 8, kQ4_K = 12,
                   kQ5_K = 13, kQ6_K = 14, kBF16 = 30;

// A llama-style tensor list with n layers, rows of `e` (ffn_down rows of `ff`).
std::vector<TensorDesc> llama_tensors(int n, uint64_t e, uint64_t ff, bool tied) {
  std::vector<TensorDesc> t;
  t.push_back({"token_embd.weight", {e, 300}});
  for (int l = 0; l < n; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    t.push_back({p + "attn_norm.weight", {e}});
    t.push_back({p + "attn_q.weight", {e, e}});
    t.push_back({p + "attn_k.weight", {e, e / 2}});
    t.push_back({p + "attn_v.weight", {e, e / 2}});
    t.push_back({p + "attn_q.bias", {e}});
    t.push_back({p + "attn_output.weight", {e, e}});
    t.push_back({p + "ffn_norm.weight", {e}});
    t.push_back({p + "ffn_gate.weight", {e, ff}});
    t.push_back({p + "ffn_up.weight", {e, ff}});
    t.push_back({p + "ffn_down.weight", {ff, e}});
  }
  t.push_back({"output_norm.weight", {e}});
  if (!tied) t.push_back({"output.weight", {e, 300}});
  t.push_back({"rope_freqs.weight", {e / 16}});
  return t;
}

uint32_t type_of(const std::vector<TensorDesc>& t, const std::vector<uint32_t>& types,
                 const std::string& name) {
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i].name == name) return types[i];
  }
  ADD_FAILURE() << "no tensor " << name;
  return ~0u;
}

// Layers whose `suffix` tensor got Q6_K.
std::set<int> q6k_layers(const std::vector<TensorDesc>& t, const std::vector<uint32_t>& types,
                         int n, const std::string& suffix) {
  std::set<int> layers;
  for (int l = 0; l < n; ++l) {
    if (type_of(t, types, "blk." + std::to_string(l) + "." + suffix) == kQ6_K) layers.insert(l);
  }
  return layers;
}

TEST(TypeChoice, Q4KMMoreBitsLayers) {
  // Expected sets written out from llama.cpp's rule: i < n/8, i >= 7n/8, (i - n/8) % 3 == 2.
  const std::vector<std::pair<int, std::set<int>>> cases = {
      {4, {2, 3}},
      {16, {0, 1, 4, 7, 10, 13, 14, 15}},
      {28, {0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 24, 25, 26, 27}},
      {32, {0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31}},
  };
  for (const auto& [n, expected] : cases) {
    const auto t = llama_tensors(n, 256, 512, false);
    const auto types = choose_tensor_types(find_ftype("Q4_K_M"), t);
    EXPECT_EQ(q6k_layers(t, types, n, "attn_v.weight"), expected) << n << " layers";
    EXPECT_EQ(q6k_layers(t, types, n, "ffn_down.weight"), expected) << n << " layers";
    EXPECT_TRUE(q6k_layers(t, types, n, "ffn_up.weight").empty());
    EXPECT_TRUE(q6k_layers(t, types, n, "attn_q.weight").empty());
    EXPECT_EQ(type_of(t, types, "output.weight"), kQ6_K);
    EXPECT_EQ(type_of(t, types, "token_embd.weight"), kQ4_K);
    EXPECT_EQ(type_of(t, types, "blk.1.attn_k.weight"), kQ4_K);
    EXPECT_EQ(type_of(t, types, "blk.1.ffn_norm.weight"), kF32);
    EXPECT_EQ(type_of(t, types, "blk.1.attn_q.bias"), kF32);
    EXPECT_EQ(type_of(t, types, "output_norm.weight"), kF32);
    EXPECT_EQ(type_of(t, types, "rope_freqs.weight"), kF32);
  }
}

TEST(TypeChoice, OtherFileTypes) {
  const auto t = llama_tensors(8, 256, 512, false);
  auto types = choose_tensor_types(find_ftype("q5_k_m"), t);  // case-insensitive
  EXPECT_EQ(type_of(t, types, "blk.0.attn_v.weight"), kQ6_K);
  EXPECT_EQ(type_of(t, types, "blk.2.attn_v.weight"), kQ5_K);
  EXPECT_EQ(type_of(t, types, "output.weight"), kQ6_K);
  types = choose_tensor_types(find_ftype("Q8_0"), t);
  EXPECT_EQ(type_of(t, types, "output.weight"), kQ8_0);
  EXPECT_EQ(type_of(t, types, "blk.0.attn_v.weight"), kQ8_0);
  types = choose_tensor_types(find_ftype("Q4_0"), t);
  EXPECT_EQ(type_of(t, types, "output.weight"), kQ6_K);  // llama.cpp: output in Q6_K
  EXPECT_EQ(type_of(t, types, "blk.0.attn_v.weight"), kQ4_0);
  EXPECT_EQ(type_of(t, types, "blk.0.ffn_down.weight"), kQ4_0);
  types = choose_tensor_types(find_ftype("Q6_K"), t);
  EXPECT_EQ(type_of(t, types, "blk.5.ffn_up.weight"), kQ6_K);
  for (const char* f : {"F16", "BF16"}) {
    types = choose_tensor_types(find_ftype(f), t);
    const uint32_t want = std::string(f) == "F16" ? kF16 : kBF16;
    EXPECT_EQ(type_of(t, types, "output.weight"), want);
    EXPECT_EQ(type_of(t, types, "blk.0.attn_v.weight"), want);
    EXPECT_EQ(type_of(t, types, "blk.0.attn_norm.weight"), kF32);
  }
  EXPECT_THROW(find_ftype("Q3_K_S"), Error);
}

TEST(TypeChoice, TiedOutputPutsTokenEmbeddingInOutputType) {
  const auto t = llama_tensors(4, 256, 512, true);
  EXPECT_EQ(type_of(t, choose_tensor_types(find_ftype("Q4_K_M"), t), "token_embd.weight"), kQ6_K);
  EXPECT_EQ(type_of(t, choose_tensor_types(find_ftype("Q8_0"), t), "token_embd.weight"), kQ8_0);
}

TEST(TypeChoice, FallBacksWhenRowsDoNotDivide) {
  // Rows of 64 (stories260K): K-quants fall back; ffn_down rows of 172 are not even
  // 32-divisible and become F16 (what llama.cpp wrote into stories260K-q4_k_m.gguf).
  const auto t = llama_tensors(5, 64, 172, false);
  auto types = choose_tensor_types(find_ftype("Q4_K_M"), t);
  EXPECT_EQ(type_of(t, types, "output.weight"), kQ8_0);
  EXPECT_EQ(type_of(t, types, "token_embd.weight"), kQ5_0);
  EXPECT_EQ(type_of(t, types, "blk.0.attn_q.weight"), kQ5_0);
  EXPECT_EQ(type_of(t, types, "blk.2.attn_v.weight"), kQ8_0);  // Q6_K -> Q8_0
  EXPECT_EQ(type_of(t, types, "blk.1.attn_v.weight"), kQ5_0);
  EXPECT_EQ(type_of(t, types, "blk.0.ffn_down.weight"), kF16);
  EXPECT_EQ(type_of(t, types, "blk.0.ffn_up.weight"), kQ5_0);
  types = choose_tensor_types(find_ftype("Q5_K_M"), t);
  EXPECT_EQ(type_of(t, types, "blk.0.attn_q.weight"), kQ5_1);
  types = choose_tensor_types(find_ftype("Q8_0"), t);
  EXPECT_EQ(type_of(t, types, "blk.0.ffn_down.weight"), kF16);
}

// ---- quantize_model ---------------------------------------------------------------------

struct SmallModel {
  std::string path;
  std::vector<TensorDesc> tensors;
  std::vector<std::vector<float>> values;
};

// Writes a 2-layer llama-style model with gaussian weights in `type` (F32/F16/BF16).
SmallModel write_small_model(const std::string& name, uint32_t type) {
  SmallModel m;
  m.path = test::temp_dir() + "/" + name;
  m.tensors = llama_tensors(2, 256, 256, false);
  gguf::Writer w;
  w.set_string("general.architecture", "llama");
  w.set_u32("llama.block_count", 2);
  w.set_string("general.name", "small");
  w.set_u32("general.file_type", 0);
  std::mt19937 rng(1);
  // Writer::add_tensor_data reads `data` only in write(), so the bytes must outlive it.
  std::vector<std::vector<uint8_t>> keep;
  for (const TensorDesc& t : m.tensors) {
    uint64_t n = 1;
    for (uint64_t d : t.ne) n *= d;
    std::vector<float> v(n);
    std::normal_distribution<float> dist(t.ne.size() == 1 ? 1.0f : 0.0f, 0.1f);
    for (float& x : v) x = dist(rng);
    const uint32_t tt = t.ne.size() == 1 ? kF32 : type;
    const kernels::TypeTraits* tr = kernels::type_traits(tt);
    std::vector<uint8_t> bytes(kernels::row_bytes(*tr, static_cast<int64_t>(n)));
    tr->quantize_row_ref(v.data(), bytes.data(), static_cast<int64_t>(n));
    tr->dequantize_row_ref(bytes.data(), v.data(), static_cast<int64_t>(n));
    w.add_tensor_data(t.name, tt, t.ne, bytes.data(), bytes.size());
    keep.push_back(std::move(bytes));
    m.values.push_back(std::move(v));
  }
  w.write(m.path);
  return m;
}

std::vector<float> dequantize(const gguf::TensorInfo& t) {
  const kernels::TypeTraits* tr = kernels::type_traits(t.type);
  std::vector<float> v(t.n_elements);
  tr->dequantize_row_ref(t.data, v.data(), static_cast<int64_t>(t.n_elements));
  return v;
}

double rel_rms(const std::vector<float>& x, const std::vector<float>& y) {
  double err = 0, ref = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    err += (static_cast<double>(x[i]) - y[i]) * (static_cast<double>(x[i]) - y[i]);
    ref += static_cast<double>(x[i]) * x[i];
  }
  return std::sqrt(err / ref);
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(QuantizeModel, Q4KMFromF32) {
  const SmallModel m = write_small_model("small-f32.gguf", kF32);
  const std::string out = test::temp_dir() + "/small-q4km.gguf";
  QuantizeOptions opt;
  opt.ftype = "Q4_K_M";
  opt.n_threads = 2;
  std::vector<std::string> progress;
  opt.progress = [&](size_t done, size_t total, const std::string& what) {
    EXPECT_EQ(total, m.tensors.size());
    EXPECT_EQ(done, progress.size() + 1);
    progress.push_back(what);
  };
  quantize_model(m.path, out, opt);
  ASSERT_EQ(progress.size(), m.tensors.size());
  EXPECT_EQ(progress[0], "token_embd.weight Q4_K");

  const auto f = gguf::File::open(out);
  EXPECT_EQ(f->get_u32("general.file_type"), 15u);
  EXPECT_EQ(f->get_u32("general.quantization_version"), 2u);
  EXPECT_EQ(f->get_string("general.name"), "small");
  EXPECT_EQ(f->get_u32("llama.block_count"), 2u);
  EXPECT_EQ(f->alignment(), 32u);
  const auto types = choose_tensor_types(find_ftype("Q4_K_M"), m.tensors);
  ASSERT_EQ(f->tensors().size(), m.tensors.size());
  std::vector<float> all_src, all_out;
  for (size_t i = 0; i < m.tensors.size(); ++i) {
    const gguf::TensorInfo& t = f->tensors()[i];
    EXPECT_EQ(t.name, m.tensors[i].name);
    EXPECT_EQ(t.ne, m.tensors[i].ne) << t.name;
    EXPECT_EQ(t.type, types[i]) << t.name;
    const std::vector<float> v = dequantize(t);
    if (t.type == kF32) {
      EXPECT_EQ(v, m.values[i]) << t.name;  // 1-D tensors are copied exactly
    } else {
      all_src.insert(all_src.end(), m.values[i].begin(), m.values[i].end());
      all_out.insert(all_out.end(), v.begin(), v.end());
    }
  }
  EXPECT_EQ(type_of(m.tensors, types, "blk.1.ffn_down.weight"), kQ6_K);  // 7n/8 = 1
  EXPECT_EQ(type_of(m.tensors, types, "blk.0.ffn_down.weight"), kQ4_K);
  const double e = rel_rms(all_src, all_out);
  EXPECT_LT(e, kQ4KMRelRms);
  EXPECT_GT(e, 0.0);
}

TEST(QuantizeModel, F16FromBF16AndThreadCountDoesNotMatter) {
  const SmallModel m = write_small_model("small-bf16.gguf", kBF16);
  const std::string out1 = test::temp_dir() + "/small-f16-t1.gguf";
  const std::string out3 = test::temp_dir() + "/small-f16-t3.gguf";
  QuantizeOptions opt;
  opt.ftype = "F16";
  opt.n_threads = 1;
  quantize_model(m.path, out1, opt);
  opt.n_threads = 3;
  quantize_model(m.path, out3, opt);
  EXPECT_EQ(read_bytes(out1), read_bytes(out3));
  const auto f = gguf::File::open(out1);
  EXPECT_EQ(f->get_u32("general.file_type"), 1u);
  const gguf::TensorInfo* t = f->find_tensor("blk.0.ffn_up.weight");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->type, kF16);
  EXPECT_LT(rel_rms(m.values[9], dequantize(*t)), kF16RelRms);
}

TEST(QuantizeModel, RejectsQuantizedInputNamingTheTensor) {
  const SmallModel m = write_small_model("small-f32-b.gguf", kF32);
  const std::string q = test::temp_dir() + "/small-q8.gguf";
  QuantizeOptions opt;
  opt.ftype = "Q8_0";
  quantize_model(m.path, q, opt);
  try {
    quantize_model(q, test::temp_dir() + "/never.gguf", opt);
    FAIL() << "quantizing a Q8_0 model should throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("token_embd.weight"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("Q8_0"), std::string::npos) << e.what();
  }
  opt.ftype = "Q2_K";
  EXPECT_THROW(quantize_model(m.path, test::temp_dir() + "/never.gguf", opt), Error);
}

}  // namespace
}  // namespace petrel::tools
