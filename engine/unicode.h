// UTF-8 decoding and Unicode code point classes for the tokenizers. Invalid UTF-8 never
// throws: like llama.cpp, a byte that does not start a well-formed sequence is one unit
// (decoded as U+FFFD by utf8_decode).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace petrel::unicode {

// Flag bits of a code point: its general-category group, plus White_Space.
enum CptFlag : uint8_t {
  kLetter = 0x01,      // L*
  kNumber = 0x02,      // N*
  kPunct = 0x04,       // P*
  kSymbol = 0x08,      // S*
  kMark = 0x10,        // M*
  kSeparator = 0x20,   // Z*
  kControl = 0x40,     // Cc, Cf, Co, Cs (unassigned Cn has no group bit)
  kWhitespace = 0x80,  // White_Space property
};

// One inclusive code point range of a generated table (engine/unicode_tables.cpp).
struct CptRange {
  uint32_t first;
  uint32_t last;
  uint8_t flags;
};

constexpr uint32_t kReplacementChar = 0xFFFD;

// Decodes the code point at s[pos] and advances pos. A lead byte without its continuation
// bytes (or a stray continuation byte) yields U+FFFD and advances by one byte.
uint32_t utf8_decode(std::string_view s, size_t& pos);
// Whole string -> code points (invalid bytes become U+FFFD, one per byte).
std::vector<uint32_t> utf8_to_cpts(std::string_view s);
// Appends the UTF-8 encoding of cp (cp <= 0x10FFFF; larger values become U+FFFD).
void append_utf8(std::string& out, uint32_t cp);
// Byte length of the unit at s[pos]: a well-formed UTF-8 sequence, else 1 (an invalid byte).
inline size_t utf8_unit_len(std::string_view s, size_t pos) {
  size_t p = pos;
  utf8_decode(s, p);
  return p - pos;
}

// CptFlag bits of a code point (0 for unassigned or out-of-range values).
uint8_t cpt_flags(uint32_t cp);
inline bool is_letter(uint32_t cp) { return cpt_flags(cp) & kLetter; }
inline bool is_number(uint32_t cp) { return cpt_flags(cp) & kNumber; }
inline bool is_punct(uint32_t cp) { return cpt_flags(cp) & kPunct; }
inline bool is_whitespace(uint32_t cp) { return cpt_flags(cp) & kWhitespace; }
// Member of the explicit letter class of llama.cpp's deepseek-llm pre-tokenizer.
bool is_deepseek_letter(uint32_t cp);

// GPT-2 byte-level mapping: byte -> the UTF-8 text of its printable stand-in code point.
const std::string& byte_to_unicode(uint8_t b);
// Inverse: code point -> byte, or -1 if cp is not the image of any byte.
int unicode_to_byte(uint32_t cp);

}  // namespace petrel::unicode
