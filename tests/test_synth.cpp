// Tests of `petrel synth`: the tiny shape and small made-up shapes written in Q8_0 and
// Q4_K_M, read back (tensor names, types, shapes, metadata, built-in tokenizer, weight
// statistics), determinism across thread counts, and loading by the engine.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "engine/ftype.h"
#include "gguf/gguf.h"
#include "kernels/types.h"
#include "petrel/petrel.h"
#include "petrel/tools.h"
#include "tests/support/test_env.h"

namespace petrel::tools {
namespace {

// Weight statistics of a synthetic model: sample std of a tensor of >= 64K gaussian values
// is within ~1% of the target; Q8_0 adds ~0.5%; 5% leaves room for both.
constexpr double kStdRelTol = 0.05;
// Norm weights are 1 +- 0.1: their mean over 256 values is within ~0.02 of 1.
constexpr double kNormMeanTol = 0.03;
constexpr uint32_t kBuiltinVocab = 512;  // engine/synth.cpp's built-in tokenizer for tiny

constexpr uint32_t kF32 = 0, kQ8_0 = 8, kQ4_K = 12, kQ6_K = 14;

// A small qwen2-like shape: tied output, QKV biases, 2 layers.
SynthShape small_qwen2() {
  return {"small-qwen2", "qwen2", 256, 2, 512, 4, 2, 320, 1024, 1e6f, 1e-6f, true, true};
}

std::string synth_to(const std::string& file, const std::string& shape, const std::string& type,
                     uint64_t seed = 1, int threads = 2) {
  SynthOptions opt;
  opt.shape = shape;
  opt.ftype = type;
  opt.out_path = test::temp_dir() + "/" + file;
  opt.seed = seed;
  opt.n_threads = threads;
  synth_model(opt);
  return opt.out_path;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<float> dequantize(const gguf::TensorInfo& t) {
  const kernels::TypeTraits* tr = kernels::type_traits(t.type);
  std::vector<float> v(t.n_elements);
  tr->dequantize_row_ref(t.data, v.data(), static_cast<int64_t>(t.n_elements));
  return v;
}

void mean_std(const std::vector<float>& v, double* mean, double* stddev) {
  double s = 0, s2 = 0;
  for (float x : v) {
    s += x;
    s2 += static_cast<double>(x) * x;
  }
  *mean = s / static_cast<double>(v.size());
  *stddev = std::sqrt(s2 / static_cast<double>(v.size()) - *mean * *mean);
}

TEST(Synth, TinyQ8_0TensorsAndMetadata) {
  const auto f = gguf::File::open(synth_to("tiny-q8_0.gguf", "tiny", "Q8_0"));
  EXPECT_EQ(f->get_string("general.architecture"), "llama");
  EXPECT_EQ(f->get_u32("llama.embedding_length"), 256u);
  EXPECT_EQ(f->get_u32("llama.block_count"), 4u);
  EXPECT_EQ(f->get_u32("llama.feed_forward_length"), 768u);
  EXPECT_EQ(f->get_u32("llama.attention.head_count"), 4u);
  EXPECT_EQ(f->get_u32("llama.attention.head_count_kv"), 2u);
  EXPECT_EQ(f->get_u32("llama.context_length"), 2048u);
  EXPECT_EQ(f->get_u32("llama.rope.dimension_count"), 64u);
  EXPECT_FLOAT_EQ(f->get_f32("llama.attention.layer_norm_rms_epsilon"), 1e-5f);
  EXPECT_FLOAT_EQ(f->get_f32("llama.rope.freq_base"), 10000.0f);
  EXPECT_EQ(f->get_u32("general.file_type"), 7u);
  EXPECT_EQ(f->get_u32("general.quantization_version"), 2u);

  ASSERT_EQ(f->tensors().size(), 2u + 4u * 9u + 1u);
  const std::vector<std::pair<std::string, std::vector<uint64_t>>> shapes = {
      {"token_embd.weight", {256, kBuiltinVocab}},
      {"output.weight", {256, kBuiltinVocab}},
      {"output_norm.weight", {256}},
      {"blk.3.attn_q.weight", {256, 256}},
      {"blk.3.attn_k.weight", {256, 128}},
      {"blk.3.attn_v.weight", {256, 128}},
      {"blk.3.attn_output.weight", {256, 256}},
      {"blk.3.ffn_gate.weight", {256, 768}},
      {"blk.3.ffn_up.weight", {256, 768}},
      {"blk.3.ffn_down.weight", {768, 256}},
      {"blk.3.attn_norm.weight", {256}},
      {"blk.3.ffn_norm.weight", {256}},
  };
  for (const auto& [name, ne] : shapes) {
    const gguf::TensorInfo* t = f->find_tensor(name);
    ASSERT_NE(t, nullptr) << name;
    EXPECT_EQ(t->ne, ne) << name;
    EXPECT_EQ(t->type, ne.size() == 1 ? kF32 : kQ8_0) << name;
  }
  EXPECT_EQ(f->find_tensor("blk.0.attn_q.bias"), nullptr);

  // Weight scales: projections 1/sqrt(fan-in), residual projections half that, norms ~1.
  double mean, sd;
  mean_std(dequantize(*f->find_tensor("blk.1.ffn_up.weight")), &mean, &sd);
  EXPECT_NEAR(sd, 1 / std::sqrt(256.0), kStdRelTol / std::sqrt(256.0));
  EXPECT_NEAR(mean, 0.0, 1e-3);  // std of the mean of 196608 values: 1.4e-4
  mean_std(dequantize(*f->find_tensor("blk.1.ffn_down.weight")), &mean, &sd);
  EXPECT_NEAR(sd, 0.5 / std::sqrt(768.0), kStdRelTol * 0.5 / std::sqrt(768.0));
  mean_std(dequantize(*f->find_tensor("token_embd.weight")), &mean, &sd);
  EXPECT_NEAR(sd, 1.0, kStdRelTol);
  mean_std(dequantize(*f->find_tensor("blk.2.attn_norm.weight")), &mean, &sd);
  EXPECT_NEAR(mean, 1.0, kNormMeanTol);
  EXPECT_GT(sd, 0.05);
  // Different tensors get different random streams.
  EXPECT_NE(dequantize(*f->find_tensor("blk.0.ffn_up.weight")),
            dequantize(*f->find_tensor("blk.1.ffn_up.weight")));

  // The built-in byte-level BPE tokenizer.
  EXPECT_EQ(f->get_string("tokenizer.ggml.model"), "gpt2");
  const auto tokens = f->get_string_array("tokenizer.ggml.tokens");
  const auto types = f->get_i32_array("tokenizer.ggml.token_type");
  ASSERT_EQ(tokens.size(), kBuiltinVocab);
  ASSERT_EQ(types.size(), kBuiltinVocab);
  EXPECT_EQ(tokens['A'], "A");
  EXPECT_EQ(tokens[' '], "Ġ");  // GPT-2 maps the space byte to U+0120
  EXPECT_EQ(tokens[0], "Ā");    // and byte 0 to U+0100
  const uint32_t bos = f->get_u32("tokenizer.ggml.bos_token_id");
  const uint32_t eos = f->get_u32("tokenizer.ggml.eos_token_id");
  EXPECT_EQ(types.at(bos), 3);
  EXPECT_EQ(types.at(eos), 3);
  EXPECT_EQ(types.back(), 5);
  EXPECT_FALSE(f->get_string_array("tokenizer.ggml.merges").empty());
}

TEST(Synth, TinyQ4KMTypesAndEngineLoads) {
  const std::string path = synth_to("tiny-q4km.gguf", "tiny", "Q4_K_M");
  {
    const auto f = gguf::File::open(path);
    EXPECT_EQ(f->get_u32("general.file_type"), 15u);
    // 4 layers: n/8 = 0, 7n/8 = 3, (i - 0) % 3 == 2 -> layers 2 and 3 get Q6_K.
    for (int l = 0; l < 4; ++l) {
      const std::string p = "blk." + std::to_string(l) + ".";
      const uint32_t more = l >= 2 ? kQ6_K : kQ4_K;
      EXPECT_EQ(f->find_tensor(p + "attn_v.weight")->type, more) << l;
      EXPECT_EQ(f->find_tensor(p + "ffn_down.weight")->type, more) << l;
      EXPECT_EQ(f->find_tensor(p + "ffn_gate.weight")->type, kQ4_K) << l;
      EXPECT_EQ(f->find_tensor(p + "attn_norm.weight")->type, kF32) << l;
    }
    EXPECT_EQ(f->find_tensor("output.weight")->type, kQ6_K);
    EXPECT_EQ(f->find_tensor("token_embd.weight")->type, kQ4_K);
  }
  // The engine loads it, and its tokenizer round-trips text through the merges.
  const auto model = Model::load(path);
  EXPECT_EQ(model->n_vocab(), static_cast<int>(kBuiltinVocab));
  EXPECT_EQ(model->info().n_layer, 4);
  const std::string text = "the weather in the north";
  const std::vector<TokenId> ids = model->tokenize(text, false, false);
  EXPECT_LT(ids.size(), text.size());  // merges such as "Ġthe" were applied
  EXPECT_EQ(model->detokenize(ids), text);
  const auto session = Session::create(*model);
  session->eval(model->tokenize(text, true, false));
  const float* logits = session->logits();
  float lo = logits[0], hi = logits[0];
  for (int i = 0; i < model->n_vocab(); ++i) {
    ASSERT_TRUE(std::isfinite(logits[i])) << i;
    lo = std::min(lo, logits[i]);
    hi = std::max(hi, logits[i]);
  }
  EXPECT_GT(hi - lo, 1.0f);  // random weights still give spread-out logits
  EXPECT_LT(hi - lo, 200.0f);
}

TEST(Synth, DeterministicAcrossThreadsAndSeeded) {
  const SynthShape shape = small_qwen2();
  SynthOptions opt;
  opt.ftype = "Q8_0";  // the generator is under test; Q8_0 keeps it fast
  opt.seed = 7;
  opt.n_threads = 1;
  opt.out_path = test::temp_dir() + "/sq-t1.gguf";
  synth_model_shape(shape, opt);
  opt.n_threads = 3;
  opt.out_path = test::temp_dir() + "/sq-t3.gguf";
  synth_model_shape(shape, opt);
  opt.seed = 8;
  opt.out_path = test::temp_dir() + "/sq-s8.gguf";
  synth_model_shape(shape, opt);
  const std::string a = read_bytes(test::temp_dir() + "/sq-t1.gguf");
  EXPECT_FALSE(a.empty());
  EXPECT_EQ(a, read_bytes(test::temp_dir() + "/sq-t3.gguf"));
  EXPECT_NE(a, read_bytes(test::temp_dir() + "/sq-s8.gguf"));
}

TEST(Synth, TiedQwen2ShapeWithBiases) {
  SynthOptions opt;
  opt.ftype = "Q4_K_M";
  opt.out_path = test::temp_dir() + "/sq.gguf";
  synth_model_shape(small_qwen2(), opt);
  const auto f = gguf::File::open(opt.out_path);
  EXPECT_EQ(f->get_string("general.architecture"), "qwen2");
  EXPECT_FLOAT_EQ(f->get_f32("qwen2.rope.freq_base"), 1e6f);
  EXPECT_FLOAT_EQ(f->get_f32("qwen2.attention.layer_norm_rms_epsilon"), 1e-6f);
  EXPECT_EQ(f->find_tensor("output.weight"), nullptr);
  const gguf::TensorInfo* embd = f->find_tensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(embd->type, kQ6_K);  // tied: the embedding is the output head
  EXPECT_EQ(embd->ne, (std::vector<uint64_t>{256, 320}));
  for (const char* b : {"attn_q.bias", "attn_k.bias", "attn_v.bias"}) {
    const gguf::TensorInfo* t = f->find_tensor(std::string("blk.1.") + b);
    ASSERT_NE(t, nullptr) << b;
    EXPECT_EQ(t->type, kF32) << b;
  }
  EXPECT_EQ(f->find_tensor("blk.1.attn_k.bias")->ne, (std::vector<uint64_t>{128}));
  EXPECT_EQ(f->get_string_array("tokenizer.ggml.tokens").size(), 320u);
}

TEST(Synth, ErrorsNameTheProblem) {
  SynthOptions opt;
  opt.shape = "llama-70b";
  opt.ftype = "Q8_0";
  opt.out_path = test::temp_dir() + "/never.gguf";
  try {
    synth_model(opt);
    FAIL() << "unknown shape should throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("llama-70b"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("qwen2-1.5b"), std::string::npos) << e.what();
  }
  opt.shape = "tiny";
  opt.ftype = "Q3_K";
  EXPECT_THROW(synth_model(opt), Error);
  EXPECT_EQ(synth_shapes(),
            (std::vector<std::string>{"llama-1b", "llama-8b", "qwen2-1.5b", "qwen2-7b", "tiny"}));
}

}  // namespace
}  // namespace petrel::tools
