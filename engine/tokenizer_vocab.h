// Internal to the tokenizers (engine/tokenizer*.cpp): the vocabulary shared by the
// SentencePiece-style and byte-level BPE tokenizers, special-token splitting, and the
// factory functions of the two kinds.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/tokenizer.h"

namespace petrel::tok {

// Hash/equality that let an unordered_map<std::string, ...> be searched by string_view.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
struct StringEq {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const { return a == b; }
};

// Vocabulary and special-token settings read from tokenizer.ggml.* metadata.
struct Vocab {
  std::string path;   // file name, for messages
  std::string model;  // tokenizer.ggml.model
  std::string pre;    // tokenizer.ggml.pre ("default" when absent)
  std::vector<std::string> text;
  std::vector<float> score;
  std::vector<TokenAttr> attr;
  std::unordered_map<std::string, TokenId, StringHash, StringEq> to_id;
  TokenId bos = -1, eos = -1, eot = -1, unk = -1, pad = -1;
  bool add_bos = false, add_eos = false;
  bool add_space_prefix = false;  // SPM only
  std::vector<uint8_t> eog;       // per id: 1 if end-of-generation

  int32_t size() const { return static_cast<int32_t>(text.size()); }
  // Id of a token text, or -1.
  TokenId find(std::string_view s) const {
    auto it = to_id.find(s);
    return it == to_id.end() ? -1 : it->second;
  }
};

// Loads tokens, scores, types and the special ids. `model` is "llama" or "gpt2"; the
// defaults for BOS/EOS/UNK and add_bos follow llama.cpp for that model.
Vocab load_vocab(const gguf::File& file, const std::string& model);

// A piece of input text: either raw text [begin, begin + len) or a special token.
struct Fragment {
  TokenId token;  // -1 for raw text
  size_t begin;
  size_t len;
};

// Finds special-token texts in `text` as llama.cpp does: tokens longest first, each cut out
// of the raw pieces left by the longer ones (leftmost, non-overlapping). With parse_special,
// control, user-defined and unknown tokens are matched; without, only user-defined ones.
class SpecialMatcher {
 public:
  explicit SpecialMatcher(const Vocab& vocab);
  std::vector<Fragment> split(std::string_view text, bool parse_special) const;

 private:
  struct Node {
    std::vector<std::pair<uint8_t, int32_t>> next;  // sorted by byte
    TokenId token = -1;
  };
  const Vocab& vocab_;
  std::vector<Node> trie_;
  std::vector<int32_t> rank_;  // per token id: processing order (longest first), -1 if none
  bool first_byte_[256] = {};
};

// Shared accessors and encode/decode framing; subclasses tokenize raw text and map one
// token to its bytes.
class TokenizerBase : public Tokenizer {
 public:
  explicit TokenizerBase(Vocab vocab);
  int32_t n_vocab() const override { return vocab_.size(); }
  const std::string& token_text(TokenId id) const override;
  TokenAttr token_attr(TokenId id) const override;
  TokenId bos() const override { return vocab_.bos; }
  TokenId eos() const override { return vocab_.eos; }
  bool add_bos() const override { return vocab_.add_bos; }
  bool add_eos() const override { return vocab_.add_eos; }
  bool is_eog(TokenId id) const override;
  std::string model_name() const override { return vocab_.model; }
  std::string pre_name() const override { return vocab_.pre; }
  std::string decode(const std::vector<TokenId>& ids, bool special) const override;
  // Control tokens: their text only if `special`; byte tokens <0xNN>: the byte; unknown and
  // user-defined: their text; normal tokens: normal_piece().
  std::string token_to_piece(TokenId id, bool special) const override;

 protected:
  // The bytes a normal token's vocabulary text stands for (the model's text encoding undone).
  virtual std::string normal_piece(const std::string& text) const = 0;
  void check_id(TokenId id) const;
  Vocab vocab_;
  SpecialMatcher special_;
};

std::unique_ptr<Tokenizer> make_spm_tokenizer(const gguf::File& file, Vocab vocab);
std::unique_ptr<Tokenizer> make_bpe_tokenizer(const gguf::File& file, Vocab vocab);

}  // namespace petrel::tok
