// What a Session drives: something that evaluates tokens at positions against its own KV
// cache. The CPU forward pass and the Vulkan backend both implement it.
#pragma once
#include <cstdint>
#include <string>

namespace petrel {

class ForwardBackend {
 public:
  virtual ~ForwardBackend() = default;
  // Runs tokens[0..n) at positions pos..pos+n-1, updating the KV cache. Writes logits
  // [n_vocab] of the last token, or of all n tokens ([n, n_vocab]) if all_logits.
  virtual void forward(const int32_t* tokens, int n, int pos, float* logits, bool all_logits) = 0;
  virtual std::string name() const = 0;
};

}  // namespace petrel
