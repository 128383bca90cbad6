// Tokenizer front: reads the vocabulary from GGUF metadata, picks the SentencePiece-style or
// byte-level BPE tokenizer, splits out special tokens, and frames decoding. The special-token
// and BOS/EOS rules follow llama.cpp (llama-vocab.cpp), the reference the tests compare with.
#include <algorithm>
#include <cstdio>
#include <set>

#include "engine/tokenizer_vocab.h"
#include "gguf/gguf.h"

namespace petrel {
namespace tok {
namespace {

// Texts that end generation when they are control tokens (llama.cpp's list, plus "</s>").
const std::set<std::string_view>& eog_texts() {
  static const std::set<std::string_view> kTexts = {"<|eot_id|>",
                                                    "<|im_end|>",
                                                    "<|end|>",
                                                    "<end_of_turn>",
                                                    "<|endoftext|>",
                                                    "<|eom_id|>",
                                                    "<EOT>",
                                                    "_<EOT>",
                                                    "<|end_of_text|>",
                                                    "<｜end▁of▁sentence｜>",
                                                    "</s>",
                                                    "<end_of_utterance>"};
  return kTexts;
}
// Texts llama.cpp takes as EOT when tokenizer.ggml.eot_token_id is absent.
const std::set<std::string_view>& eot_texts() {
  static const std::set<std::string_view> kTexts = {
      "<|eot_id|>",    "<|im_end|>", "<|end|>", "<end_of_turn>",
      "<|endoftext|>", "<EOT>",      "_<EOT>",  "<｜end▁of▁sentence｜>"};
  return kTexts;
}

// Reads an optional token-id key; values outside [0, n) (e.g. 0xFFFFFFFF for "none") keep
// `def`, as llama.cpp does.
TokenId read_id(const gguf::File& file, std::string_view key, TokenId def, int32_t n) {
  const gguf::Value* v = file.find(key);
  if (v == nullptr) return def;
  int64_t x = -1;
  switch (v->type) {
    case gguf::ValueType::kU8:
    case gguf::ValueType::kU16:
    case gguf::ValueType::kU32:
    case gguf::ValueType::kU64:
      x = v->u > uint64_t(INT32_MAX) ? -1 : int64_t(v->u);
      break;
    case gguf::ValueType::kI8:
    case gguf::ValueType::kI16:
    case gguf::ValueType::kI32:
    case gguf::ValueType::kI64:
      x = v->i;
      break;
    default:
      throw Error(file.path() + ": key '" + std::string(key) +
                  "': expected an integer token id, got " + gguf::value_type_name(v->type));
  }
  return (x >= 0 && x < n) ? static_cast<TokenId>(x) : def;
}

bool is_llama3_pre(const std::string& pre) {
  return pre == "llama3" || pre == "llama-v3" || pre == "llama-bpe" || pre == "falcon3" ||
         pre == "pixtral";
}

}  // namespace

Vocab load_vocab(const gguf::File& file, const std::string& model) {
  Vocab v;
  v.path = file.path();
  v.model = model;
  v.pre = file.get_string("tokenizer.ggml.pre", "default");
  if (!file.has("tokenizer.ggml.tokens"))
    throw Error(v.path + ": tokenizer.ggml.tokens missing (tokenizer.ggml.model is '" + model +
                "')");
  v.text = file.get_string_array("tokenizer.ggml.tokens");
  const size_t n = v.text.size();
  if (n == 0 || n > size_t(INT32_MAX))
    throw Error(v.path + ": tokenizer.ggml.tokens has " + std::to_string(n) + " entries");
  if (file.has("tokenizer.ggml.scores")) {
    v.score = file.get_f32_array("tokenizer.ggml.scores");
    if (v.score.size() != n)
      throw Error(v.path + ": tokenizer.ggml.scores has " + std::to_string(v.score.size()) +
                  " entries, expected " + std::to_string(n) + " (one per token)");
  } else {
    v.score.assign(n, 0.0f);
  }
  v.attr.assign(n, TokenAttr::kNormal);
  if (file.has("tokenizer.ggml.token_type")) {
    const std::vector<int32_t> types = file.get_i32_array("tokenizer.ggml.token_type");
    if (types.size() != n)
      throw Error(v.path + ": tokenizer.ggml.token_type has " + std::to_string(types.size()) +
                  " entries, expected " + std::to_string(n) + " (one per token)");
    for (size_t i = 0; i < n; ++i)
      v.attr[i] = (types[i] >= 1 && types[i] <= 6) ? static_cast<TokenAttr>(types[i])
                                                   : TokenAttr::kUndefined;
  }
  v.to_id.reserve(n);
  for (size_t i = 0; i < n; ++i) v.to_id[v.text[i]] = static_cast<TokenId>(i);  // last wins

  const int32_t nv = static_cast<int32_t>(n);
  const bool spm = model == "llama";
  const auto in_range = [&](TokenId id) { return id < nv ? id : -1; };
  v.bos = read_id(file, "tokenizer.ggml.bos_token_id", in_range(spm ? 1 : 11), nv);
  v.eos = read_id(file, "tokenizer.ggml.eos_token_id", in_range(spm ? 2 : 11), nv);
  v.unk = read_id(file, "tokenizer.ggml.unknown_token_id", spm ? 0 : -1, nv);
  v.pad = read_id(file, "tokenizer.ggml.padding_token_id", -1, nv);
  v.eot = read_id(file, "tokenizer.ggml.eot_token_id", -1, nv);
  if (v.eot < 0) {
    for (int32_t i = 0; i < nv && v.eot < 0; ++i)
      if (v.attr[i] == TokenAttr::kControl && eot_texts().count(v.text[i])) v.eot = i;
  }
  v.add_bos = file.get_bool("tokenizer.ggml.add_bos_token", spm || is_llama3_pre(v.pre));
  v.add_eos = file.get_bool("tokenizer.ggml.add_eos_token", false);
  v.add_space_prefix = spm && file.get_bool("tokenizer.ggml.add_space_prefix", true);

  v.eog.assign(n, 0);
  for (int32_t i = 0; i < nv; ++i)
    if (v.attr[i] == TokenAttr::kControl && eog_texts().count(v.text[i])) v.eog[i] = 1;
  if (v.eos >= 0) v.eog[v.eos] = 1;
  if (v.eot >= 0) v.eog[v.eot] = 1;
  return v;
}

SpecialMatcher::SpecialMatcher(const Vocab& vocab) : vocab_(vocab), trie_(1) {
  std::vector<TokenId> ids;
  for (TokenId i = 0; i < vocab.size(); ++i) {
    const TokenAttr a = vocab.attr[i];
    if ((a == TokenAttr::kControl || a == TokenAttr::kUserDefined || a == TokenAttr::kUnknown) &&
        !vocab.text[i].empty())
      ids.push_back(i);
  }
  std::sort(ids.begin(), ids.end(), [&](TokenId a, TokenId b) {
    const size_t la = vocab.text[a].size(), lb = vocab.text[b].size();
    return la != lb ? la > lb : a < b;
  });
  rank_.assign(vocab.size(), -1);
  for (size_t r = 0; r < ids.size(); ++r) {
    const TokenId id = ids[r];
    rank_[id] = static_cast<int32_t>(r);
    int32_t node = 0;
    for (unsigned char ch : vocab.text[id]) {
      auto& next = trie_[node].next;
      auto it = std::lower_bound(next.begin(), next.end(), ch,
                                 [](const auto& e, uint8_t b) { return e.first < b; });
      int32_t child;
      if (it == next.end() || it->first != ch) {
        child = static_cast<int32_t>(trie_.size());
        next.insert(it, {ch, child});
        trie_.emplace_back();  // invalidates `next` and `it`
      } else {
        child = it->second;
      }
      node = child;
    }
    if (trie_[node].token < 0) trie_[node].token = id;  // same text: the first in order wins
    first_byte_[static_cast<unsigned char>(vocab.text[id][0])] = true;
  }
}

std::vector<Fragment> SpecialMatcher::split(std::string_view text, bool parse_special) const {
  std::vector<Fragment> out;
  if (text.empty()) return out;
  const auto allowed = [&](TokenId id) {
    return parse_special || vocab_.attr[id] == TokenAttr::kUserDefined;
  };
  struct Occurrence {
    int32_t rank;
    size_t pos;
    TokenId id;
  };
  std::vector<Occurrence> occ;
  for (size_t pos = 0; pos < text.size(); ++pos) {
    if (!first_byte_[static_cast<unsigned char>(text[pos])]) continue;
    int32_t node = 0;
    for (size_t i = pos; i < text.size(); ++i) {
      const auto& next = trie_[node].next;
      const uint8_t ch = static_cast<uint8_t>(text[i]);
      auto it = std::lower_bound(next.begin(), next.end(), ch,
                                 [](const auto& e, uint8_t b) { return e.first < b; });
      if (it == next.end() || it->first != ch) break;
      node = it->second;
      const TokenId id = trie_[node].token;
      if (id >= 0 && allowed(id)) occ.push_back({rank_[id], pos, id});
    }
  }
  if (occ.empty()) {
    out.push_back({-1, 0, text.size()});
    return out;
  }
  // Longest token first; each takes its leftmost non-overlapping occurrences that lie wholly
  // in text no longer token has taken.
  std::sort(occ.begin(), occ.end(), [](const Occurrence& a, const Occurrence& b) {
    return a.rank != b.rank ? a.rank < b.rank : a.pos < b.pos;
  });
  std::vector<uint8_t> taken(text.size(), 0);
  std::vector<Fragment> cuts;
  size_t last_end = 0;
  int32_t last_rank = -1;
  for (const Occurrence& o : occ) {
    if (o.rank != last_rank) {
      last_rank = o.rank;
      last_end = 0;
    }
    const size_t len = vocab_.text[o.id].size();
    if (o.pos < last_end) continue;
    if (std::find(taken.begin() + o.pos, taken.begin() + o.pos + len, 1) !=
        taken.begin() + o.pos + len)
      continue;
    std::fill(taken.begin() + o.pos, taken.begin() + o.pos + len, 1);
    last_end = o.pos + len;
    cuts.push_back({o.id, o.pos, len});
  }
  std::sort(cuts.begin(), cuts.end(),
            [](const Fragment& a, const Fragment& b) { return a.begin < b.begin; });
  size_t pos = 0;
  for (const Fragment& c : cuts) {
    if (c.begin > pos) out.push_back({-1, pos, c.begin - pos});
    out.push_back(c);
    pos = c.begin + c.len;
  }
  if (pos < text.size()) out.push_back({-1, pos, text.size() - pos});
  return out;
}

TokenizerBase::TokenizerBase(Vocab vocab) : vocab_(std::move(vocab)), special_(vocab_) {}

void TokenizerBase::check_id(TokenId id) const {
  if (id < 0 || id >= vocab_.size())
    throw Error(vocab_.path + ": token id " + std::to_string(id) + " out of range [0, " +
                std::to_string(vocab_.size()) + ")");
}

std::string TokenizerBase::token_to_piece(TokenId id, bool special) const {
  check_id(id);
  const std::string& t = vocab_.text[id];
  switch (vocab_.attr[id]) {
    case TokenAttr::kControl:
      return special ? t : std::string();
    case TokenAttr::kUnknown:
    case TokenAttr::kUserDefined:
      return t;
    case TokenAttr::kNormal:
      return normal_piece(t);
    case TokenAttr::kByte: {
      unsigned v = 0;
      if (t.size() == 6 && std::sscanf(t.c_str(), "<0x%2X>", &v) == 1)
        return std::string(1, static_cast<char>(v));
      return t;
    }
    default:
      return std::string();
  }
}

const std::string& TokenizerBase::token_text(TokenId id) const {
  check_id(id);
  return vocab_.text[id];
}

TokenAttr TokenizerBase::token_attr(TokenId id) const {
  check_id(id);
  return vocab_.attr[id];
}

bool TokenizerBase::is_eog(TokenId id) const {
  return id >= 0 && id < vocab_.size() && vocab_.eog[id];
}

std::string TokenizerBase::decode(const std::vector<TokenId>& ids, bool special) const {
  std::string out;
  bool strip_space = vocab_.add_space_prefix;  // the space the encoder prepended
  for (size_t i = 0; i < ids.size(); ++i) {
    std::string piece = token_to_piece(ids[i], special);
    if (i == 0 && ids[i] == vocab_.bos) {
      out += piece;
      continue;
    }
    if (strip_space && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);
    strip_space = false;
    out += piece;
  }
  return out;
}

}  // namespace tok

std::unique_ptr<Tokenizer> Tokenizer::from_gguf(const gguf::File& file) {
  if (!file.has("tokenizer.ggml.model"))
    throw Error(file.path() + ": no tokenizer (tokenizer.ggml.model missing)");
  const std::string model = file.get_string("tokenizer.ggml.model");
  if (model == "llama") return tok::make_spm_tokenizer(file, tok::load_vocab(file, model));
  if (model == "gpt2") return tok::make_bpe_tokenizer(file, tok::load_vocab(file, model));
  throw Error(file.path() + ": tokenizer.ggml.model '" + model +
              "' is not supported (expected 'llama' or 'gpt2')");
}

}  // namespace petrel
