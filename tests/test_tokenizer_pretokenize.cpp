// Pre-tokenizer splits of every rule on hand-checked strings (worked out from llama.cpp's
// regexes, see engine/pretokenize.cpp), UTF-8 decoding of invalid input, and code point
// classes from the generated Unicode tables.
#include <gtest/gtest.h>

#include "engine/pretokenize.h"
#include "engine/unicode.h"

namespace {

using petrel::pretokenize;
using petrel::PreType;
using Pieces = std::vector<std::string>;

TEST(Pretokenize, Gpt2) {
  EXPECT_EQ(pretokenize("Hello world's  test\n123 !!", PreType::kGpt2),
            (Pieces{"Hello", " world", "'s", " ", " test", "\n", "123", " !!"}));
  // Non-ASCII whitespace is \s: a run before a letter leaves its last one alone.
  EXPECT_EQ(pretokenize("a\u00A0\u00A0b", PreType::kGpt2), (Pieces{"a", "\u00A0", "\u00A0", "b"}));
  // Contractions are case-sensitive here.
  EXPECT_EQ(pretokenize("IT'S it's", PreType::kGpt2), (Pieces{"IT", "'", "S", " it", "'s"}));
  EXPECT_EQ(pretokenize("x  ", PreType::kGpt2), (Pieces{"x", "  "}));
  EXPECT_EQ(pretokenize("", PreType::kGpt2), (Pieces{}));
}

TEST(Pretokenize, Llama3) {
  EXPECT_EQ(pretokenize("Hello WORLD's 12345\n\n  x", PreType::kLlama3),
            (Pieces{"Hello", " WORLD", "'s", " ", "123", "45", "\n\n", " ", " x"}));
  EXPECT_EQ(pretokenize("IT'S (ok)\n", PreType::kLlama3), (Pieces{"IT", "'S", " (", "ok", ")\n"}));
  EXPECT_EQ(pretokenize("\"quoted\"", PreType::kLlama3), (Pieces{"\"quoted", "\""}));
}

TEST(Pretokenize, Qwen2) {
  EXPECT_EQ(pretokenize("abc 2024", PreType::kQwen2), (Pieces{"abc", " ", "2", "0", "2", "4"}));
}

TEST(Pretokenize, DeepseekLlm) {
  EXPECT_EQ(pretokenize("Hello, \u4e16\u754c 123\n", PreType::kDeepseekLlm),
            (Pieces{"Hello", ",", " ", "\u4e16\u754c", " ", "123", "\n"}));
  // Trailing spaces of a piece split off (\s+$).
  EXPECT_EQ(pretokenize("a \u00B5  ", PreType::kDeepseekLlm), (Pieces{"a", " \u00B5", "  "}));
  // The Kelvin sign is a letter there, but the "CJK" class [\u0800-\u4E00...] of a later
  // regex also covers it, so the space before it ends up alone.
  EXPECT_EQ(pretokenize("a \u212A", PreType::kDeepseekLlm), (Pieces{"a", " ", "\u212A"}));
}

TEST(Pretokenize, DeepseekCoder) {
  EXPECT_EQ(pretokenize("foo(bar) 42", PreType::kDeepseekCoder),
            (Pieces{"foo", "(", "bar", ")", " ", "4", "2"}));
}

TEST(Pretokenize, Falcon) {
  EXPECT_EQ(pretokenize("a+=1234", PreType::kFalcon), (Pieces{"a", "+=", "123", "4"}));
}

TEST(Pretokenize, Default) {
  EXPECT_EQ(pretokenize("x+=12345 ok", PreType::kDefault), (Pieces{"x", "+=", "123", "45", " ok"}));
}

TEST(Pretokenize, Starcoder) {
  EXPECT_EQ(pretokenize("ab12 c", PreType::kStarcoder), (Pieces{"ab", "1", "2", " c"}));
}

TEST(Pretokenize, InvalidUtf8IsReplacementCharacter) {
  EXPECT_EQ(pretokenize("a\xFF"
                        "b",
                        PreType::kGpt2),
            (Pieces{"a", "\xEF\xBF\xBD", "b"}));
}

TEST(Pretokenize, PreTypeNames) {
  PreType t;
  ASSERT_TRUE(petrel::pre_type_from_name("llama-bpe", t));
  EXPECT_EQ(t, PreType::kLlama3);
  ASSERT_TRUE(petrel::pre_type_from_name("deepseek-r1-qwen", t));
  EXPECT_EQ(t, PreType::kQwen2);
  ASSERT_TRUE(petrel::pre_type_from_name("refact", t));
  EXPECT_EQ(t, PreType::kStarcoder);
  EXPECT_FALSE(petrel::pre_type_from_name("nonsense", t));
}

TEST(Unicode, Utf8DecodeHandlesInvalidBytes) {
  using petrel::unicode::utf8_to_cpts;
  EXPECT_EQ(utf8_to_cpts("a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x81"),
            (std::vector<uint32_t>{'a', 0xE9, 0x20AC, 0x1F601}));
  // Truncated sequence, stray continuation byte, 0xFF: one U+FFFD per byte.
  EXPECT_EQ(utf8_to_cpts("\xE2\x82"), (std::vector<uint32_t>{0xFFFD, 0xFFFD}));
  EXPECT_EQ(utf8_to_cpts("\x80x\xFF"), (std::vector<uint32_t>{0xFFFD, 'x', 0xFFFD}));
  std::string s;
  petrel::unicode::append_utf8(s, 0x1F601);
  EXPECT_EQ(s, "\xF0\x9F\x98\x81");
}

TEST(Unicode, CodePointFlags) {
  using namespace petrel::unicode;
  EXPECT_EQ(cpt_flags('A'), kLetter);
  EXPECT_EQ(cpt_flags('5'), kNumber);
  EXPECT_EQ(cpt_flags('!'), kPunct);
  EXPECT_EQ(cpt_flags('$'), kSymbol);
  EXPECT_EQ(cpt_flags(' '), kSeparator | kWhitespace);
  EXPECT_EQ(cpt_flags('\n'), kControl | kWhitespace);
  EXPECT_EQ(cpt_flags(0x0301), kMark);    // combining acute accent
  EXPECT_EQ(cpt_flags(0x0660), kNumber);  // Arabic-Indic zero
  EXPECT_EQ(cpt_flags(0x4E00), kLetter);  // CJK
  EXPECT_EQ(cpt_flags(0x3000), kSeparator | kWhitespace);
  EXPECT_EQ(cpt_flags(0x0378), 0);          // unassigned
  EXPECT_EQ(cpt_flags(0x110000), 0);        // beyond Unicode
  EXPECT_TRUE(is_deepseek_letter(0x212A));  // Kelvin sign
  EXPECT_FALSE(is_deepseek_letter(0x4E00));
  EXPECT_EQ(unicode_to_byte(0x120), ' ');  // 'Ġ' stands for a space
  EXPECT_EQ(byte_to_unicode(' '), "\xC4\xA0");
  EXPECT_EQ(unicode_to_byte('a'), 'a');
  EXPECT_EQ(unicode_to_byte(0x4E00), -1);
}

}  // namespace
