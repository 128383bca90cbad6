// Public face of the Vulkan backend: device listing and a Backend that runs the whole
// llama/qwen2 forward pass on one GPU with the compute shaders in shaders/.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/model_weights.h"
#include "gguf/error.h"

namespace petrel::vk {

struct Tuning;  // vk_pipelines.h

struct DeviceInfo {
  int index = 0;
  std::string name;
  std::string type;               // "discrete", "integrated", "virtual", "cpu", "other"
  uint64_t device_local_bytes = 0;
  uint64_t budget_bytes = 0;      // VK_EXT_memory_budget heap budget, or 0 when unsupported
  uint32_t subgroup_size = 0;
  std::string driver;             // driver name and info
};

// Every Vulkan device on the system; throws petrel::Error("Vulkan: no loader/driver ...")
// when the loader cannot be opened or no instance/device exists.
std::vector<DeviceInfo> list_devices();

class Backend {
 public:
  // Uploads all weights once (staging -> device-local), allocates the KV cache (f16) for
  // n_ctx positions and activations for up to max_batch tokens; `tuning` overrides the
  // device's default shader tuning when given. Throws petrel::Error.
  static std::unique_ptr<Backend> create(const ModelWeights& w, int device_index, int n_ctx,
                                         int max_batch, const Tuning* tuning = nullptr);
  virtual ~Backend();
  // Runs tokens[0..n) at positions pos..pos+n-1 (KV cache updated). Writes logits
  // [n_vocab] of the last token to logits_out, or of every token ([n, n_vocab]) if
  // all_logits.
  virtual void forward(const int32_t* tokens, int n, int pos, float* logits_out,
                       bool all_logits) = 0;
  virtual std::string device_name() const = 0;
  virtual uint64_t device_bytes_used() const = 0;
};

}  // namespace petrel::vk
