// The concrete Model: owns the mapped GGUF file, the tokenizer, and the weight views the
// backends read. Internal to the engine.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/model_weights.h"
#include "engine/tokenizer.h"
#include "gguf/gguf.h"
#include "petrel/petrel.h"

namespace petrel {

class ModelImpl final : public Model {
 public:
  ModelImpl(const std::string& path, const ModelOptions& opt);
  const ModelInfo& info() const override { return info_; }
  uint64_t bytes_per_token() const override { return bytes_per_token_; }
  std::vector<TokenId> tokenize(const std::string& text, bool add_special,
                                bool parse_special) const override;
  std::string token_to_piece(TokenId id, bool special) const override;
  std::string detokenize(const std::vector<TokenId>& ids, bool special) const override;
  bool is_eog(TokenId id) const override { return tok_->is_eog(id); }
  TokenId bos() const override { return tok_->bos(); }
  int n_vocab() const override { return tok_->n_vocab(); }

  const ModelWeights& weights() const { return w_; }
  const ModelOptions& options() const { return opt_; }
  bool vocab_only() const { return opt_.vocab_only; }

 private:
  void load_hparams();
  void load_weights();
  kernels::WeightView matrix(const std::string& name, int64_t n_in, int64_t n_out);
  const float* vector(const std::string& name, int64_t n, bool required = true);
  const gguf::TensorInfo& tensor(const std::string& name);

  ModelOptions opt_;
  std::unique_ptr<gguf::File> file_;
  std::unique_ptr<Tokenizer> tok_;
  ModelWeights w_;
  ModelInfo info_;
  uint64_t bytes_per_token_ = 0;
  std::vector<std::vector<float>> owned_;  // f32 copies of F16/BF16 norm weights and biases
};

}  // namespace petrel
