// petrel::tools::inspect_file on a small file written with the gguf Writer: header fields,
// hyper-parameters, tokenizer summary, long-array summaries, tensors, per-type totals.
#include <gtest/gtest.h>

#include "gguf/writer.h"
#include "petrel/tools.h"
#include "tests/support/test_env.h"

namespace petrel {
namespace {

std::string lookup(const std::vector<std::pair<std::string, std::string>>& kvs,
                   const std::string& k) {
  for (const auto& [key, v] : kvs)
    if (key == k) return v;
  return "(absent)";
}

TEST(Inspect, ReportsWriterFile) {
  gguf::Writer w(64);
  w.set_string("general.architecture", "llama");
  w.set_string("general.name", "tiny \"test\"\nmodel");
  w.set_u32("llama.embedding_length", 64);
  w.set_u32("llama.block_count", 2);
  w.set_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  std::vector<std::string> tokens;
  for (int k = 0; k < 20; ++k) tokens.push_back("tok" + std::to_string(k));
  tokens[1] = "<s>";
  tokens[2] = "</s>";
  w.set_string("tokenizer.ggml.model", "llama");
  w.set_string("tokenizer.ggml.pre", "default");
  w.set_string_array("tokenizer.ggml.tokens", tokens);
  w.set_u32("tokenizer.ggml.bos_token_id", 1);
  w.set_u32("tokenizer.ggml.eos_token_id", 2);
  w.set_bool("tokenizer.ggml.add_bos_token", true);
  w.set_i32_array("short", {1, -2, 3});
  std::vector<uint8_t> zeros(64 * 144, 0);
  w.add_tensor_data("token_embd.weight", uint32_t(gguf::GgmlType::kF16), {64, 20}, zeros.data(),
                    64 * 20 * 2);
  w.add_tensor_data("blk.0.attn_q.weight", uint32_t(gguf::GgmlType::kQ4_K), {256, 64}, zeros.data(),
                    64 * 144);
  w.add_tensor_data("blk.1.attn_q.weight", uint32_t(gguf::GgmlType::kQ4_K), {256, 64}, zeros.data(),
                    64 * 144);
  w.add_tensor_data("output_norm.weight", uint32_t(gguf::GgmlType::kF32), {64}, zeros.data(), 256);
  std::string path = test::temp_dir() + "/inspect.gguf";
  w.write(path);

  tools::InspectReport r = tools::inspect_file(path);
  EXPECT_EQ(r.path, path);
  EXPECT_EQ(r.version, 3u);
  EXPECT_EQ(r.alignment, 64u);
  EXPECT_GT(r.file_bytes, 2u * 64 * 144);
  EXPECT_EQ(r.architecture, "llama");
  EXPECT_EQ(lookup(r.hparams, "embedding_length"), "64");
  EXPECT_EQ(lookup(r.hparams, "block_count"), "2");
  EXPECT_EQ(lookup(r.hparams, "attention.layer_norm_rms_epsilon"), "1e-05");
  EXPECT_EQ(lookup(r.tokenizer, "model"), "llama");
  EXPECT_EQ(lookup(r.tokenizer, "pre"), "default");
  EXPECT_EQ(lookup(r.tokenizer, "n_vocab"), "20");
  EXPECT_EQ(lookup(r.tokenizer, "bos"), "1 \"<s>\"");
  EXPECT_EQ(lookup(r.tokenizer, "eos"), "2 \"</s>\"");
  EXPECT_EQ(lookup(r.tokenizer, "add_bos"), "true");

  bool saw_tokens = false, saw_short = false, saw_name = false, saw_arch_key = false;
  for (const auto& m : r.metadata) {
    saw_arch_key |= m.key.rfind("llama.", 0) == 0;
    if (m.key == "tokenizer.ggml.tokens") {
      saw_tokens = true;
      EXPECT_EQ(m.type, "array[string]");
      EXPECT_EQ(m.summary, "[20 x string] \"tok0\", \"<s>\", \"</s>\", ...");
    }
    if (m.key == "short") {
      saw_short = true;
      EXPECT_EQ(m.type, "array[i32]");
      EXPECT_EQ(m.summary, "[1, -2, 3]");
    }
    if (m.key == "general.name") {
      saw_name = true;
      EXPECT_EQ(m.summary, "\"tiny \\\"test\\\"\\nmodel\"");
    }
  }
  EXPECT_TRUE(saw_tokens && saw_short && saw_name);
  EXPECT_FALSE(saw_arch_key);  // shown under hparams instead

  ASSERT_EQ(r.tensors.size(), 4u);
  EXPECT_EQ(r.tensors[1].name, "blk.0.attn_q.weight");
  EXPECT_EQ(r.tensors[1].type, "Q4_K");
  EXPECT_EQ(r.tensors[1].shape, (std::vector<uint64_t>{256, 64}));
  EXPECT_EQ(r.tensors[1].n_bytes, 64u * 144);
  EXPECT_EQ(r.tensors[1].offset % 64, 0u);
  EXPECT_EQ(r.n_params, 64u * 20 + 2 * 256 * 64 + 64);
  ASSERT_EQ(r.type_totals.size(), 3u);
  EXPECT_EQ(r.type_totals[0].type, "Q4_K");  // largest first
  EXPECT_EQ(r.type_totals[0].count, 2u);
  EXPECT_EQ(r.type_totals[0].n_bytes, 2u * 64 * 144);
  EXPECT_EQ(r.type_totals[0].n_elements, 2u * 256 * 64);
}

TEST(Inspect, BadInputThrows) {
  EXPECT_THROW(tools::inspect_file(test::temp_dir() + "/missing.gguf"), Error);
  EXPECT_THROW(tools::inspect_file(test::temp_dir()), Error);
}

}  // namespace
}  // namespace petrel
