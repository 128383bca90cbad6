// Tokenizers built from GGUF metadata: SentencePiece-style (`tokenizer.ggml.model` =
// "llama", with byte fallback) and byte-level BPE ("gpt2", with merges) with the
// pre-tokenizer selected by `tokenizer.ggml.pre`.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace petrel::gguf { class File; }

namespace petrel {

using TokenId = int32_t;

enum class TokenAttr : int32_t {  // tokenizer.ggml.token_type values
  kUndefined = 0, kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6,
};

class Tokenizer {
 public:
  // Builds from the file's tokenizer.* metadata. Throws petrel::Error naming the file and
  // key if there is no tokenizer or it is malformed, or the model/pre type is unsupported.
  static std::unique_ptr<Tokenizer> from_gguf(const gguf::File& file);
  virtual ~Tokenizer() = default;

  // Text -> ids. add_special: add BOS/EOS as add_bos_token/add_eos_token say.
  // parse_special: recognize control/user-defined token texts (e.g. "<|im_start|>") in the
  // text; otherwise they are tokenized as ordinary text.
  virtual std::vector<TokenId> encode(std::string_view text, bool add_special,
                                      bool parse_special) const = 0;
  // One token's bytes as it appears in decoded text (byte tokens -> the byte, SPM's
  // U+2581 -> space, BPE byte mapping undone). Control tokens give "" unless `special`.
  virtual std::string token_to_piece(TokenId id, bool special = false) const = 0;
  // Ids -> text. SPM drops the leading space of the first token when it follows BOS.
  virtual std::string decode(const std::vector<TokenId>& ids, bool special = false) const = 0;

  virtual int32_t n_vocab() const = 0;
  virtual const std::string& token_text(TokenId id) const = 0;  // raw vocab string
  virtual TokenAttr token_attr(TokenId id) const = 0;
  virtual TokenId bos() const = 0;  // -1 if none
  virtual TokenId eos() const = 0;  // -1 if none
  virtual bool add_bos() const = 0;
  virtual bool add_eos() const = 0;
  // End-of-generation tokens: EOS, EOT (tokenizer.ggml.eot_token_id) and well-known
  // texts such as "<|eot_id|>", "<|im_end|>", "<|end_of_text|>", "<｜end▁of▁sentence｜>".
  virtual bool is_eog(TokenId id) const = 0;
  virtual std::string model_name() const = 0;  // "llama" or "gpt2"
  virtual std::string pre_name() const = 0;    // "default", "llama-bpe", ...
};

}  // namespace petrel
