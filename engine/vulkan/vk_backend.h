// Public face of the Vulkan backend: device listing and a Backend that runs the whole
// llama/qwen2 forward pass on one GPU with the compute shaders in shaders/.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
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
  // Uploads the weights once (staging -> device-local), allocates the KV cache (f16) for
  // n_ctx positions and activations for up to max_batch tokens; `tuning` overrides the
  // device's default shader tuning when given. n_layers: the GPU holds the token embedding
  // and layers [0, n_layers) only (weights and KV cache), for a CPU to run the rest from
  // forward_hidden's output; -1 or >= n_layer: every layer plus the output norm and matrix.
  // Throws petrel::Error.
  static std::unique_ptr<Backend> create(const ModelWeights& w, int device_index, int n_ctx,
                                         int max_batch, const Tuning* tuning = nullptr,
                                         int n_layers = -1);
  virtual ~Backend();
  // Runs tokens[0..n) at positions pos..pos+n-1 (KV cache updated). Writes logits
  // [n_vocab] of the last token to logits_out, or of every token ([n, n_vocab]) if
  // all_logits. Needs every layer on the GPU (throws otherwise).
  virtual void forward(const int32_t* tokens, int n, int pos, float* logits_out,
                       bool all_logits) = 0;
  // Runs tokens like forward (the last token's logits only) and returns those logits
  // [n_vocab] where the pass left them, in host memory the backend owns: valid until its
  // next call (no copy). Needs every layer on the GPU (throws otherwise).
  virtual const float* forward_logits(const int32_t* tokens, int n, int pos) = 0;
  // Runs tokens like forward and returns the id of the last token's largest logit (the
  // lowest id among equal ones), found on the GPU: only that id is read back (greedy
  // decoding). Needs every layer on the GPU (throws otherwise).
  virtual int32_t forward_argmax(const int32_t* tokens, int n, int pos) = 0;
  // Runs tokens like forward and returns the last token's min(k, n_vocab) largest logits
  // with their ids, ranked by logit descending then id ascending (k <= Ops::kTopKMax),
  // chosen on the GPU: only each chunk's k best are read back (sampling).
  virtual std::vector<std::pair<float, int32_t>> forward_top_k(const int32_t* tokens, int n,
                                                               int pos, int k) = 0;
  static constexpr int kTopKMax = 128;  // the largest k of forward_top_k (Ops::kTopKMax)
  // Runs the token embedding and the GPU's layers for tokens[0..n) at positions
  // pos..pos+n-1 (KV cache updated); writes the hidden state after the last GPU layer,
  // [n, n_embd] f32, to hidden_out.
  virtual void forward_hidden(const int32_t* tokens, int n, int pos, float* hidden_out) = 0;
  // Layers [0, n_layers()) run on the GPU.
  virtual int n_layers() const = 0;
  virtual std::string device_name() const = 0;
  virtual uint64_t device_bytes_used() const = 0;
  // Command buffers recorded so far (each kind of pass is recorded once and replayed: a
  // batch size, what comes back and the decode attention's split count; not the position,
  // nor forward_top_k's k).
  virtual size_t recorded_passes() const = 0;
  // With Tuning::profile: (pipelines, seconds) of every stage of the last forward, in
  // order; empty otherwise.
  virtual std::vector<std::pair<std::string, double>> stage_times() = 0;
  // With Tuning::time_passes: every pass since the last call; empty otherwise.
  struct PassTime {
    double start = 0, end = 0;  // seconds on the device's clock (from one pass's end to the
                                // next one's start the device waited for the host)
    double submit = 0;   // host seconds in vkQueueSubmit
    double outside = 0;  // host seconds from the previous pass's return to this submission
    // where the device's clock is calibrated against the host's (calibrated true): seconds
    // from the submission (or release) call to the pass's start on the device, and from its
    // end on the device to the host's wait returning
    bool calibrated = false;
    double launch = 0, detect = 0;
  };
  virtual std::vector<PassTime> take_pass_times() = 0;
  // With Tuning::attn_clocks on a device with shader clocks: the clocks decode attention
  // wrote in the last pass, [layer][head][32] (shaders/attn_fused.comp, CLOCKS); else empty.
  virtual std::vector<uint64_t> attn_clocks() { return {}; }
  // Tuning::attn_wait: the waits that gave up, then the words of the per-head q/k/v buffer
  // the waits poll (between passes all empty, 0xFFFFFFFF), read back; empty where passes
  // do not wait, or no longer do. And how many calls were redone with barriers after a
  // wait gave up. set_attn_wait_gave_up is for tests.
  virtual std::vector<uint32_t> attn_wait_words() { return {}; }
  virtual int attn_wait_redos() const { return 0; }
  virtual void set_attn_wait_gave_up(uint32_t) {}
  // No one-token pass follows soon: the pass that Tuning::presubmit holds for the next
  // call (were it one of the same kind) is released now, without waiting for it, so that
  // it runs while the host does other things and a later call of another kind does not
  // wait for all of it. A no-op without a held pass.
  virtual void idle() = 0;
  // idle(), then waits until the device has run everything submitted.
  virtual void settle() = 0;
  // Whether a pass is held for the next call (Tuning::presubmit).
  virtual bool holding() const = 0;
};

}  // namespace petrel::vk
