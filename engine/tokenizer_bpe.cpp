// Byte-level BPE tokenizer (`tokenizer.ggml.model` = "gpt2"), as llama.cpp runs it: the text
// is split by the pre-tokenizer of `tokenizer.ggml.pre` (engine/pretokenize.cpp), each piece's
// bytes are mapped to GPT-2's printable code points, and adjacent symbols merge by the rank of
// their pair in `tokenizer.ggml.merges` (lowest first; ties: leftmost) through a priority
// queue. Llama-3-style vocabularies ("ignore_merges") take a piece that is a whole token as is.
// Pieces repeat a lot in real text, so results are cached per encode() call.
#include <queue>

#include "engine/pretokenize.h"
#include "engine/tokenizer_vocab.h"
#include "engine/unicode.h"
#include "gguf/gguf.h"

namespace petrel::tok {
namespace {

constexpr size_t kMaxCacheEntries = 1 << 16;

class BpeTokenizer final : public TokenizerBase {
 public:
  BpeTokenizer(const gguf::File& file, Vocab vocab) : TokenizerBase(std::move(vocab)) {
    const std::string& pre = vocab_.pre;
    if (!pre_type_from_name(pre, pre_type_))
      throw Error(vocab_.path + ": tokenizer.ggml.pre '" + pre +
                  "' is not a supported pre-tokenizer");
    ignore_merges_ = pre == "llama3" || pre == "llama-v3" || pre == "llama-bpe" ||
                     pre == "falcon3" || pre == "pixtral";
    if (!file.has("tokenizer.ggml.merges"))
      throw Error(vocab_.path +
                  ": tokenizer.ggml.merges missing (required by tokenizer.ggml.model 'gpt2')");
    const std::vector<std::string> merges = file.get_string_array("tokenizer.ggml.merges");
    merges_.reserve(merges.size());
    std::string joined;
    for (size_t rank = 0; rank < merges.size(); ++rank) {
      const std::string& m = merges[rank];
      const size_t sp = m.find(' ', 1);
      if (sp == std::string::npos) continue;
      const TokenId a = vocab_.find(std::string_view(m).substr(0, sp));
      const TokenId b = vocab_.find(std::string_view(m).substr(sp + 1));
      joined.assign(m, 0, sp);
      joined.append(m, sp + 1);
      const TokenId r = vocab_.find(joined);
      if (a < 0 || b < 0 || r < 0) continue;  // unreachable with token-valued symbols
      merges_.emplace(pair_key(a, b), Merge{static_cast<int32_t>(rank), r});  // first wins
    }
    for (int b = 0; b < 256; ++b) byte_id_[b] = vocab_.find(unicode::byte_to_unicode(uint8_t(b)));
  }

  std::vector<TokenId> encode(std::string_view text, bool add_special,
                              bool parse_special) const override {
    std::vector<TokenId> out;
    if (add_special && vocab_.add_bos && vocab_.bos >= 0) out.push_back(vocab_.bos);
    Cache cache;
    for (const Fragment& f : special_.split(text, parse_special)) {
      if (f.token >= 0)
        out.push_back(f.token);
      else
        tokenize_raw(text.substr(f.begin, f.len), cache, out);
    }
    if (add_special && vocab_.add_eos && vocab_.eos >= 0) out.push_back(vocab_.eos);
    return out;
  }

  // Byte-level BPE text: each character stands for one byte (GPT-2 mapping).
  std::string normal_piece(const std::string& t) const override {
    std::string out;
    out.reserve(t.size());
    size_t pos = 0;
    while (pos < t.size()) {
      const size_t start = pos;
      const uint32_t cp = unicode::utf8_decode(t, pos);
      const int b = unicode::unicode_to_byte(cp);
      if (b >= 0)
        out += static_cast<char>(b);
      else
        out.append(t, start, pos - start);  // not a mapped byte: keep its text
    }
    return out;
  }

 private:
  struct Merge {
    int32_t rank;
    TokenId result;
  };
  struct Symbol {
    int32_t prev, next;
    TokenId id;  // -1: a byte whose mapped character is no token
  };
  struct Bigram {
    int32_t rank;
    int32_t left, right;
    TokenId left_id, right_id, result;
    bool operator<(const Bigram& o) const {  // priority: lower rank, then leftmost
      return rank > o.rank || (rank == o.rank && left > o.left);
    }
  };
  using Cache = std::unordered_map<std::string, std::vector<TokenId>, StringHash, StringEq>;

  static uint64_t pair_key(TokenId a, TokenId b) {
    return (uint64_t(uint32_t(a)) << 32) | uint32_t(b);
  }

  void tokenize_raw(std::string_view raw, Cache& cache, std::vector<TokenId>& out) const {
    // Code points and a clean UTF-8 copy (invalid bytes become U+FFFD, as in llama.cpp).
    std::vector<uint32_t> cpts = unicode::utf8_to_cpts(raw);
    std::string clean;
    clean.reserve(raw.size() + 8);
    std::vector<uint32_t> offset(cpts.size() + 1);
    for (size_t i = 0; i < cpts.size(); ++i) {
      offset[i] = static_cast<uint32_t>(clean.size());
      unicode::append_utf8(clean, cpts[i]);
    }
    offset[cpts.size()] = static_cast<uint32_t>(clean.size());
    std::vector<uint32_t> lengths;
    pretokenize_cpts(cpts, pre_type_, lengths);
    size_t c = 0;
    for (uint32_t len : lengths) {
      const std::string_view word =
          std::string_view(clean).substr(offset[c], offset[c + len] - offset[c]);
      c += len;
      auto it = cache.find(word);
      if (it == cache.end()) {
        if (cache.size() >= kMaxCacheEntries) cache.clear();
        std::vector<TokenId> ids;
        bpe_word(word, ids);
        it = cache.emplace(std::string(word), std::move(ids)).first;
      }
      out.insert(out.end(), it->second.begin(), it->second.end());
    }
  }

  void bpe_word(std::string_view word, std::vector<TokenId>& out) const {
    if (ignore_merges_) {
      std::string mapped;
      for (char ch : word) mapped += unicode::byte_to_unicode(static_cast<uint8_t>(ch));
      const TokenId id = vocab_.find(mapped);
      if (id >= 0) {
        out.push_back(id);
        return;
      }
    }
    const int32_t n = static_cast<int32_t>(word.size());
    std::vector<Symbol> sym(n);
    for (int32_t i = 0; i < n; ++i)
      sym[i] = {i - 1, i + 1 < n ? i + 1 : -1, byte_id_[static_cast<uint8_t>(word[i])]};
    std::priority_queue<Bigram> queue;
    const auto try_add = [&](int32_t left, int32_t right) {
      if (left < 0 || right < 0 || sym[left].id < 0 || sym[right].id < 0) return;
      auto it = merges_.find(pair_key(sym[left].id, sym[right].id));
      if (it == merges_.end()) return;
      queue.push({it->second.rank, left, right, sym[left].id, sym[right].id, it->second.result});
    };
    for (int32_t i = 1; i < n; ++i) try_add(i - 1, i);
    while (!queue.empty()) {
      const Bigram b = queue.top();
      queue.pop();
      Symbol& l = sym[b.left];
      Symbol& r = sym[b.right];
      // Stale entry: a side merged elsewhere since it was queued.
      if (l.id != b.left_id || r.id != b.right_id || l.next != b.right) continue;
      l.id = b.result;
      l.next = r.next;
      if (r.next >= 0) sym[r.next].prev = b.left;
      r.id = -1;
      r.prev = r.next = -2;  // detached
      try_add(l.prev, b.left);
      try_add(b.left, l.next);
    }
    for (int32_t i = 0; i >= 0; i = sym[i].next) {
      if (sym[i].id >= 0) {
        out.push_back(sym[i].id);
        continue;
      }
      // A byte whose mapped character is no token: try its UTF-8 bytes as tokens (llama.cpp).
      for (char ch : unicode::byte_to_unicode(static_cast<uint8_t>(word[i]))) {
        const TokenId id = vocab_.find(std::string_view(&ch, 1));
        if (id >= 0) out.push_back(id);
      }
    }
  }

  PreType pre_type_ = PreType::kDefault;
  bool ignore_merges_ = false;
  std::unordered_map<uint64_t, Merge> merges_;
  TokenId byte_id_[256];
};

}  // namespace

std::unique_ptr<Tokenizer> make_bpe_tokenizer(const gguf::File& file, Vocab vocab) {
  return std::make_unique<BpeTokenizer>(file, std::move(vocab));
}

}  // namespace petrel::tok
