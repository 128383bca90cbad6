// The --gpu-layers split (see forward_split.h): per call, the GPU's layers for the whole
// chunk, then the CPU's layers and the logits from the GPU's hidden state.
#include "engine/forward_split.h"

#include <algorithm>

#include "engine/vulkan/vk_backend.h"  // plain C++ (no Vulkan headers): builds without Vulkan
#include "gguf/error.h"

namespace petrel {

SplitForward::SplitForward(const ModelWeights& w, int device_index, int n_gpu_layers, int n_ctx,
                           int max_batch, int n_threads)
    : n_gpu_(n_gpu_layers),
      n_layer_(w.hp.n_layer),
      n_embd_(w.hp.n_embd),
      max_batch_(std::max(1, max_batch)),
      cpu_(w, n_ctx, std::max(1, max_batch), n_threads, n_gpu_layers) {
  if (n_gpu_layers < 1 || n_gpu_layers >= w.hp.n_layer)
    throw Error("gpu layers: " + std::to_string(n_gpu_layers) + " is outside [1, " +
                std::to_string(w.hp.n_layer - 1) + "] for a split of a " +
                std::to_string(w.hp.n_layer) + "-layer model");
#ifdef PETREL_HAVE_VULKAN
  gpu_ = vk::Backend::create(w, device_index, n_ctx, max_batch_, nullptr, n_gpu_layers);
#else
  (void)device_index;
  throw Error("Vulkan support was not built into this petrel");
#endif
  hidden_.resize(size_t(max_batch_) * size_t(n_embd_));
}

SplitForward::~SplitForward() = default;

void SplitForward::forward(const int32_t* tokens, int n, int pos, float* logits, bool all_logits) {
#ifdef PETREL_HAVE_VULKAN
  if (n <= 0) throw Error("forward: needs at least one token");
  const size_t n_vocab = size_t(cpu_.n_vocab());
  for (int done = 0; done < n;) {
    const int m = std::min(max_batch_, n - done);
    const bool last = done + m == n;
    // hidden = GPU layers [0, N) of the chunk   [m, n_embd]
    gpu_->forward_hidden(tokens + done, m, pos + done, hidden_.data());
    // logits = CPU layers [N, n_layer) + output; only the last chunk's last row unless
    // all_logits (earlier chunks still fill the CPU's KV cache)
    if (all_logits) {
      cpu_.forward_from_hidden(hidden_.data(), m, pos + done, logits + size_t(done) * n_vocab, true);
    } else {
      if (!last) scratch_.resize(n_vocab);
      cpu_.forward_from_hidden(hidden_.data(), m, pos + done, last ? logits : scratch_.data(), false);
    }
    done += m;
  }
#else
  (void)tokens, (void)n, (void)pos, (void)logits, (void)all_logits;
#endif
}

std::string SplitForward::name() const {
#ifdef PETREL_HAVE_VULKAN
  const std::string dev = gpu_->device_name();
#else
  const std::string dev = "none";
#endif
  return "vulkan (" + dev + ") layers 0-" + std::to_string(n_gpu_ - 1) + " + cpu layers " +
         std::to_string(n_gpu_) + "-" + std::to_string(n_layer_ - 1);
}

void SplitForward::idle() {
#ifdef PETREL_HAVE_VULKAN
  gpu_->idle();
#endif
}

uint64_t SplitForward::device_bytes() const {
#ifdef PETREL_HAVE_VULKAN
  return gpu_->device_bytes_used();
#else
  return 0;
#endif
}

}  // namespace petrel
