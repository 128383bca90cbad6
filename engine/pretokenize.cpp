// Pre-tokenizer rules of llama.cpp's byte-level BPE vocabularies, as hand-written matchers.
// A rule is a list of regexes; each regex is a matcher that, at a position inside one piece,
// returns the length of the regex's leftmost-first match starting there (0: no match). The
// driver splits every piece into matches and the gaps between them, as llama.cpp does with
// std::regex. Lookahead and `$` see only the current piece, also as in llama.cpp.
#include "engine/pretokenize.h"

#include <utility>

#include "engine/unicode.h"

namespace petrel {
namespace {

using namespace petrel::unicode;

// The text being split: code points and their flags.
struct Text {
  const uint32_t* c;
  const uint8_t* f;
  bool letter(size_t i) const { return f[i] & kLetter; }
  bool number(size_t i) const { return f[i] & kNumber; }
  bool space(size_t i) const { return f[i] & kWhitespace; }
  // [^\s\p{L}\p{N}]
  bool other(size_t i) const { return !(f[i] & (kWhitespace | kLetter | kNumber)); }
  bool newline(size_t i) const { return c[i] == '\r' || c[i] == '\n'; }
};

// Returns the match length at pos, or 0; on 0 may set `skip` to the number of positions
// known not to start a match (default 1).
using Matcher = size_t (*)(const Text& t, size_t pos, size_t end, size_t& skip);

template <class Pred>
size_t run(size_t pos, size_t end, Pred pred) {
  size_t i = pos;
  while (i < end && pred(i)) ++i;
  return i - pos;
}

// `<lead>?X+` where <lead> is one code point accepted by lead(pos): greedy, then without it.
template <class Lead, class Pred>
size_t opt_lead_run(size_t pos, size_t end, Lead lead, Pred pred) {
  if (lead(pos) && pos + 1 < end && pred(pos + 1)) return 1 + run(pos + 1, end, pred);
  return run(pos, end, pred);
}

uint32_t ascii_lower(uint32_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

// 's 't 're 've 'm 'll 'd; case-insensitive (ASCII letters only) when `any_case`.
size_t contraction(const Text& t, size_t pos, size_t end, bool any_case) {
  if (t.c[pos] != '\'' || pos + 1 >= end) return 0;
  const auto low = [&](uint32_t c) { return any_case ? ascii_lower(c) : c; };
  const uint32_t c1 = low(t.c[pos + 1]);
  if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return 2;
  if (pos + 2 >= end) return 0;
  const uint32_t c2 = low(t.c[pos + 2]);
  if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) return 3;
  return 0;
}

// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
size_t match_gpt2(const Text& t, size_t pos, size_t end, size_t&) {
  if (size_t n = contraction(t, pos, end, false)) return n;
  const auto is_sp = [&](size_t i) { return t.c[i] == ' '; };
  if (size_t n = opt_lead_run(pos, end, is_sp, [&](size_t i) { return t.letter(i); })) return n;
  if (size_t n = opt_lead_run(pos, end, is_sp, [&](size_t i) { return t.number(i); })) return n;
  if (size_t n = opt_lead_run(pos, end, is_sp, [&](size_t i) { return t.other(i); })) return n;
  const size_t k = run(pos, end, [&](size_t i) { return t.space(i); });
  if (k == 0) return 0;
  if (pos + k == end) return k;  // (?!\S) holds at the end of the piece
  return k > 1 ? k - 1 : 0;      // back off one so that a space follows
}

// (?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|
// \p{N}{1,max_digits}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
template <size_t kMaxDigits>
size_t match_llama3(const Text& t, size_t pos, size_t end, size_t&) {
  if (size_t n = contraction(t, pos, end, true)) return n;
  if (!t.newline(pos) && !t.number(pos)) {
    if (t.letter(pos)) return run(pos, end, [&](size_t i) { return t.letter(i); });
    if (pos + 1 < end && t.letter(pos + 1))
      return 1 + run(pos + 1, end, [&](size_t i) { return t.letter(i); });
  }
  if (t.number(pos)) {
    size_t n = 1;
    while (n < kMaxDigits && pos + n < end && t.number(pos + n)) ++n;
    return n;
  }
  const auto is_sp = [&](size_t i) { return t.c[i] == ' '; };
  if (size_t n = opt_lead_run(pos, end, is_sp, [&](size_t i) { return t.other(i); }))
    return n + run(pos + n, end, [&](size_t i) { return t.newline(i); });
  const size_t k = run(pos, end, [&](size_t i) { return t.space(i); });
  if (k == 0) return 0;
  for (size_t j = pos + k; j > pos; --j)  // \s*[\r\n]+ ends after the run's last newline
    if (t.newline(j - 1)) return j - pos;
  if (pos + k == end) return k;
  return k > 1 ? k - 1 : k;  // \s+(?!\S), else \s+
}

// [\r\n]
size_t match_newline(const Text& t, size_t pos, size_t, size_t&) { return t.newline(pos) ? 1 : 0; }

// \s+$
size_t match_trailing_space(const Text& t, size_t pos, size_t end, size_t& skip) {
  const size_t k = run(pos, end, [&](size_t i) { return t.space(i); });
  if (k > 0 && pos + k == end) return k;
  if (k > 1) skip = k;
  return 0;
}

bool in_ranges(uint32_t c, std::initializer_list<std::pair<uint32_t, uint32_t>> ranges) {
  for (const auto& [a, b] : ranges)
    if (c >= a && c <= b) return true;
  return false;
}

// [一-龥ࠀ-一가-퟿]
bool is_cjk_class(uint32_t c) {
  return in_ranges(c, {{0x4E00, 0x9FA5}, {0x0800, 0x4E00}, {0xAC00, 0xD7FF}});
}
// [!-/:-~！-／：-～‘-‟　-。]
bool is_deepseek_punct(uint32_t c) {
  return in_ranges(c, {{0x21, 0x2F},
                       {0x3A, 0x7E},
                       {0xFF01, 0xFF0F},
                       {0xFF1A, 0xFF5E},
                       {0x2018, 0x201F},
                       {0x3000, 0x3002}});
}

// \s?[deepseek letters]+
size_t match_ds_letters(const Text& t, size_t pos, size_t end, size_t&) {
  return opt_lead_run(
      pos, end, [&](size_t i) { return t.space(i); },
      [&](size_t i) { return is_deepseek_letter(t.c[i]); });
}
// \s?[!-/:-~！-／：-～‘-‟　-。]+
size_t match_ds_punct(const Text& t, size_t pos, size_t end, size_t&) {
  return opt_lead_run(
      pos, end, [&](size_t i) { return t.space(i); },
      [&](size_t i) { return is_deepseek_punct(t.c[i]); });
}
// [一-龥ࠀ-一가-퟿]+
size_t match_cjk(const Text& t, size_t pos, size_t end, size_t&) {
  return run(pos, end, [&](size_t i) { return is_cjk_class(t.c[i]); });
}
// \p{N}+
size_t match_numbers(const Text& t, size_t pos, size_t end, size_t&) {
  return run(pos, end, [&](size_t i) { return t.number(i); });
}
// \p{N}
size_t match_number(const Text& t, size_t pos, size_t, size_t&) { return t.number(pos) ? 1 : 0; }
// \s?\p{L}+
size_t match_space_letters(const Text& t, size_t pos, size_t end, size_t&) {
  return opt_lead_run(
      pos, end, [&](size_t i) { return t.space(i); }, [&](size_t i) { return t.letter(i); });
}
// \s?\p{P}+
size_t match_space_punct(const Text& t, size_t pos, size_t end, size_t&) {
  return opt_lead_run(
      pos, end, [&](size_t i) { return t.space(i); },
      [&](size_t i) { return bool(t.f[i] & kPunct); });
}

bool is_ascii_in(uint32_t c, std::string_view set) {
  return c < 0x80 && set.find(static_cast<char>(c)) != std::string_view::npos;
}
// [\p{P}\$\+<=>\^~\|]+
size_t match_punct_default(const Text& t, size_t pos, size_t end, size_t&) {
  return run(pos, end,
             [&](size_t i) { return (t.f[i] & kPunct) || is_ascii_in(t.c[i], "$+<=>^~|"); });
}
// [\p{P}\$\+<=>\^~\|`]+
size_t match_punct_falcon(const Text& t, size_t pos, size_t end, size_t&) {
  return run(pos, end,
             [&](size_t i) { return (t.f[i] & kPunct) || is_ascii_in(t.c[i], "$+<=>^~|`"); });
}
// [0-9][0-9][0-9]
size_t match_three_digits(const Text& t, size_t pos, size_t end, size_t&) {
  const auto digit = [&](size_t i) { return t.c[i] >= '0' && t.c[i] <= '9'; };
  return (pos + 3 <= end && digit(pos) && digit(pos + 1) && digit(pos + 2)) ? 3 : 0;
}

std::vector<Matcher> rule(PreType type) {
  switch (type) {
    case PreType::kDefault:
      return {match_punct_default, match_gpt2, match_numbers, match_three_digits};
    case PreType::kGpt2:
      return {match_gpt2};
    case PreType::kLlama3:
      return {match_llama3<3>};
    case PreType::kQwen2:
      return {match_llama3<1>};
    case PreType::kDeepseekLlm:
      return {match_newline,        match_ds_letters, match_ds_punct,
              match_trailing_space, match_cjk,        match_numbers};
    case PreType::kDeepseekCoder:
      return {match_newline, match_space_letters, match_space_punct, match_cjk, match_number};
    case PreType::kFalcon:
      return {match_punct_falcon, match_gpt2, match_three_digits};
    case PreType::kStarcoder:
      return {match_number, match_gpt2};
  }
  return {match_gpt2};
}

// Splits each piece of `in` by one regex (matches and gaps both become pieces).
void split_pieces(const Text& t, const std::vector<uint32_t>& in, Matcher m,
                  std::vector<uint32_t>& out) {
  size_t start = 0;
  for (uint32_t len : in) {
    const size_t end = start + len;
    size_t pos = start, gap = start;
    while (pos < end) {
      size_t skip = 1;
      const size_t n = m(t, pos, end, skip);
      if (n == 0) {
        pos += skip;
        continue;
      }
      if (gap < pos) out.push_back(static_cast<uint32_t>(pos - gap));
      out.push_back(static_cast<uint32_t>(n));
      pos += n;
      gap = pos;
    }
    if (gap < end) out.push_back(static_cast<uint32_t>(end - gap));
    start = end;
  }
}

}  // namespace

bool pre_type_from_name(std::string_view name, PreType& type) {
  struct Entry {
    std::string_view name;
    PreType type;
  };
  static constexpr Entry kNames[] = {
      {"", PreType::kDefault},
      {"default", PreType::kDefault},
      {"gpt-2", PreType::kGpt2},
      {"gpt2", PreType::kGpt2},
      {"mpt", PreType::kGpt2},
      {"olmo", PreType::kGpt2},
      {"jais", PreType::kGpt2},
      {"phi-2", PreType::kGpt2},
      {"roberta-bpe", PreType::kGpt2},
      {"gigachat", PreType::kGpt2},
      {"trillion", PreType::kGpt2},
      {"llama3", PreType::kLlama3},
      {"llama-v3", PreType::kLlama3},
      {"llama-bpe", PreType::kLlama3},
      {"falcon3", PreType::kLlama3},
      {"pixtral", PreType::kLlama3},
      {"dbrx", PreType::kLlama3},
      {"smaug-bpe", PreType::kLlama3},
      {"qwen2", PreType::kQwen2},
      {"deepseek-r1-qwen", PreType::kQwen2},
      {"deepseek-llm", PreType::kDeepseekLlm},
      {"deepseek-coder", PreType::kDeepseekCoder},
      {"falcon", PreType::kFalcon},
      {"starcoder", PreType::kStarcoder},
      {"refact", PreType::kStarcoder},
      {"command-r", PreType::kStarcoder},
      {"smollm", PreType::kStarcoder},
      {"codeshell", PreType::kStarcoder},
      {"exaone", PreType::kStarcoder},
      {"minerva", PreType::kStarcoder},
  };
  for (const Entry& e : kNames) {
    if (e.name == name) {
      type = e.type;
      return true;
    }
  }
  return false;
}

void pretokenize_cpts(const std::vector<uint32_t>& cpts, PreType type,
                      std::vector<uint32_t>& lengths) {
  if (cpts.empty()) return;
  std::vector<uint8_t> flags(cpts.size());
  for (size_t i = 0; i < cpts.size(); ++i) flags[i] = cpt_flags(cpts[i]);
  const Text t{cpts.data(), flags.data()};
  std::vector<uint32_t> cur{static_cast<uint32_t>(cpts.size())}, next;
  for (Matcher m : rule(type)) {
    next.clear();
    split_pieces(t, cur, m, next);
    std::swap(cur, next);
  }
  lengths.insert(lengths.end(), cur.begin(), cur.end());
}

std::vector<std::string> pretokenize(std::string_view text, PreType type) {
  const std::vector<uint32_t> cpts = utf8_to_cpts(text);
  std::vector<uint32_t> lengths;
  pretokenize_cpts(cpts, type, lengths);
  std::vector<std::string> out;
  out.reserve(lengths.size());
  size_t start = 0;
  for (uint32_t len : lengths) {
    std::string piece;
    for (size_t i = start; i < start + len; ++i) append_utf8(piece, cpts[i]);
    out.push_back(std::move(piece));
    start += len;
  }
  return out;
}

}  // namespace petrel
