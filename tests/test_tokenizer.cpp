// Tokenizer unit tests on tiny vocabularies written with gguf::Writer: SentencePiece merges
// by score (ties leftmost), byte fallback, byte-level BPE merges by rank, ignore_merges,
// special tokens with parsing on and off, BOS/EOS, decode round trips, invalid UTF-8 and
// error messages. Expected ids are worked out by hand in the comments.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <random>

#include "engine/tokenizer.h"
#include "engine/unicode.h"
#include "gguf/gguf.h"
#include "gguf/writer.h"
#include "tests/support/test_env.h"

namespace {

using petrel::TokenId;
using petrel::Tokenizer;

std::string temp_file(const std::string& name) { return petrel::test::temp_dir() + "/" + name; }

std::unique_ptr<Tokenizer> load(const petrel::gguf::Writer& w, const std::string& name) {
  const std::string path = temp_file(name);
  w.write(path);
  auto file = petrel::gguf::File::open(path);
  return Tokenizer::from_gguf(*file);
}

// ---------------------------------------------------------------- SentencePiece-style

// ids: 0 <unk>, 1 <s>, 2 </s>, 3..258 <0x00>..<0xFF>, then kSpmWords from 259.
constexpr TokenId kByte0 = 3;
const std::vector<std::pair<std::string, float>> kSpmWords = {
    {"\xE2\x96\x81", -10},  // 259 ▁
    {"a", -5},              // 260
    {"b", -5},              // 261
    {"c", -5},              // 262
    {"ab", -2},             // 263
    {"bc", -1},             // 264
    {"\xE2\x96\x81"
     "a",
     -3},          // 265 ▁a
    {"aa", -1},    // 266
    {"<ctl>", 0},  // 267 control
    {"<usr>", 0},  // 268 user-defined
};
constexpr TokenId kSp = 259, kA = 260, kB = 261, kC = 262, kBC = 264, kSpA = 265, kAA = 266,
                  kCtl = 267, kUsr = 268;

petrel::gguf::Writer spm_writer() {
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<float> scores = {0, 0, 0};
  std::vector<int32_t> types = {2, 3, 3};
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof(buf), "<0x%02X>", b);
    tokens.push_back(buf);
    scores.push_back(0);
    types.push_back(6);
  }
  for (const auto& [t, s] : kSpmWords) {
    tokens.push_back(t);
    scores.push_back(s);
    types.push_back(t == "<ctl>" ? 3 : t == "<usr>" ? 4 : 1);
  }
  petrel::gguf::Writer w;
  w.set_string("tokenizer.ggml.model", "llama");
  w.set_string_array("tokenizer.ggml.tokens", tokens);
  w.set_f32_array("tokenizer.ggml.scores", scores);
  w.set_i32_array("tokenizer.ggml.token_type", types);
  w.set_u32("tokenizer.ggml.bos_token_id", 1);
  w.set_u32("tokenizer.ggml.eos_token_id", 2);
  return w;
}

TEST(SpmTokenizer, MergesHighestScoreFirst) {
  auto tok = load(spm_writer(), "spm.gguf");
  EXPECT_EQ(tok->model_name(), "llama");
  // "▁abc": bc (-1) beats ab (-2) and ▁a (-3); then ▁a merges: [▁a, bc].
  EXPECT_EQ(tok->encode("abc", false, false), (std::vector<TokenId>{kSpA, kBC}));
}

TEST(SpmTokenizer, EqualScoresMergeLeftmostFirst) {
  auto tok = load(spm_writer(), "spm_tie.gguf");
  // "▁aaa": aa at 1-2 and at 2-3 tie at -1 > ▁a (-3); the left one wins: [▁, aa, a].
  EXPECT_EQ(tok->encode("aaa", false, false), (std::vector<TokenId>{kSp, kAA, kA}));
}

TEST(SpmTokenizer, ByteFallbackForUnknownCharacters) {
  auto tok = load(spm_writer(), "spm_bytes.gguf");
  // "é" = C3 A9 is no token: its bytes.
  EXPECT_EQ(tok->encode("\xC3\xA9", false, false),
            (std::vector<TokenId>{kSp, kByte0 + 0xC3, kByte0 + 0xA9}));
  EXPECT_EQ(tok->decode(tok->encode("\xC3\xA9 abc", true, false)), "\xC3\xA9 abc");
}

TEST(SpmTokenizer, BosEosAndSpecialTokens) {
  auto tok = load(spm_writer(), "spm_special.gguf");
  EXPECT_TRUE(tok->add_bos());
  EXPECT_FALSE(tok->add_eos());
  EXPECT_EQ(tok->encode("", true, true), (std::vector<TokenId>{1}));
  EXPECT_EQ(tok->encode("", false, true), (std::vector<TokenId>{}));
  // Parsed: the control token is cut out and the text after it gets its own ▁ prefix.
  EXPECT_EQ(tok->encode("a<ctl>b", true, true), (std::vector<TokenId>{1, kSpA, kCtl, kSp, kB}));
  // Not parsed: "<ctl>" is text; '<' 't' 'l' '>' are no tokens and fall back to bytes.
  EXPECT_EQ(
      tok->encode("a<ctl>b", false, false),
      (std::vector<TokenId>{kSpA, kByte0 + '<', kC, kByte0 + 't', kByte0 + 'l', kByte0 + '>', kB}));
  // User-defined tokens are split out even without parse_special (as llama.cpp does).
  EXPECT_EQ(tok->encode("a<usr>", false, false), (std::vector<TokenId>{kSpA, kUsr}));
  EXPECT_EQ(tok->token_to_piece(kCtl), "");
  EXPECT_EQ(tok->token_to_piece(kCtl, true), "<ctl>");
  EXPECT_EQ(tok->token_to_piece(kSpA), " a");
  EXPECT_EQ(tok->token_to_piece(kByte0 + 0x41), "A");
  EXPECT_TRUE(tok->is_eog(2));
  EXPECT_FALSE(tok->is_eog(kA));
}

TEST(SpmTokenizer, DecodeDropsTheAddedSpace) {
  auto tok = load(spm_writer(), "spm_decode.gguf");
  for (const std::string s : {"abc aaa", "ab  c", " a", "aa\xC3\xA9", ""}) {
    EXPECT_EQ(tok->decode(tok->encode(s, true, true)), s) << s;
    EXPECT_EQ(tok->decode(tok->encode(s, false, true)), s) << s;
  }
}

TEST(SpmTokenizer, InvalidUtf8DoesNotCrash) {
  auto tok = load(spm_writer(), "spm_invalid.gguf");
  // Each invalid byte is a unit of its own and falls back to its byte token. (llama.cpp
  // would take 0xFF and the next 3 bytes as one 4-byte unit, whatever they are.)
  EXPECT_EQ(tok->encode("\xFF\xC3"
                        "a",
                        false, false),
            (std::vector<TokenId>{kSp, kByte0 + 0xFF, kByte0 + 0xC3, kA}));
  const std::string s = "a\x80\xC3\xE2\x96";
  EXPECT_EQ(tok->decode(tok->encode(s, false, false)), s);
}

TEST(SpmTokenizer, NoSpacePrefixWhenDisabled) {
  auto w = spm_writer();
  w.set_bool("tokenizer.ggml.add_space_prefix", false);
  auto tok = load(w, "spm_noprefix.gguf");
  EXPECT_EQ(tok->encode("abc", false, false), (std::vector<TokenId>{kA, kBC}));
  EXPECT_EQ(tok->decode({kSpA}), " a");
}

TEST(SpmTokenizer, MergesAcrossWordsWhenAVocabTokenSpansThem) {
  // "a▁" holds text followed by U+2581, so words cannot be merged separately.
  auto w = spm_writer();
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
  auto file_tokens = [&] {
    const std::string path = temp_file("spm_base.gguf");
    w.write(path);
    auto f = petrel::gguf::File::open(path);
    tokens = f->get_string_array("tokenizer.ggml.tokens");
    scores = f->get_f32_array("tokenizer.ggml.scores");
    types = f->get_i32_array("tokenizer.ggml.token_type");
  };
  file_tokens();
  tokens.push_back("a\xE2\x96\x81");  // 269
  scores.push_back(-0.5f);
  types.push_back(1);
  w.set_string_array("tokenizer.ggml.tokens", tokens);
  w.set_f32_array("tokenizer.ggml.scores", scores);
  w.set_i32_array("tokenizer.ggml.token_type", types);
  auto tok = load(w, "spm_span.gguf");
  // "▁a▁a": a▁ (-0.5) beats both ▁a (-3): [▁, a▁, a].
  EXPECT_EQ(tok->encode("a a", false, false), (std::vector<TokenId>{kSp, 269, kA}));
  EXPECT_EQ(tok->decode(tok->encode("a a", true, false)), "a a");
}

// ---------------------------------------------------------------- byte-level BPE

// ids 0..255: the GPT-2 stand-in character of byte b; then kBpeWords from 256.
const std::vector<std::string> kBpeWords = {"he", "ll",      "hell",    "hello", "\xC4\xA0h",
                                            "lo", "<|end|>", "<|bos|>", "<usr>"};
constexpr TokenId kHe = 256, kLl = 257, kHello = 259, kLo = 261, kEnd = 262, kBos = 263,
                  kBpeUsr = 264;
// Ranks: "h e" 0, "l l" 1, "he ll" 2, "hell o" 3, "Ġ h" 4 (no merge makes "lo").
const std::vector<std::string> kMerges = {"h e", "l l", "he ll", "hell o", "\xC4\xA0 h"};

petrel::gguf::Writer bpe_writer(const std::string& pre) {
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  for (int b = 0; b < 256; ++b) {
    tokens.push_back(petrel::unicode::byte_to_unicode(static_cast<uint8_t>(b)));
    types.push_back(1);
  }
  for (const auto& t : kBpeWords) {
    tokens.push_back(t);
    types.push_back(t == "<usr>" ? 4 : t[0] == '<' ? 3 : 1);
  }
  petrel::gguf::Writer w;
  w.set_string("tokenizer.ggml.model", "gpt2");
  w.set_string("tokenizer.ggml.pre", pre);
  w.set_string_array("tokenizer.ggml.tokens", tokens);
  w.set_i32_array("tokenizer.ggml.token_type", types);
  w.set_string_array("tokenizer.ggml.merges", kMerges);
  w.set_u32("tokenizer.ggml.bos_token_id", kBos);
  w.set_u32("tokenizer.ggml.eos_token_id", kEnd);
  w.set_bool("tokenizer.ggml.add_bos_token", true);
  return w;
}

TEST(BpeTokenizer, MergesByRank) {
  auto tok = load(bpe_writer("gpt-2"), "bpe.gguf");
  EXPECT_EQ(tok->model_name(), "gpt2");
  EXPECT_EQ(tok->pre_name(), "gpt-2");
  // h e l l o: he (0), ll (1), hell (2), hello (3).
  EXPECT_EQ(tok->encode("hello", false, false), (std::vector<TokenId>{kHello}));
  // Ġ h e l l o: "h e" (rank 0) goes before "Ġ h" (rank 4), leaving Ġ alone.
  EXPECT_EQ(tok->encode(" hello", false, false), (std::vector<TokenId>{' ', kHello}));
  // l l l: equal ranks merge leftmost first.
  EXPECT_EQ(tok->encode("lll", false, false), (std::vector<TokenId>{kLl, 'l'}));
  // No merge makes "lo" (a token) from "l o".
  EXPECT_EQ(tok->encode("lo", false, false), (std::vector<TokenId>{'l', 'o'}));
  // Bytes of non-ASCII text map to their stand-in tokens.
  EXPECT_EQ(tok->encode("\xC3\xA9", false, false), (std::vector<TokenId>{0xC3, 0xA9}));
}

TEST(BpeTokenizer, IgnoreMergesTakesWholeTokens) {
  auto tok = load(bpe_writer("llama-bpe"), "bpe_llama3.gguf");
  EXPECT_EQ(tok->encode("lo", false, false), (std::vector<TokenId>{kLo}));
  EXPECT_EQ(tok->encode("hello", false, false), (std::vector<TokenId>{kHello}));
}

TEST(BpeTokenizer, SpecialTokensAndBos) {
  auto tok = load(bpe_writer("gpt-2"), "bpe_special.gguf");
  EXPECT_EQ(tok->encode("hello<|end|>hello", true, true),
            (std::vector<TokenId>{kBos, kHello, kEnd, kHello}));
  // Not parsed: gpt-2 splits "hello" "<|" "end" "|>" "hello"; "end" has no merges.
  EXPECT_EQ(tok->encode("hello<|end|>hello", false, false),
            (std::vector<TokenId>{kHello, '<', '|', 'e', 'n', 'd', '|', '>', kHello}));
  EXPECT_EQ(tok->encode("x<usr>", false, false), (std::vector<TokenId>{'x', kBpeUsr}));
  EXPECT_TRUE(tok->is_eog(kEnd));
  EXPECT_EQ(tok->token_to_piece(kEnd), "");
  EXPECT_EQ(tok->token_to_piece(kEnd, true), "<|end|>");
  EXPECT_EQ(tok->decode({kBos, kHello, kEnd, ' ', kHello}, true), "<|bos|>hello<|end|> hello");
}

TEST(BpeTokenizer, DecodeRoundTrip) {
  auto tok = load(bpe_writer("gpt-2"), "bpe_decode.gguf");
  for (const std::string s : {" hello  world\n\n", "\xC3\xA9t\xC3\xA9 42!", "\t\r\n", ""})
    EXPECT_EQ(tok->decode(tok->encode(s, true, false)), s) << s;
}

TEST(BpeTokenizer, InvalidUtf8BecomesReplacementCharacter) {
  auto tok = load(bpe_writer("gpt-2"), "bpe_invalid.gguf");
  // As in llama.cpp, an invalid byte is one code point U+FFFD (EF BF BD).
  EXPECT_EQ(tok->encode("\xFF", false, false), (std::vector<TokenId>{0xEF, 0xBF, 0xBD}));
  EXPECT_EQ(tok->decode(tok->encode("a\xC3", false, false)), "a\xEF\xBF\xBD");
}

// Random bytes (mostly invalid UTF-8, with spaces and specials' characters mixed in) never
// crash, and decode gives the bytes back (BPE: with invalid bytes as U+FFFD).
TEST(Tokenizers, RandomBytesRoundTrip) {
  auto spm = load(spm_writer(), "spm_random.gguf");
  auto bpe = load(bpe_writer("llama-bpe"), "bpe_random.gguf");
  std::mt19937 rng(1234);
  const std::string alphabet = " abc<>|\n\t\xC3\xA9\xE2\x96\x81\xFF\x80";
  for (int iter = 0; iter < 300; ++iter) {
    std::string s(rng() % 48, '\0');
    for (char& c : s)
      c = (rng() % 2) ? alphabet[rng() % alphabet.size()] : static_cast<char>(rng() % 256);
    for (bool parse : {false, true}) {
      EXPECT_EQ(spm->decode(spm->encode(s, true, parse)), s);
      std::string clean;
      for (uint32_t cp : petrel::unicode::utf8_to_cpts(s)) petrel::unicode::append_utf8(clean, cp);
      EXPECT_EQ(bpe->decode(bpe->encode(s, true, parse)), clean);
    }
  }
}

// ---------------------------------------------------------------- errors

TEST(TokenizerErrors, MissingTokenizerNamesTheFile) {
  petrel::gguf::Writer w;
  w.set_string("general.architecture", "llama");
  const std::string path = temp_file("no_tokenizer.gguf");
  w.write(path);
  auto file = petrel::gguf::File::open(path);
  try {
    Tokenizer::from_gguf(*file);
    FAIL() << "expected an error";
  } catch (const petrel::Error& e) {
    EXPECT_EQ(std::string(e.what()), path + ": no tokenizer (tokenizer.ggml.model missing)");
  }
}

void expect_error(const petrel::gguf::Writer& w, const std::string& name, const std::string& text) {
  try {
    load(w, name);
    FAIL() << "expected an error containing '" << text << "'";
  } catch (const petrel::Error& e) {
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
  }
}

TEST(TokenizerErrors, UnsupportedOrMalformed) {
  auto w = spm_writer();
  w.set_string("tokenizer.ggml.model", "bert");
  expect_error(w, "bert.gguf", "tokenizer.ggml.model 'bert' is not supported");
  w = spm_writer();
  w.set_f32_array("tokenizer.ggml.scores", {0.0f, 1.0f});
  expect_error(w, "scores.gguf", "tokenizer.ggml.scores has 2 entries, expected 269");
  expect_error(bpe_writer("no-such-pre"), "pre.gguf", "tokenizer.ggml.pre 'no-such-pre'");
  auto b = bpe_writer("gpt-2");
  b.set_string_array("tokenizer.ggml.merges", {});
  auto tok = load(b, "nomerges.gguf");  // an empty merge list is valid: bytes only
  EXPECT_EQ(tok->encode("he", false, false), (std::vector<TokenId>{'h', 'e'}));
  auto t = load(spm_writer(), "range.gguf");
  EXPECT_THROW(t->token_to_piece(100000), petrel::Error);
  EXPECT_THROW(t->token_text(-1), petrel::Error);
}

}  // namespace
