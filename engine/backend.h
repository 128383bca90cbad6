// What a Session drives: something that evaluates tokens at positions against its own KV
// cache. The CPU forward pass and the Vulkan backend both implement it.
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "engine/top_k.h"

namespace petrel {

class ForwardBackend {
 public:
  virtual ~ForwardBackend() = default;
  // Runs tokens[0..n) at positions pos..pos+n-1, updating the KV cache. Writes logits
  // [n_vocab] of the last token, or of all n tokens ([n, n_vocab]) if all_logits.
  virtual void forward(const int32_t* tokens, int n, int pos, float* logits, bool all_logits) = 0;
  // Runs tokens like forward(..., all_logits false) and returns the last token's logits
  // [n_vocab] where the backend keeps them, valid until its next call; a backend that has
  // no such place returns nullptr and runs nothing (the caller then uses forward).
  virtual const float* forward_kept(const int32_t* /*tokens*/, int /*n*/, int /*pos*/) {
    return nullptr;
  }
  // Runs tokens like forward and returns the id of the last token's largest logit (the
  // lowest id among equal ones, as std::max_element). Here through `scratch` [n_vocab];
  // a backend that finds it on its device overrides this and reads back only the id.
  virtual int32_t forward_argmax(const int32_t* tokens, int n, int pos, float* scratch, int n_vocab) {
    forward(tokens, n, pos, scratch, false);
    return int32_t(std::max_element(scratch, scratch + n_vocab) - scratch);
  }
  // Runs tokens like forward and returns the last token's min(k, n_vocab) largest logits
  // with their ids, ranked by logit descending then id ascending. Here through `scratch`;
  // a backend that ranks them on its device overrides this and reads back only those.
  virtual std::vector<std::pair<float, int32_t>> forward_top_k(const int32_t* tokens, int n,
                                                               int pos, int k, float* scratch,
                                                               int n_vocab) {
    forward(tokens, n, pos, scratch, false);
    std::vector<std::pair<float, int32_t>> c;
    top_k_of(scratch, size_t(n_vocab), size_t(std::max(k, 0)), c);
    return c;
  }
  virtual std::string name() const = 0;
  // No token follows soon: work prepared for a next token (a GPU pass submitted ahead) is
  // started now rather than when the next call needs the device. A no-op here.
  virtual void idle() {}
};

}  // namespace petrel
