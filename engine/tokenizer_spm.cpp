// SentencePiece-style tokenizer (`tokenizer.ggml.model` = "llama"), as llama.cpp runs it:
// spaces become U+2581 (with one prepended at the start of the text and after each special
// token when add_space_prefix), the text is split into UTF-8 characters (an invalid byte is
// a character of its own, so decoding gives any input back exactly), and adjacent
// symbols merge while their concatenation is a token, highest score first (ties: leftmost),
// through a priority queue in O(n log n). Symbols that are no token fall back to <0xNN> byte
// tokens, else to the unknown token.
#include <cstdio>
#include <queue>

#include "engine/tokenizer_vocab.h"
#include "engine/unicode.h"

namespace petrel::tok {
namespace {

constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";  // U+2581
constexpr size_t kMaxCacheEntries = 1 << 16;

class SpmTokenizer final : public TokenizerBase {
 public:
  explicit SpmTokenizer(Vocab vocab) : TokenizerBase(std::move(vocab)) {
    for (int b = 0; b < 256; ++b) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "<0x%02X>", b);
      TokenId id = vocab_.find(hex);
      if (id < 0) id = vocab_.find(std::string(1, static_cast<char>(b)));
      byte_id_[b] = id >= 0 ? id : vocab_.unk;
    }
    // Words (a run of U+2581 and what follows up to the next U+2581 after other text) can be
    // merged independently, and cached, when no token holds other text followed by U+2581:
    // then no merge can ever span a word boundary. True of the Llama/Phi-3 vocabularies.
    split_words_ = true;
    for (const std::string& t : vocab_.text) {
      for (size_t p = t.find(kSpaceMarker, 1); p != std::string::npos;
           p = t.find(kSpaceMarker, p + 1)) {
        if (p < kSpaceMarker.size() ||
            t.compare(p - kSpaceMarker.size(), kSpaceMarker.size(), kSpaceMarker) != 0) {
          split_words_ = false;
          break;
        }
      }
      if (!split_words_) break;
    }
  }

  std::vector<TokenId> encode(std::string_view text, bool add_special,
                              bool parse_special) const override {
    std::vector<TokenId> out;
    if (add_special && vocab_.add_bos && vocab_.bos >= 0) out.push_back(vocab_.bos);
    bool prev_special = true;  // the text start counts as following a special token
    std::string buf;
    Cache cache;
    for (const Fragment& f : special_.split(text, parse_special)) {
      if (f.token >= 0) {
        out.push_back(f.token);
        prev_special = true;
        continue;
      }
      buf.clear();
      if (vocab_.add_space_prefix && prev_special) buf += kSpaceMarker;
      for (char c : text.substr(f.begin, f.len)) {
        if (c == ' ')
          buf += kSpaceMarker;
        else
          buf += c;
      }
      tokenize_raw(buf, cache, out);
      prev_special = false;
    }
    if (add_special && vocab_.add_eos && vocab_.eos >= 0) out.push_back(vocab_.eos);
    return out;
  }

  // SentencePiece text: U+2581 stands for a space.
  std::string normal_piece(const std::string& t) const override {
    std::string out;
    out.reserve(t.size());
    for (size_t i = 0; i < t.size();) {
      if (t.compare(i, kSpaceMarker.size(), kSpaceMarker) == 0) {
        out += ' ';
        i += kSpaceMarker.size();
      } else {
        out += t[i++];
      }
    }
    return out;
  }

 private:
  struct Symbol {
    int32_t prev, next;
    uint32_t start, n;  // bytes [start, start + n) of the text; n = 0 once merged away
  };
  struct Bigram {
    float score;
    int32_t left, right;
    uint32_t size;
    bool operator<(const Bigram& o) const {  // priority: higher score, then leftmost
      return score < o.score || (score == o.score && left > o.left);
    }
  };

  using Cache = std::unordered_map<std::string, std::vector<TokenId>, StringHash, StringEq>;

  // Splits escaped text into words when that is exact (see split_words_), merging each word
  // once per distinct text; otherwise merges the whole text.
  void tokenize_raw(std::string_view text, Cache& cache, std::vector<TokenId>& out) const {
    if (!split_words_) {
      merge(text, out);
      return;
    }
    const auto is_marker = [&](size_t pos) {
      return text.compare(pos, kSpaceMarker.size(), kSpaceMarker) == 0;
    };
    size_t word = 0;
    bool prev_marker = false;
    for (size_t pos = 0; pos < text.size();) {
      const size_t n = unicode::utf8_unit_len(text, pos);
      const bool marker = n == kSpaceMarker.size() && is_marker(pos);
      if (marker && !prev_marker && pos > word) {
        merge_cached(text.substr(word, pos - word), cache, out);
        word = pos;
      }
      prev_marker = marker;
      pos += n;
    }
    if (word < text.size()) merge_cached(text.substr(word), cache, out);
  }

  void merge_cached(std::string_view word, Cache& cache, std::vector<TokenId>& out) const {
    auto it = cache.find(word);
    if (it == cache.end()) {
      if (cache.size() >= kMaxCacheEntries) cache.clear();
      std::vector<TokenId> ids;
      merge(word, ids);
      it = cache.emplace(std::string(word), std::move(ids)).first;
    }
    out.insert(out.end(), it->second.begin(), it->second.end());
  }

  // The bigram merge over UTF-8 characters of `text`.
  void merge(std::string_view text, std::vector<TokenId>& out) const {
    std::vector<Symbol> sym;
    sym.reserve(text.size());
    for (size_t pos = 0; pos < text.size();) {
      const size_t n = unicode::utf8_unit_len(text, pos);
      const int32_t i = static_cast<int32_t>(sym.size());
      sym.push_back({i - 1, pos + n < text.size() ? i + 1 : -1, static_cast<uint32_t>(pos),
                     static_cast<uint32_t>(n)});
      pos += n;
    }
    if (sym.empty()) return;
    std::vector<Bigram> storage;
    storage.reserve(sym.size());
    std::priority_queue<Bigram> queue(std::less<Bigram>(), std::move(storage));
    const auto try_add = [&](int32_t left, int32_t right) {
      if (left < 0 || right < 0) return;
      const uint32_t size = sym[left].n + sym[right].n;
      const TokenId id = vocab_.find(text.substr(sym[left].start, size));
      if (id < 0) return;
      queue.push({vocab_.score[id], left, right, size});
    };
    for (int32_t i = 1; i < static_cast<int32_t>(sym.size()); ++i) try_add(i - 1, i);
    while (!queue.empty()) {
      const Bigram b = queue.top();
      queue.pop();
      Symbol& l = sym[b.left];
      Symbol& r = sym[b.right];
      // Stale entry: a side was merged elsewhere (sizes only grow, so a changed pair differs).
      if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;
      l.n += r.n;
      r.n = 0;
      l.next = r.next;
      if (r.next >= 0) sym[r.next].prev = b.left;
      try_add(l.prev, b.left);
      try_add(b.left, l.next);
    }
    for (int32_t i = 0; i >= 0; i = sym[i].next) {
      const std::string_view piece = text.substr(sym[i].start, sym[i].n);
      const TokenId id = vocab_.find(piece);
      if (id >= 0) {
        out.push_back(id);
        continue;
      }
      for (char c : piece) {  // byte fallback
        const TokenId bid = byte_id_[static_cast<uint8_t>(c)];
        if (bid >= 0) out.push_back(bid);
      }
    }
  }

  TokenId byte_id_[256];
  bool split_words_ = false;
};

}  // namespace

std::unique_ptr<Tokenizer> make_spm_tokenizer(const gguf::File&, Vocab vocab) {
  return std::make_unique<SpmTokenizer>(std::move(vocab));
}

}  // namespace petrel::tok
