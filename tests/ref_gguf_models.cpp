// Every GGUF file in ../shared/models and ../shared/vocab parses; spot checks of known
// metadata and tensor facts of stories260K (dim 64, 5 layers, vocab 512).
#include <gtest/gtest.h>

#include <filesystem>

#include "gguf/gguf.h"
#include "tests/support/test_env.h"

namespace petrel::gguf {
namespace {

TEST(GgufModels, EverySharedFileParses) {
  PETREL_REQUIRE_SHARED();
  size_t n_files = 0;
  for (const char* sub : {"models", "vocab"}) {
    for (const auto& entry : std::filesystem::directory_iterator(test::shared_path(sub))) {
      if (entry.path().extension() != ".gguf") continue;
      SCOPED_TRACE(entry.path().string());
      std::unique_ptr<File> f;
      ASSERT_NO_THROW(f = File::open(entry.path().string()));
      ++n_files;
      EXPECT_TRUE(f->version() == 2 || f->version() == 3);
      EXPECT_FALSE(f->get_string("general.architecture").empty());
      EXPECT_GT(f->get_string_array("tokenizer.ggml.tokens").size(), 0u);
      if (std::string(sub) == "models") {
        EXPECT_GT(f->tensors().size(), 0u);
        EXPECT_NE(f->find_tensor("token_embd.weight"), nullptr);
      }
      uint64_t end = 0;
      for (const auto& t : f->tensors()) {
        EXPECT_EQ((t.offset - f->data_offset()) % f->alignment(), 0u) << t.name;
        EXPECT_NE(ggml_type_info(t.type), nullptr) << t.name;
        EXPECT_TRUE(ggml_type_info(t.type)->supported) << t.name << " " << ggml_type_name(t.type);
        end = std::max(end, t.offset + t.n_bytes);
      }
      EXPECT_LE(end, f->size());
    }
  }
  EXPECT_GE(n_files, 15u + 7u);
}

TEST(GgufModels, Stories260KSpotChecks) {
  PETREL_REQUIRE_SHARED();
  auto f = File::open(test::shared_path("models/stories260K-f32.gguf"));
  EXPECT_EQ(f->get_string("general.architecture"), "llama");
  EXPECT_EQ(f->get_u32("llama.embedding_length"), 64u);
  EXPECT_EQ(f->get_u32("llama.block_count"), 5u);
  EXPECT_EQ(f->get_u32("llama.attention.head_count"), 8u);
  EXPECT_EQ(f->get_u32("llama.attention.head_count_kv"), 4u);
  EXPECT_EQ(f->get_string_array("tokenizer.ggml.tokens").size(), 512u);
  EXPECT_EQ(f->get_f32_array("tokenizer.ggml.scores").size(), 512u);
  EXPECT_EQ(f->get_i32_array("tokenizer.ggml.token_type").size(), 512u);
  EXPECT_EQ(f->get_string("tokenizer.ggml.model"), "llama");
  ASSERT_GT(f->tensors().size(), 0u);
  const TensorInfo* emb = f->find_tensor("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->type, uint32_t(GgmlType::kF32));
  EXPECT_EQ(emb->ne, (std::vector<uint64_t>{64, 512}));
  EXPECT_EQ(emb->n_bytes, 64u * 512 * 4);
  const TensorInfo* wq = f->find_tensor("blk.4.attn_q.weight");
  ASSERT_NE(wq, nullptr);
  EXPECT_EQ(wq->ne, (std::vector<uint64_t>{64, 64}));

  auto q = File::open(test::shared_path("models/stories260K-q4_k_m.gguf"));
  bool saw_q5_0 = false;
  for (const auto& t : q->tensors()) saw_q5_0 |= t.type == uint32_t(GgmlType::kQ5_0);
  EXPECT_TRUE(saw_q5_0);  // README: row length 64 falls back to Q5_0/Q8_0/F16

  auto big = File::open(test::shared_path("models/llama-2-tiny-random.gguf"));
  EXPECT_EQ(big->get_string_array("tokenizer.ggml.tokens").size(), 32000u);
}

}  // namespace
}  // namespace petrel::gguf
