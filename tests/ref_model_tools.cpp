// Model tools against llama.cpp's files in ../shared (label `reference`; skipped without it).
#include <gtest/gtest.h>

#include <cstring>

#include "gguf/gguf.h"
#include "petrel/tools.h"
#include "tests/support/test_env.h"

namespace petrel::tools {
namespace {

// llama.cpp quantized stories260K-f32 into stories260K-q4_k_m.gguf; the same tensors,
// types and bytes must come out here (reference data: skipped without ../shared).
TEST(QuantizeModel, MatchesLlamaCppOnStories260K) {
  PETREL_REQUIRE_SHARED();
  const std::string out = test::temp_dir() + "/stories-q4km.gguf";
  QuantizeOptions opt;
  opt.ftype = "Q4_K_M";
  quantize_model(test::shared_path("models/stories260K-f32.gguf"), out, opt);
  const auto ours = gguf::File::open(out);
  const auto ref = gguf::File::open(test::shared_path("models/stories260K-q4_k_m.gguf"));
  ASSERT_EQ(ours->tensors().size(), ref->tensors().size());
  for (const gguf::TensorInfo& r : ref->tensors()) {
    const gguf::TensorInfo* t = ours->find_tensor(r.name);
    ASSERT_NE(t, nullptr) << r.name;
    EXPECT_EQ(t->type, r.type) << r.name;
    ASSERT_EQ(t->n_bytes, r.n_bytes) << r.name;
    EXPECT_EQ(std::memcmp(t->data, r.data, r.n_bytes), 0) << r.name;
  }
  EXPECT_EQ(ours->get_u32("general.file_type"), ref->get_u32("general.file_type"));
}

TEST(Synth, VocabFromAnotherModel) {
  PETREL_REQUIRE_SHARED();
  SynthOptions opt;
  opt.shape = "tiny";
  opt.ftype = "Q8_0";
  opt.vocab_path = test::shared_path("models/stories260K-f32.gguf");
  opt.out_path = test::temp_dir() + "/tiny-stories-vocab.gguf";
  synth_model(opt);
  const auto f = gguf::File::open(opt.out_path);
  const auto src = gguf::File::open(opt.vocab_path);
  EXPECT_EQ(f->get_string("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(f->get_string_array("tokenizer.ggml.tokens"),
            src->get_string_array("tokenizer.ggml.tokens"));
  EXPECT_EQ(f->find_tensor("token_embd.weight")->ne, (std::vector<uint64_t>{256, 512}));
}

}  // namespace
}  // namespace petrel::tools
