// Byte-level BPE pre-tokenizers: the split rules llama.cpp applies for each
// `tokenizer.ggml.pre`, implemented as hand-written matchers (no regex library). Each rule is
// a list of regexes applied in turn: every regex splits each piece left by the previous one
// into its matches and the gaps between them.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace petrel {

enum class PreType {
  kDefault,        // [\p{P}$+<=>^~|]+, gpt-2 regex, \p{N}+, [0-9]{3}
  kGpt2,           // gpt-2 regex (also mpt, olmo, ...)
  kLlama3,         // llama-bpe: contractions (any case), \p{N}{1,3}, newline-aware spaces
  kQwen2,          // as kLlama3 with single digits (qwen2, deepseek-r1-qwen)
  kDeepseekLlm,    // deepseek-llm: explicit letter/punctuation/CJK classes
  kDeepseekCoder,  // deepseek-coder
  kFalcon,         // [\p{P}$+<=>^~|`]+, gpt-2 regex, [0-9]{3}
  kStarcoder,      // \p{N}, gpt-2 regex (starcoder, refact, command-r, smollm, ...)
};

// Maps a `tokenizer.ggml.pre` value to its rule ("" = kDefault). Returns false if unknown.
bool pre_type_from_name(std::string_view name, PreType& type);

// Splits code points into pieces; appends each piece's length (in code points) to `lengths`.
void pretokenize_cpts(const std::vector<uint32_t>& cpts, PreType type,
                      std::vector<uint32_t>& lengths);

// Splits UTF-8 text into pieces (invalid bytes come back as U+FFFD, as in llama.cpp).
std::vector<std::string> pretokenize(std::string_view text, PreType type);

}  // namespace petrel
