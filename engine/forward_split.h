// A --gpu-layers split: the GPU runs the token embedding and layers [0, N) (their weights
// and KV cache only), the CPU runs layers [N, n_layer), the output norm and the output
// matrix with its own KV cache; the hidden state [n, n_embd] crosses over once per call.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/forward_cpu.h"
#include "engine/model_weights.h"

namespace petrel {

namespace vk {
class Backend;
}

class SplitForward final : public ForwardBackend {
 public:
  // n_gpu_layers in [1, n_layer): layers [0, n_gpu_layers) on Vulkan device device_index,
  // the rest on the CPU with n_threads. Throws petrel::Error (also when Vulkan support was
  // not built in).
  SplitForward(const ModelWeights& w, int device_index, int n_gpu_layers, int n_ctx,
               int max_batch, int n_threads);
  ~SplitForward() override;
  void forward(const int32_t* tokens, int n, int pos, float* logits, bool all_logits) override;
  // "vulkan (<device>) layers 0-<N-1> + cpu layers <N>-<n_layer-1>"
  std::string name() const override;
  void idle() override;
  // Device memory the GPU part holds (bytes).
  uint64_t device_bytes() const;

 private:
  int n_gpu_, n_layer_, n_embd_, max_batch_;
  std::unique_ptr<vk::Backend> gpu_;
  CpuForward cpu_;
  std::vector<float> hidden_;   // [max_batch, n_embd]
  std::vector<float> scratch_;  // logits of chunks before the last one [n_vocab]
};

}  // namespace petrel
