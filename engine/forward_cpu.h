// The llama/qwen2 forward pass on the CPU, with its F16 KV cache and scratch buffers
// allocated once at construction (no allocation per token). It may run only the layers
// from first_layer on, starting from a hidden state another backend computed (the
// CPU part of a --gpu-layers split).
#pragma once
#include <memory>
#include <vector>

#include "engine/backend.h"
#include "engine/model_weights.h"
#include "kernels/matmul.h"

namespace petrel {

class CpuForward final : public ForwardBackend {
 public:
  // n_ctx: KV cache positions; max_batch: most tokens per forward call; first_layer: the
  // first layer this object runs and holds a KV cache for (0: the whole model; then only
  // forward_from_hidden may be used).
  CpuForward(const ModelWeights& w, int n_ctx, int max_batch, int n_threads, int first_layer = 0);
  // Needs first_layer == 0.
  void forward(const int32_t* tokens, int n, int pos, float* logits, bool all_logits) override;
  // Runs layers [first_layer, n_layer), output norm and output matrix on the hidden state
  // hidden[n, n_embd] (the residual stream entering first_layer) at positions
  // pos..pos+n-1; logits as forward().
  void forward_from_hidden(const float* hidden, int n, int pos, float* logits, bool all_logits);
  std::string name() const override { return "cpu"; }
  int n_vocab() const { return w_.hp.n_vocab; }

 private:
  void check_batch(int n, int pos) const;
  void layer(int l, int n, int pos);
  void output(int n, float* logits, bool all_logits);
  void matmul(const kernels::WeightView& w, const float* x, int n, float* y);

  const ModelWeights& w_;
  int n_ctx_, max_batch_, n_threads_, first_layer_;
  int64_t q_dim_, kv_dim_;
  // Uninitialized storage: pages are only faulted in when first written, so a large
  // context costs nothing until it is used. Every element is written before it is read.
  template <class T>
  using Buffer = std::unique_ptr<T[]>;
  template <class T>
  static Buffer<T> alloc(size_t n) { return Buffer<T>(new T[n]); }

  // KV cache, f16, for layers first_layer.. only: layer l's K is [n_ctx, kv_dim] at
  // k_ + (l - first_layer) * n_ctx * kv_dim; its V^T is [kv_dim, n_ctx] at the same offset
  // of vt_.
  Buffer<uint16_t> k_, vt_;
  // Activations for up to max_batch tokens.
  Buffer<float> x_, h_, q_, k_cur_, v_cur_, att_, tmp_, gate_, up_;
  kernels::Workspace ws_;
};

}  // namespace petrel
