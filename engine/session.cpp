// Session: a KV cache and logits over one model, driven through a ForwardBackend (CPU, or
// Vulkan when the model was loaded for it).
#include <omp.h>

#include <algorithm>
#include <memory>
#include <thread>

#include "engine/forward_cpu.h"
#include "engine/forward_split.h"
#include "engine/model_impl.h"
#include "petrel/petrel.h"
#ifdef PETREL_HAVE_VULKAN
#include "engine/vulkan/vk_backend.h"
#endif

namespace petrel {
namespace {

#ifdef PETREL_HAVE_VULKAN
class VulkanForward final : public ForwardBackend {
 public:
  VulkanForward(const ModelWeights& w, int device, int n_ctx, int max_batch)
      : be_(vk::Backend::create(w, device, n_ctx, max_batch)) {}
  void forward(const int32_t* tokens, int n, int pos, float* logits, bool all_logits) override {
    be_->forward(tokens, n, pos, logits, all_logits);
  }
  const float* forward_kept(const int32_t* tokens, int n, int pos) override {
    return be_->forward_logits(tokens, n, pos);
  }
  int32_t forward_argmax(const int32_t* tokens, int n, int pos, float*, int) override {
    return be_->forward_argmax(tokens, n, pos);
  }
  std::vector<std::pair<float, int32_t>> forward_top_k(const int32_t* tokens, int n, int pos,
                                                       int k, float* scratch, int n_vocab) override {
    if (k > vk::Backend::kTopKMax) return ForwardBackend::forward_top_k(tokens, n, pos, k, scratch, n_vocab);
    return be_->forward_top_k(tokens, n, pos, k);
  }
  std::string name() const override { return "vulkan (" + be_->device_name() + ")"; }
  void idle() override { be_->idle(); }
  uint64_t device_bytes() const { return be_->device_bytes_used(); }

 private:
  std::unique_ptr<vk::Backend> be_;
};
#endif

class SessionImpl final : public Session {
 public:
  SessionImpl(ModelImpl& model, const SessionOptions& opt) {
    if (model.vocab_only()) throw Error(model.info().path + ": loaded vocab-only; cannot evaluate");
    const HParams& hp = model.weights().hp;
    n_ctx_ = opt.n_ctx > 0 ? opt.n_ctx : std::min(hp.n_ctx_train > 0 ? hp.n_ctx_train : 4096, 4096);
    n_batch_ = std::max(1, std::min(opt.n_batch, n_ctx_));
    int threads = opt.n_threads > 0 ? opt.n_threads : int(std::thread::hardware_concurrency());
    threads = std::max(1, threads);
    n_vocab_ = hp.n_vocab;
    const ModelOptions& mo = model.options();
    // --gpu-layers: -1 or >= n_layer offloads everything, 0 nothing, else a GPU/CPU split
    const int n_gpu = mo.gpu_layers < 0 ? hp.n_layer : std::min(mo.gpu_layers, hp.n_layer);
    if (mo.device == Device::kVulkan && n_gpu > 0) {
      try {
#ifdef PETREL_HAVE_VULKAN
        if (n_gpu < hp.n_layer) {
          auto split = std::make_unique<SplitForward>(model.weights(), mo.device_index, n_gpu,
                                                      n_ctx_, n_batch_, threads);
          device_bytes_ = split->device_bytes();
          backend_ = std::move(split);
        } else {
          auto vk = std::make_unique<VulkanForward>(model.weights(), mo.device_index, n_ctx_, n_batch_);
          device_bytes_ = vk->device_bytes();
          backend_ = std::move(vk);
        }
#else
        throw Error("Vulkan support was not built into this petrel");
#endif
      } catch (const Error& e) {
        // Only a device the user did not name explicitly may fall back to the CPU.
        if (mo.device_explicit) throw;
        fallback_ = std::string(" (Vulkan unavailable: ") + e.what() + ")";
      }
    }
    if (mo.device == Device::kVulkan && n_gpu == 0)
      fallback_ = " (--gpu-layers 0: all " + std::to_string(hp.n_layer) + " layers on the cpu)";
    if (!backend_) backend_ = std::make_unique<CpuForward>(model.weights(), n_ctx_, n_batch_, threads);
  }

  int n_ctx() const override { return n_ctx_; }
  int n_past() const override { return n_past_; }
  void truncate(int n) override { n_past_ = std::clamp(n, 0, n_past_); }

  void eval(const std::vector<TokenId>& tokens, bool all_logits) override {
    const int n = static_cast<int>(tokens.size());
    if (n == 0) return;
    check_room(n);
    logits_.resize(size_t(all_logits ? n : 1) * n_vocab_);
    n_logits_ = all_logits ? n : 1;
    kept_ = nullptr;
    for (int i = 0; i < n; i += n_batch_) {
      const int m = std::min(n_batch_, n - i);
      const bool last = i + m == n;
      // the last token's logits where the backend keeps them (a GPU's readback buffer),
      // not copied
      if (!all_logits && last && (kept_ = backend_->forward_kept(tokens.data() + i, m, n_past_))) {
        n_past_ += m;
        break;
      }
      float* out = all_logits ? &logits_[size_t(i) * n_vocab_] : logits_.data();
      if (!all_logits && !last) {
        scratch_.resize(n_vocab_);
        out = scratch_.data();
      }
      backend_->forward(tokens.data() + i, m, n_past_, out, all_logits);
      n_past_ += m;
    }
  }

  TokenId eval_greedy(const std::vector<TokenId>& tokens) override {
    TokenId id = -1;
    eval_last(tokens, "eval_greedy", [&](const TokenId* t, int m) {
      id = backend_->forward_argmax(t, m, n_past_, scratch_.data(), n_vocab_);
    });
    return id;
  }

  std::vector<std::pair<float, TokenId>> eval_top_k(const std::vector<TokenId>& tokens, int k) override {
    if (k <= 0) throw Error("eval_top_k: k must be positive (got " + std::to_string(k) + ")");
    std::vector<std::pair<float, TokenId>> top;
    eval_last(tokens, "eval_top_k", [&](const TokenId* t, int m) {
      top = backend_->forward_top_k(t, m, n_past_, k, scratch_.data(), n_vocab_);
    });
    return top;
  }

  void idle() override {
    // the pass it starts overwrites the backend's readback: keep the last logits here
    if (kept_) {
      logits_.assign(kept_, kept_ + n_vocab_);
      kept_ = nullptr;
    }
    backend_->idle();
  }
  std::string backend_name() const override { return backend_->name() + fallback_; }
  uint64_t device_bytes_used() const override { return device_bytes_; }

  const float* logits(int i) const override {
    if (n_logits_ == 0)
      throw Error("logits: none kept (nothing evaluated yet, or the last call was eval_greedy or eval_top_k)");
    if (i < 0) i = n_logits_ - 1;
    if (i < 0 || i >= n_logits_) throw Error("logits: index " + std::to_string(i) + " out of range");
    return kept_ ? kept_ : &logits_[size_t(i) * n_vocab_];
  }

 private:
  // Evaluates tokens in batches, the last batch through `last` (which reads n_past_ before
  // it advances); keeps no logits.
  template <typename Last>
  void eval_last(const std::vector<TokenId>& tokens, const char* what, Last last) {
    const int n = static_cast<int>(tokens.size());
    if (n == 0) throw Error(std::string(what) + ": no tokens");
    check_room(n);
    n_logits_ = 0;  // none kept: logits() throws until the next eval
    kept_ = nullptr;
    scratch_.resize(n_vocab_);
    for (int i = 0; i < n; i += n_batch_) {
      const int m = std::min(n_batch_, n - i);
      if (i + m == n)
        last(tokens.data() + i, m);
      else
        backend_->forward(tokens.data() + i, m, n_past_, scratch_.data(), false);
      n_past_ += m;
    }
  }

  void check_room(int n) const {
    if (n_past_ + n > n_ctx_)
      throw Error("context full: " + std::to_string(n_past_) + " + " + std::to_string(n) +
                  " tokens exceed the context of " + std::to_string(n_ctx_));
  }

  std::unique_ptr<ForwardBackend> backend_;
  int n_ctx_ = 0, n_batch_ = 0, n_vocab_ = 0, n_past_ = 0, n_logits_ = 0;
  std::vector<float> logits_, scratch_;
  const float* kept_ = nullptr;  // the last eval's logits in the backend (forward_kept)
  std::string fallback_;
  uint64_t device_bytes_ = 0;
};

}  // namespace

std::unique_ptr<Session> Session::create(Model& model, const SessionOptions& opt) {
  return std::make_unique<SessionImpl>(static_cast<ModelImpl&>(model), opt);
}

}  // namespace petrel
