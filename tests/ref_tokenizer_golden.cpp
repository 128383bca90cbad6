// llama.cpp's prompt tokens for every case of ../shared/golden/*.json (BOS as the model's
// add_bos_token says, special tokens parsed), and its decoded greedy continuation
// (greedy_text_hex) rebuilt from the pieces of greedy_tokens (control tokens such as a
// generated "<s>" appear as their text there, so pieces are taken with special = true; the
// end-of-generation token that stopped the run is not part of the text).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/tokenizer.h"
#include "gguf/gguf.h"
#include "tests/support/test_env.h"

namespace {

std::vector<std::string> golden_files() {
  const std::string dir = petrel::test::shared_dir();
  if (dir.empty()) return {"none"};
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir + "/golden")) {
    const std::string n = e.path().filename().string();
    if (e.path().extension() == ".json" && n != "dequant.json") out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string from_hex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

class GoldenTokens : public testing::TestWithParam<std::string> {};

TEST_P(GoldenTokens, PromptTokensAndGreedyText) {
  PETREL_REQUIRE_SHARED();
  std::ifstream in(petrel::test::shared_path("golden/" + GetParam()));
  ASSERT_TRUE(in) << GetParam();
  const nlohmann::json g = nlohmann::json::parse(in);
  auto file = petrel::gguf::File::open(
      petrel::test::shared_path("models/" + g["model"].get<std::string>()));
  auto tok = petrel::Tokenizer::from_gguf(*file);
  EXPECT_EQ(tok->n_vocab(), g["n_vocab"].get<int>());
  ASSERT_FALSE(g["cases"].empty());
  for (const auto& c : g["cases"]) {
    const std::string prompt = c["prompt"];
    const auto expected = c["prompt_tokens"].get<std::vector<int32_t>>();
    EXPECT_EQ(tok->encode(prompt, /*add_special=*/true, /*parse_special=*/true), expected)
        << "prompt '" << prompt << "'";
    std::string text;
    for (int32_t id : c["greedy_tokens"].get<std::vector<int32_t>>())
      if (!tok->is_eog(id)) text += tok->token_to_piece(id, /*special=*/true);
    EXPECT_EQ(text, from_hex(c["greedy_text_hex"])) << "prompt '" << prompt << "'";
  }
}

std::string param_name(const testing::TestParamInfo<std::string>& info) {
  std::string n = info.param;
  for (auto& c : n)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return n;
}

INSTANTIATE_TEST_SUITE_P(Golden, GoldenTokens, testing::ValuesIn(golden_files()), param_name);

}  // namespace
