// llama / qwen2 forward pass on the CPU: pre-norm transformer blocks with grouped-query
// attention, RoPE (adjacent pairs for llama, NeoX halves for qwen2), SwiGLU FFN.
#include "engine/forward_cpu.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "gguf/error.h"
#include "kernels/attention.h"
#include "kernels/ops.h"
#include "kernels/types.h"

namespace petrel {

CpuForward::CpuForward(const ModelWeights& w, int n_ctx, int max_batch, int n_threads,
                       int first_layer)
    : w_(w), n_ctx_(n_ctx), max_batch_(max_batch), n_threads_(n_threads), first_layer_(first_layer) {
  const HParams& hp = w.hp;
  if (first_layer < 0 || first_layer > hp.n_layer)
    throw Error("CpuForward: first layer " + std::to_string(first_layer) + " outside [0, " +
                std::to_string(hp.n_layer) + "]");
  q_dim_ = int64_t(hp.n_head) * hp.head_dim;
  kv_dim_ = int64_t(hp.n_head_kv) * hp.head_dim;
  const size_t cache = size_t(hp.n_layer - first_layer) * n_ctx * kv_dim_;
  k_ = alloc<uint16_t>(cache);
  vt_ = alloc<uint16_t>(cache);
  const size_t b = max_batch;
  x_ = alloc<float>(b * hp.n_embd);
  h_ = alloc<float>(b * hp.n_embd);
  tmp_ = alloc<float>(b * hp.n_embd);
  q_ = alloc<float>(b * q_dim_);
  att_ = alloc<float>(b * q_dim_);
  k_cur_ = alloc<float>(b * kv_dim_);
  v_cur_ = alloc<float>(b * kv_dim_);
  gate_ = alloc<float>(b * hp.n_ff);
  up_ = alloc<float>(b * hp.n_ff);
}

void CpuForward::matmul(const kernels::WeightView& w, const float* x, int n, float* y) {
  kernels::matmul(w, x, n, y, ws_, n_threads_);
}

void CpuForward::check_batch(int n, int pos) const {
  if (n <= 0 || n > max_batch_)
    throw Error("forward: batch of " + std::to_string(n) + " tokens (max " +
                std::to_string(max_batch_) + ")");
  if (pos < 0 || pos + n > n_ctx_)
    throw Error("forward: positions [" + std::to_string(pos) + ", " + std::to_string(pos + n) +
                ") exceed the context of " + std::to_string(n_ctx_));
}

void CpuForward::forward(const int32_t* tokens, int n, int pos, float* logits, bool all_logits) {
  const HParams& hp = w_.hp;
  if (first_layer_ != 0)
    throw Error("forward: this CPU pass starts at layer " + std::to_string(first_layer_) +
                "; use forward_from_hidden");
  check_batch(n, pos);
  // x = embedding rows  [n, n_embd]
  for (int t = 0; t < n; ++t) {
    if (tokens[t] < 0 || tokens[t] >= hp.n_vocab)
      throw Error("forward: token id " + std::to_string(tokens[t]) + " is outside the vocabulary (" +
                  std::to_string(hp.n_vocab) + ")");
    kernels::dequantize_row(w_.tok_embd, tokens[t], &x_[size_t(t) * hp.n_embd]);
  }
  for (int l = 0; l < hp.n_layer; ++l) layer(l, n, pos);
  output(n, logits, all_logits);
}

void CpuForward::forward_from_hidden(const float* hidden, int n, int pos, float* logits,
                                     bool all_logits) {
  const HParams& hp = w_.hp;
  check_batch(n, pos);
  // x = hidden   [n, n_embd]
  std::copy(hidden, hidden + size_t(n) * hp.n_embd, x_.get());
  for (int l = first_layer_; l < hp.n_layer; ++l) layer(l, n, pos);
  output(n, logits, all_logits);
}

void CpuForward::output(int n, float* logits, bool all_logits) {
  const HParams& hp = w_.hp;
  // logits = output . rms_norm(x) * output_norm   [n or 1, n_vocab]
  const int first = all_logits ? 0 : n - 1;
  const int rows = n - first;
  for (int t = first; t < n; ++t)
    kernels::rms_norm(&x_[size_t(t) * hp.n_embd], w_.output_norm,
                      &h_[size_t(t - first) * hp.n_embd], hp.n_embd, hp.norm_eps);
  matmul(w_.output, h_.get(), rows, logits);
}

void CpuForward::layer(int l, int n, int pos) {
  const HParams& hp = w_.hp;
  const LayerWeights& L = w_.layers[l];
  const int64_t E = hp.n_embd;
  // h = rms_norm(x) * attn_norm   [n, n_embd]
  for (int t = 0; t < n; ++t)
    kernels::rms_norm(&x_[t * E], L.attn_norm, &h_[t * E], E, hp.norm_eps);
  // q, k, v = W h (+ b)   [n, q_dim], [n, kv_dim], [n, kv_dim]
  uint16_t* k_layer = k_.get() + size_t(l - first_layer_) * n_ctx_ * kv_dim_;
  uint16_t* vt_layer = vt_.get() + size_t(l - first_layer_) * n_ctx_ * kv_dim_;
  {
    const kernels::WeightView w[3] = {L.wq, L.wk, L.wv};
    float* const y[3] = {q_.get(), k_cur_.get(), v_cur_.get()};
    kernels::matmul_multi(w, y, 3, h_.get(), n, ws_, n_threads_);
  }
  for (int t = 0; t < n; ++t) {
    if (L.bq) kernels::add(&q_[t * q_dim_], L.bq, q_dim_);
    if (L.bk) kernels::add(&k_cur_[t * kv_dim_], L.bk, kv_dim_);
    if (L.bv) kernels::add(&v_cur_[t * kv_dim_], L.bv, kv_dim_);
    // RoPE on every query and key head at position pos + t
    for (int h = 0; h < hp.n_head; ++h)
      kernels::rope(&q_[t * q_dim_ + int64_t(h) * hp.head_dim], hp.head_dim, hp.n_rot, pos + t,
                    hp.rope_base, hp.rope_mode, w_.rope_freqs);
    for (int h = 0; h < hp.n_head_kv; ++h)
      kernels::rope(&k_cur_[t * kv_dim_ + int64_t(h) * hp.head_dim], hp.head_dim, hp.n_rot,
                    pos + t, hp.rope_base, hp.rope_mode, w_.rope_freqs);
    // append k (row) and v (column of V^T) to the f16 cache
    uint16_t* kc = k_layer + size_t(pos + t) * kv_dim_;
    for (int64_t i = 0; i < kv_dim_; ++i) {
      kc[i] = kernels::f32_to_f16(k_cur_[t * kv_dim_ + i]);
      vt_layer[size_t(i) * n_ctx_ + pos + t] = kernels::f32_to_f16(v_cur_[t * kv_dim_ + i]);
    }
  }
  // att = softmax(q k^T / sqrt(head_dim)) v   [n, q_dim]
  kernels::AttentionArgs a;
  a.q = q_.get();
  a.k = k_layer;
  a.vt = vt_layer;
  a.vt_stride = n_ctx_;
  a.out = att_.get();
  a.n_tokens = n;
  a.n_head = hp.n_head;
  a.n_head_kv = hp.n_head_kv;
  a.head_dim = hp.head_dim;
  a.pos0 = pos;
  a.scale = 1.0f / std::sqrt(float(hp.head_dim));
  kernels::attention_f16(a, ws_, n_threads_);
  // x += wo att   [n, n_embd]
  matmul(L.wo, att_.get(), n, tmp_.get());
  for (int t = 0; t < n; ++t) kernels::add(&x_[t * E], &tmp_[t * E], E);
  // h = rms_norm(x) * ffn_norm; x += w_down (silu(w_gate h) * (w_up h))
  for (int t = 0; t < n; ++t) kernels::rms_norm(&x_[t * E], L.ffn_norm, &h_[t * E], E, hp.norm_eps);
  {
    const kernels::WeightView w[2] = {L.w_gate, L.w_up};
    float* const y[2] = {gate_.get(), up_.get()};
    kernels::matmul_multi(w, y, 2, h_.get(), n, ws_, n_threads_);
  }
  kernels::silu_mul(gate_.get(), up_.get(), gate_.get(), int64_t(n) * hp.n_ff);
  matmul(L.w_down, gate_.get(), n, tmp_.get());
  for (int t = 0; t < n; ++t) kernels::add(&x_[t * E], &tmp_[t * E], E);
}

}  // namespace petrel
