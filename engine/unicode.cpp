// UTF-8 decoding, code point flags (from the generated range tables) and the GPT-2
// byte-level mapping.
#include "engine/unicode.h"

#include <algorithm>
#include <array>
#include <memory>

namespace petrel::unicode {

extern const CptRange kCptRanges[];
extern const size_t kCptRangeCount;
extern const CptRange kDeepseekLetterRanges[];
extern const size_t kDeepseekLetterRangeCount;

namespace {

constexpr uint32_t kMaxCpt = 0x10FFFF;

bool is_cont(uint8_t b) { return (b & 0xC0) == 0x80; }

// Flat code point -> flags table (1.1 MB), expanded once from the range table.
const uint8_t* flag_table() {
  static const std::unique_ptr<uint8_t[]> table = [] {
    auto t = std::make_unique<uint8_t[]>(kMaxCpt + 1);
    for (size_t i = 0; i < kCptRangeCount; ++i) {
      const CptRange& r = kCptRanges[i];
      std::fill(t.get() + r.first, t.get() + r.last + 1, r.flags);
    }
    return t;
  }();
  return table.get();
}

struct ByteMap {
  std::array<std::string, 256> to_text;
  std::array<int16_t, 512> from_cpt;  // code points 0..511 cover every image
};

const ByteMap& byte_map() {
  static const ByteMap map = [] {
    ByteMap m;
    m.from_cpt.fill(-1);
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      const uint32_t cp = printable ? static_cast<uint32_t>(b) : next++;
      append_utf8(m.to_text[b], cp);
      m.from_cpt[cp] = static_cast<int16_t>(b);
    }
    return m;
  }();
  return map;
}

}  // namespace

uint32_t utf8_decode(std::string_view s, size_t& pos) {
  const size_t n = s.size();
  const auto b = [&](size_t i) { return static_cast<uint8_t>(s[i]); };
  const uint8_t b0 = b(pos);
  if (b0 < 0x80) {
    pos += 1;
    return b0;
  }
  if ((b0 & 0xE0) == 0xC0) {
    if (pos + 1 < n && is_cont(b(pos + 1))) {
      const uint32_t cp = (uint32_t(b0 & 0x1F) << 6) | (b(pos + 1) & 0x3F);
      pos += 2;
      return cp;
    }
  } else if ((b0 & 0xF0) == 0xE0) {
    if (pos + 2 < n && is_cont(b(pos + 1)) && is_cont(b(pos + 2))) {
      const uint32_t cp =
          (uint32_t(b0 & 0x0F) << 12) | (uint32_t(b(pos + 1) & 0x3F) << 6) | (b(pos + 2) & 0x3F);
      pos += 3;
      return cp;
    }
  } else if ((b0 & 0xF8) == 0xF0) {
    if (pos + 3 < n && is_cont(b(pos + 1)) && is_cont(b(pos + 2)) && is_cont(b(pos + 3))) {
      const uint32_t cp = (uint32_t(b0 & 0x07) << 18) | (uint32_t(b(pos + 1) & 0x3F) << 12) |
                          (uint32_t(b(pos + 2) & 0x3F) << 6) | (b(pos + 3) & 0x3F);
      pos += 4;
      return cp;
    }
  }
  pos += 1;  // stray continuation byte, 0xF8..0xFF, or a truncated sequence
  return kReplacementChar;
}

std::vector<uint32_t> utf8_to_cpts(std::string_view s) {
  std::vector<uint32_t> out;
  out.reserve(s.size());
  size_t pos = 0;
  while (pos < s.size()) out.push_back(utf8_decode(s, pos));
  return out;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp > kMaxCpt) cp = kReplacementChar;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

uint8_t cpt_flags(uint32_t cp) { return cp > kMaxCpt ? 0 : flag_table()[cp]; }

bool is_deepseek_letter(uint32_t cp) {
  const CptRange* begin = kDeepseekLetterRanges;
  const CptRange* end = kDeepseekLetterRanges + kDeepseekLetterRangeCount;
  const CptRange* it =
      std::upper_bound(begin, end, cp, [](uint32_t v, const CptRange& r) { return v < r.first; });
  return it != begin && cp <= (it - 1)->last;
}

const std::string& byte_to_unicode(uint8_t b) { return byte_map().to_text[b]; }

int unicode_to_byte(uint32_t cp) { return cp < 512 ? byte_map().from_cpt[cp] : -1; }

}  // namespace petrel::unicode
