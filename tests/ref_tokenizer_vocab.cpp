// llama.cpp's tokenizer test vectors: for every ../shared/vocab/ggml-vocab-NAME.gguf with
// .inp/.out files, each test string must tokenize (no BOS/EOS, special tokens not parsed) to
// exactly the ids of its .out line. The .inp file is the concatenation of
// `string + "\n__ggml_vocab_test__\n"` for every string (a string may be empty or hold
// newlines); the .out file has one line of space-separated ids per string.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/tokenizer.h"
#include "gguf/gguf.h"
#include "tests/support/test_env.h"

namespace {

constexpr std::string_view kSeparator = "\n__ggml_vocab_test__\n";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> split_inputs(const std::string& inp) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < inp.size()) {
    const size_t sep = inp.find(kSeparator, pos);
    if (sep == std::string::npos) break;  // trailing text without a separator: not a case
    out.push_back(inp.substr(pos, sep - pos));
    pos = sep + kSeparator.size();
  }
  return out;
}

std::vector<std::vector<int32_t>> read_expected(const std::string& path) {
  std::vector<std::vector<int32_t>> out;
  std::istringstream in(read_file(path));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::vector<int32_t> ids;
    int32_t id;
    while (ls >> id) ids.push_back(id);
    out.push_back(std::move(ids));
  }
  return out;
}

std::vector<std::string> vocab_names() {
  const std::string dir = petrel::test::shared_dir();
  if (dir.empty()) return {"none"};
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir + "/vocab")) {
    const std::string n = e.path().filename().string();
    if (e.path().extension() == ".gguf" && std::filesystem::exists(e.path().string() + ".inp") &&
        std::filesystem::exists(e.path().string() + ".out"))
      out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string escape(const std::string& s) {
  std::string o;
  for (unsigned char c : s) {
    if (c == '\n')
      o += "\\n";
    else if (c == '\t')
      o += "\\t";
    else
      o += static_cast<char>(c);
  }
  return o;
}

std::string ids_text(const std::vector<int32_t>& ids) {
  std::string o;
  for (int32_t id : ids) o += std::to_string(id) + " ";
  return o;
}

class VocabTest : public testing::TestWithParam<std::string> {};

TEST_P(VocabTest, MatchesReferenceIds) {
  PETREL_REQUIRE_SHARED();
  const std::string path = petrel::test::shared_path("vocab/" + GetParam());
  const auto inputs = split_inputs(read_file(path + ".inp"));
  const auto expected = read_expected(path + ".out");
  ASSERT_GT(inputs.size(), 0u);
  ASSERT_EQ(inputs.size(), expected.size()) << "test strings vs .out lines in " << path;
  auto file = petrel::gguf::File::open(path);
  auto tok = petrel::Tokenizer::from_gguf(*file);
  int failures = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto got = tok->encode(inputs[i], /*add_special=*/false, /*parse_special=*/false);
    EXPECT_EQ(got, expected[i]) << "case " << i << " '" << escape(inputs[i]) << "'\n  expected "
                                << ids_text(expected[i]) << "\n  got      " << ids_text(got);
    failures += got != expected[i];
  }
  EXPECT_EQ(failures, 0);
}

// Decoding the ids of every test string gives the string back (valid UTF-8 inputs).
TEST_P(VocabTest, DecodeRoundTrip) {
  PETREL_REQUIRE_SHARED();
  const std::string path = petrel::test::shared_path("vocab/" + GetParam());
  const auto inputs = split_inputs(read_file(path + ".inp"));
  auto file = petrel::gguf::File::open(path);
  auto tok = petrel::Tokenizer::from_gguf(*file);
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto ids = tok->encode(inputs[i], false, false);
    EXPECT_EQ(tok->decode(ids), inputs[i]) << "case " << i << " '" << escape(inputs[i]) << "'";
  }
}

std::string param_name(const testing::TestParamInfo<std::string>& info) {
  std::string n = info.param;
  for (auto& c : n)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return n;
}

INSTANTIATE_TEST_SUITE_P(Vocab, VocabTest, testing::ValuesIn(vocab_names()), param_name);

}  // namespace
