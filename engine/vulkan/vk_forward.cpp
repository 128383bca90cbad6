// The llama/qwen2 forward pass on the GPU. Weights are uploaded once; the whole pass for
// n tokens is recorded into one command buffer, submitted once and waited for; only the
// needed logits come back (a host-visible readback buffer). Positions and token ids live
// in host-visible buffers that the shaders read, so a recorded command buffer is reused
// for every forward of the same shape (decode records once). With a layer limit the GPU
// holds the embedding and the first layers only and hands the hidden state back instead.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <map>
#include <tuple>
#include <utility>

#include "engine/top_k.h"
#include "engine/vulkan/vk_backend.h"
#include "engine/vulkan/vk_ops.h"

namespace petrel::vk {
namespace {

struct LayerGpu {
  Buffer* attn_norm = nullptr;
  GpuWeight wq, wk, wv, wo;
  Buffer *bq = nullptr, *bk = nullptr, *bv = nullptr;
  Buffer* ffn_norm = nullptr;
  GpuWeight w_gate, w_up, w_down;
  Buffer *kcache = nullptr, *vcache = nullptr;
};

// Split-K factor of decode attention over n_kv cached positions: at least 256 keys per
// split, at most 8 splits; powers of two, so few command buffers get recorded. (H100,
// attn_fused with 32 heads of 128: n_kv 129 takes 12.2 us unsplit and 12.4 in 8 splits,
// n_kv 2048 87 us unsplit, 22.4 in 8 splits and 36 in 32: each split costs a merge.)
constexpr uint32_t kMaxSplits = 8;
// Words of the params buffer (host_params_, in params_ for the shaders):
// 0 the position of the batch's first token (the attention shaders read it there), then
// forward_top_k's k (top_k.comp).
constexpr uint32_t kParamTopK = 1;
// Batches from this size take attn_tiled (32 query rows per workgroup) where the head
// size allows; smaller ones attn (a workgroup per token and head: more workgroups).
constexpr uint32_t kAttnTiledMinTokens = 32;
uint32_t decode_splits(uint32_t n_kv) {
  uint32_t s = 1;
  while (s < kMaxSplits && n_kv > 256u * s) s *= 2;
  return s;
}

// What a recorded pass hands back: the last token's logits, every token's, or the hidden
// state after the last GPU layer.
enum class Out : uint32_t { kLastLogits, kAllLogits, kHidden, kArgmax, kTopK };

class BackendImpl final : public Backend {
 public:
  BackendImpl(const ModelWeights& w, int device_index, int n_ctx, int max_batch,
              const Tuning* tuning, int n_layers);
  ~BackendImpl() override;
  void forward(const int32_t* tokens, int n, int pos, float* logits_out, bool all_logits) override;
  const float* forward_logits(const int32_t* tokens, int n, int pos) override;
  int32_t forward_argmax(const int32_t* tokens, int n, int pos) override;
  std::vector<std::pair<float, int32_t>> forward_top_k(const int32_t* tokens, int n, int pos,
                                                       int k) override;
  uint32_t top_k_chunks() const {
    return (uint32_t(hp_.n_vocab) + ops_->top_k_chunk() - 1) / ops_->top_k_chunk();
  }
  void forward_hidden(const int32_t* tokens, int n, int pos, float* hidden_out) override;
  int n_layers() const override { return int(layers_.size()); }
  std::string device_name() const override { return ops_->ctx().name; }
  uint64_t device_bytes_used() const override { return ops_->mem().device_bytes(); }
  size_t recorded_passes() const override { return recorded_; }
  std::vector<uint32_t> attn_wait_words() override {
    if (!wait_flag_) return {};
    ops_->ctx().settle();
    std::vector<uint32_t> w(1 + heads_->size / 4);
    w[0] = *static_cast<const volatile uint32_t*>(wait_flag_->mapped);
    ops_->mem().download(*heads_, 0, w.data() + 1, heads_->size);
    return w;
  }
  int attn_wait_redos() const override { return wait_redos_; }
  void set_attn_wait_gave_up(uint32_t v) override {
    if (wait_flag_) *static_cast<volatile uint32_t*>(wait_flag_->mapped) = v;
  }
  std::vector<std::pair<std::string, double>> stage_times() override {
    auto it = profiles_.find(last_key_);
    return it == profiles_.end() ? std::vector<std::pair<std::string, double>>{}
                                 : ops_->profile_read(it->second);
  }
  std::vector<PassTime> take_pass_times() override {
    return std::exchange(pass_times_, {});
  }
  std::vector<uint64_t> attn_clocks() override {
    if (!attn_clocks_) return {};
    ops_->ctx().settle();
    std::vector<uint32_t> w(attn_clocks_->size / 4);
    ops_->mem().download(*attn_clocks_, 0, w.data(), w.size() * 4);
    std::vector<uint64_t> v(w.size() / 2);
    for (size_t i = 0; i < v.size(); ++i) v[i] = w[2 * i] | uint64_t(w[2 * i + 1]) << 32;
    return v;
  }
  void idle() override { ops_->ctx().release(); }
  void settle() override { ops_->ctx().settle(); }
  bool holding() const override { return ops_->ctx().holding(); }

 private:
  // (kTopK's k is not part of it: the pass reads it from params, kParamTopK)
  VkCommandBuffer record(uint32_t n, Out out, uint32_t n_split);
  // Throws unless every layer and the output are here (what: the calling method).
  void require_output(const char* what) const {
    if (!owns_output_)
      throw Error(std::string("Vulkan: ") + what + " needs every layer on the GPU (this backend holds " +
                  std::to_string(layers_.size()) + " of " + std::to_string(hp_.n_layer) +
                  "; use forward_hidden)");
  }
  // Runs tokens in chunks of max_batch; copies each chunk's result to `out` (nullptr: the
  // last chunk's stays in readback_ only).
  void run(const int32_t* tokens, int n, int pos, float* out, Out what, uint32_t k = 0);
  Buffer* opt_f32(const float* p, size_t n, const std::string& what) {
    return p ? ops_->upload_f32(p, n, what) : nullptr;
  }

  HParams hp_;
  int n_ctx_, max_batch_;
  std::unique_ptr<Ops> ops_;
  GpuWeight tok_embd_, output_;
  Buffer* output_norm_ = nullptr;
  Buffer* inv_freq_ = nullptr;
  std::vector<LayerGpu> layers_;
  Buffer *x_, *h_, *q_, *k_, *v_, *att_, *g_, *u_, *logits_ = nullptr, *part_;
  Buffer* g_half_ = nullptr;  // g as f16 for decode-sized batches (MvqoShape::x_half)
  // forward_argmax's token id (argmax of the last logits), or forward_top_k's candidates
  Buffer* ids_ = nullptr;
  // positions and token ids: written by the host (host_*), copied at the start of each
  // pass into device-local twins that the shaders read (every layer's attention reads the
  // position: from host memory that is a bus round trip each); with Tuning::direct_params
  // and device-local host-visible memory, host_* are those twins
  Buffer *host_params_ = nullptr, *host_tokens_ = nullptr, *params_ = nullptr,
         *tokens_ = nullptr, *readback_ = nullptr;
  // int8 activations for mul_mvq_q8 (decode-sized batches, Tuning::use_mvq): xq_ feeds
  // q/k/v, gate/up and the output; xq2_ feeds wo and down
  Q8Act xq_, xq2_;
  // prompt batches on tensor cores: the activations of the current matmuls as f16 tiles
  // (Ops::x_tiles), converted once per input
  Buffer* xt_ = nullptr;
  Buffer* counters_ = nullptr;  // attn_fused's split counters (zeroed once)
  // Tuning::attn_wait: the word counting waits that gave up (mapped; null: no waits) and
  // q, k and v per query head (MvqIo::heads)
  Buffer *wait_flag_ = nullptr, *heads_ = nullptr;
  int wait_redos_ = 0;              // calls redone after a wait gave up
  // whether a pass's attn_decode_wait gave up waiting (its results are void)
  bool wait_gave_up() const;
  // after that: passes from now on with barriers (a held one settled, the command buffers
  // recorded with waits dropped)
  void abandon_waits();
  Buffer* attn_clocks_ = nullptr;  // Tuning::attn_clocks: [layer][head][32] uvec2
  bool owns_output_ = true;  // every layer here: output norm and matrix too
  using Key = std::tuple<uint32_t, Out, uint32_t>;
  std::map<Key, VkCommandBuffer> cmds_;
  std::map<Key, StageProfile> profiles_;  // with Tuning::profile, per command buffer
  Key last_key_{};
  size_t recorded_ = 0;
  std::vector<PassTime> pass_times_;  // Tuning::time_passes
  // Tuning::presubmit (not while profiling): the kind of the one-token pass held by the
  // device for the next call (Context::holding)
  bool presubmit_ = false;
  Out held_out_ = Out::kLastLogits;
  uint32_t held_split_ = 0;
};

BackendImpl::BackendImpl(const ModelWeights& w, int device_index, int n_ctx, int max_batch,
                         const Tuning* tuning, int n_layers)
    : hp_(w.hp), n_ctx_(n_ctx), max_batch_(std::max(1, max_batch)) {
  const int n_gpu = n_layers < 0 ? hp_.n_layer : std::min(n_layers, hp_.n_layer);
  owns_output_ = n_gpu == hp_.n_layer;
  if (n_ctx <= 0) throw Error("Vulkan: n_ctx must be positive (got " + std::to_string(n_ctx) + ")");
  const int hd = hp_.head_dim, n_embd = hp_.n_embd;
  const int q_dim = hp_.n_head * hd, kv_dim = hp_.n_head_kv * hd;
  if (hd <= 0 || hd % 2 != 0 || hd > 256 || hp_.n_head_kv <= 0 || hp_.n_head % hp_.n_head_kv != 0 ||
      hp_.n_rot > hd || hp_.n_rot % 2 != 0)
    throw Error("Vulkan: unsupported attention shape (head_dim " + std::to_string(hd) +
                ", n_head " + std::to_string(hp_.n_head) + ", n_head_kv " +
                std::to_string(hp_.n_head_kv) + ", n_rot " + std::to_string(hp_.n_rot) +
                "): needs an even head_dim <= 256, n_head % n_head_kv == 0, an even n_rot <= head_dim");
  ops_ = std::make_unique<Ops>(device_index, tuning);
  {
    const Tuning& t = ops_->pipes().tuning();
    presubmit_ = t.presubmit && !t.profile && ops_->ctx().caps.timeline_semaphore;
  }

  tok_embd_ = ops_->upload_weight(w.tok_embd, "token_embd.weight");
  if (owns_output_) {
    output_ = w.output.data == w.tok_embd.data && w.output.type == w.tok_embd.type
                  ? tok_embd_
                  : ops_->upload_weight(w.output, "output.weight");
    output_norm_ = ops_->upload_f32(w.output_norm, size_t(n_embd), "output_norm.weight");
  }
  std::vector<float> inv(size_t(std::max(1, hp_.n_rot / 2)), 0.0f);
  // base^(-2i/n_rot) as a running product, the way the CPU path (kernels/ops.cpp) forms it
  const float theta_scale = std::pow(hp_.rope_base, -2.0f / float(hp_.n_rot));
  float f = 1.0f;
  for (int i = 0; i < hp_.n_rot / 2; ++i, f *= theta_scale)
    inv[size_t(i)] = w.rope_freqs ? f / w.rope_freqs[i] : f;
  inv_freq_ = ops_->upload_f32(inv.data(), inv.size(), "rope inverse frequencies");

  const size_t cache_bytes = size_t(n_ctx) * size_t(kv_dim) * 2;
  for (size_t l = 0; l < size_t(n_gpu); ++l) {
    const LayerWeights& lw = w.layers[l];
    const std::string b = "blk." + std::to_string(l) + ".";
    LayerGpu g;
    g.attn_norm = ops_->upload_f32(lw.attn_norm, size_t(n_embd), b + "attn_norm.weight");
    g.wq = ops_->upload_weight(lw.wq, b + "attn_q.weight");
    g.wk = ops_->upload_weight(lw.wk, b + "attn_k.weight");
    g.wv = ops_->upload_weight(lw.wv, b + "attn_v.weight");
    g.bq = opt_f32(lw.bq, size_t(q_dim), b + "attn_q.bias");
    g.bk = opt_f32(lw.bk, size_t(kv_dim), b + "attn_k.bias");
    g.bv = opt_f32(lw.bv, size_t(kv_dim), b + "attn_v.bias");
    g.wo = ops_->upload_weight(lw.wo, b + "attn_output.weight");
    g.ffn_norm = ops_->upload_f32(lw.ffn_norm, size_t(n_embd), b + "ffn_norm.weight");
    g.w_gate = ops_->upload_weight(lw.w_gate, b + "ffn_gate.weight");
    g.w_up = ops_->upload_weight(lw.w_up, b + "ffn_up.weight");
    g.w_down = ops_->upload_weight(lw.w_down, b + "ffn_down.weight");
    g.kcache = ops_->mem().device_buffer(cache_bytes, b + "K cache");
    g.vcache = ops_->mem().device_buffer(cache_bytes, b + "V cache");
    layers_.push_back(g);
  }

  Memory& m = ops_->mem();
  const size_t mb = size_t(max_batch_);
  x_ = m.device_buffer(mb * n_embd * 4, "activations x");
  h_ = m.device_buffer(mb * n_embd * 4, "activations h");
  q_ = m.device_buffer(mb * q_dim * 4, "activations q");
  k_ = m.device_buffer(mb * kv_dim * 4, "activations k");
  v_ = m.device_buffer(mb * kv_dim * 4, "activations v");
  att_ = m.device_buffer(mb * q_dim * 4, "activations attn");
  g_ = m.device_buffer(mb * size_t(hp_.n_ff) * 4, "activations gate");
  u_ = m.device_buffer(mb * size_t(hp_.n_ff) * 4, "activations up");
  const size_t out_row = owns_output_ ? size_t(hp_.n_vocab) : size_t(n_embd);
  if (owns_output_) {
    logits_ = m.device_buffer(mb * out_row * 4, "logits");
    ids_ = m.device_buffer(size_t(top_k_chunks()) * Ops::kTopKMax * 8, "greedy id / top-k candidates");
  }
  part_ = m.device_buffer(size_t(hp_.n_head) * kMaxSplits * size_t(hd + 2) * 4, "attention partials");
  if (ops_->pipes().tuning().use_mvq && ops_->ctx().caps.integer_dot) {
    const uint32_t widest = uint32_t(std::max({n_embd, q_dim, hp_.n_ff}));
    const uint32_t rows = uint32_t(std::min<size_t>(mb, kMmMinTokens - 1));
    xq_ = ops_->alloc_q8((widest + 31) / 32 * 32 * rows, "activations int8");
    xq2_ = ops_->alloc_q8((widest + 31) / 32 * 32 * rows, "activations int8 (wo, down)");
    if (ops_->half_supported())
      g_half_ = m.device_buffer(size_t(rows) * size_t(hp_.n_ff) * 2, "activations gate f16");
  }
  if (ops_->uses_coopmat(uint32_t(mb))) {
    const uint64_t widest = uint64_t(std::max({n_embd, q_dim, hp_.n_ff}));
    xt_ = m.device_buffer(Ops::x_tiles_bytes(widest, mb), "activations f16 tiles");
  }
  counters_ = m.device_buffer(size_t(Ops::kAttnFusedMaxTokens) * size_t(hp_.n_head) * 4,
                             "attention split counters");
  if (ops_->pipes().tuning().attn_wait) {
    wait_flag_ = m.mapped_device_buffer(4, "attention waits given up");
    if (wait_flag_) {
      *static_cast<uint32_t*>(wait_flag_->mapped) = 0;
      heads_ = m.device_buffer(size_t(hp_.n_head) * 3 * size_t(hp_.head_dim) * 4,
                               "q, k and v per head");
      ops_->ctx().run_now([&](VkCommandBuffer cb) {  // all empty
        ops_->ctx().fn.vkCmdFillBuffer(cb, heads_->handle, 0, VK_WHOLE_SIZE, 0xFFFFFFFFu);
      });
    }
  }
  ops_->ctx().run_now([&](VkCommandBuffer cb) {
    ops_->ctx().fn.vkCmdFillBuffer(cb, counters_->handle, 0, VK_WHOLE_SIZE, 0);
  });
  if (ops_->pipes().tuning().direct_params) {
    params_ = m.mapped_device_buffer(256, "params");
    tokens_ = params_ ? m.mapped_device_buffer(mb * 4, "token ids") : nullptr;
  }
  if (params_ && tokens_) {
    host_params_ = params_;
    host_tokens_ = tokens_;
  } else {
    host_params_ = m.host_buffer(256, false, "params");
    host_tokens_ = m.host_buffer(mb * 4, false, "token ids");
    params_ = m.device_buffer(256, "params (device)");
    tokens_ = m.device_buffer(mb * 4, "token ids (device)");
  }
  if (ops_->pipes().tuning().attn_clocks && ops_->ctx().caps.shader_clock)
    attn_clocks_ = m.device_buffer(layers_.size() * size_t(hp_.n_head) * 32 * 8, "attention clocks");
  readback_ = m.host_buffer(std::max(mb * out_row * 4, size_t(top_k_chunks()) * Ops::kTopKMax * 8), true, owns_output_ ? "logits readback" : "hidden readback");
}

BackendImpl::~BackendImpl() {
  try {
    ops_->ctx().settle();  // (a held pass still refers to the command buffers)
  } catch (const Error&) {
  }
  for (auto& [key, cb] : cmds_) ops_->ctx().free_command_buffer(cb);
  for (auto& [key, prof] : profiles_) ops_->profile_destroy(prof);
}

bool BackendImpl::wait_gave_up() const {
  return wait_flag_ && *static_cast<const volatile uint32_t*>(wait_flag_->mapped) != 0;
}

void BackendImpl::abandon_waits() {
  Context& c = ops_->ctx();
  c.settle();  // (a held pass recorded with the waits runs first)
  ++wait_redos_;
  wait_flag_ = nullptr;
  for (auto& [key, cb] : cmds_) c.free_command_buffer(cb);
  cmds_.clear();
}

VkCommandBuffer BackendImpl::record(uint32_t n, Out out, uint32_t n_split) {
  auto key = std::make_tuple(n, out, n_split);
  last_key_ = key;
  auto it = cmds_.find(key);
  if (it != cmds_.end()) return it->second;
  if (cmds_.size() >= 16) {
    ops_->ctx().settle();  // (none of them may be pending)
    for (auto& [k, cb] : cmds_) ops_->ctx().free_command_buffer(cb);
    cmds_.clear();
  }
  Ops& o = *ops_;
  Context& c = o.ctx();
  const uint32_t n_embd = uint32_t(hp_.n_embd), hd = uint32_t(hp_.head_dim);
  const uint32_t q_dim = uint32_t(hp_.n_head) * hd, kv_dim = uint32_t(hp_.n_head_kv) * hd;
  const uint32_t n_ff = uint32_t(hp_.n_ff), n_vocab = uint32_t(hp_.n_vocab);

  ++recorded_;
  VkCommandBuffer cb = c.alloc_command_buffer();
  VkCommandBufferBeginInfo bi{};
  bi.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
  // a one-token pass is submitted again (held) while it runs: Tuning::presubmit
  if (n == 1 && presubmit_) bi.flags |= VK_COMMAND_BUFFER_USAGE_SIMULTANEOUS_USE_BIT;
  PETREL_VK_CHECK(c.fn.vkBeginCommandBuffer(cb, &bi));
  const bool clock = o.pipes().tuning().time_passes;
  if (clock) o.pass_clock(cb, false);
  if (o.pipes().tuning().profile) o.profile_begin(cb, profiles_[key], 64 + 16 * uint32_t(layers_.size()));
  if (host_params_ != params_) {  // (else the host wrote them into device memory)
    const VkBufferCopy cp_params{0, 0, 16}, cp_tokens{0, 0, VkDeviceSize(n) * 4};
    c.fn.vkCmdCopyBuffer(cb, host_params_->handle, params_->handle, 1, &cp_params);
    c.fn.vkCmdCopyBuffer(cb, host_tokens_->handle, tokens_->handle, 1, &cp_tokens);
    o.transfer_barrier(cb);
  }
  const RopeStorePush rp{uint32_t(hp_.n_head), uint32_t(hp_.n_head_kv), hd, uint32_t(hp_.n_rot),
                         uint32_t(hp_.rope_mode), q_dim, kv_dim};
  const AttnPush ap{uint32_t(hp_.n_head), uint32_t(hp_.n_head_kv), hd, n_split,
                    1.0f / std::sqrt(float(hd))};
  // with Tuning::use_mvq, decode-sized batches take the int8-activation matvec where every
  // weight of a step allows it. Its int8 rows come from the step before where that step is
  // a matvec too (MvqIo::out): wo and down write x * (the next norm weight) into xq_ along
  // with x (the next matvec applies the norm's 1/rms, MvqIo::x_rms), gate/up writes g into
  // xq2_, attn_fused writes its output into xq2_; elsewhere quantize_q8 (with the rms norm
  // where one precedes) makes them, a stage of its own.
  const bool small = n < kMmMinTokens;
  const bool mvq = small && xq_.buf != nullptr;
  auto q8 = [&](const GpuWeight& w) { return mvq && o.mvq_supported(w); };
  auto q8_qkv = [&](const LayerGpu& L) { return q8(L.wq) && q8(L.wk) && q8(L.wv); };
  const float eps = hp_.norm_eps;
  // quantize n rows of `width` floats of `src` into dst, then a barrier
  auto quantize = [&](const Buffer& src, uint32_t width, const Q8Act& dst, const Buffer* norm) {
    o.quantize_q8(cb, src, 0, width, width, n, dst, norm, eps);
    o.barrier(cb);
  };
  // the logits take the int8 matvec (the last row only unless all_logits)
  const bool all_logits = out == Out::kAllLogits;
  const uint32_t rows = all_logits ? n : 1;
  const bool out_q8 = out != Out::kHidden && rows < kMmMinTokens && xq_.buf && o.mvq_supported(output_);
  bool x_ready = false;  // xq_ holds x * the next norm weight, with sums of squares
  // x = tok_embd[tokens]   [n, n_embd]; where layer 0's q/k/v take the int8 matvec, also
  // x * attn_norm into xq_ (Tuning::embed_q8: no quantize_q8 stage before them)
  if (!layers_.empty() && q8_qkv(layers_[0]) && o.pipes().tuning().embed_q8 &&
      o.get_rows_q8_supported(tok_embd_)) {
    o.get_rows_q8(cb, tok_embd_, *tokens_, *x_, n, xq_, *layers_[0].attn_norm);
    x_ready = true;
  } else {
    o.get_rows(cb, tok_embd_, *tokens_, 0, *x_, n);
  }
  o.barrier(cb);
  // prompt batches on tensor cores: each matmul input converted once to xt_ (a stage of
  // its own), read by every matmul that takes it
  const bool cm = xt_ && o.uses_coopmat(n);
  auto tiles = [&](const Buffer& src, uint32_t width) {
    if (!cm) return;
    o.x_tiles(cb, src, 0, width, width, n, *xt_);
    o.barrier(cb);
  };
  auto mm = [&](const GpuWeight& w, MatArgs a) {
    if (!cm) return o.matmul(cb, w, a, n);
    a.x = xt_;
    a.x_off = 0;
    a.x_stride = n;
    o.mul_mm_cm(cb, w, a, n);
  };
  // records layer li's decode matvec stage with layer li's weights; where
  // Tuning::repeat_stages has its bit, then again (after a barrier) with the weights of the
  // next layer whose weight types are li's, so the repeat does not read them from L2
  auto stage = [&](size_t li, uint32_t bit, const auto& record) {
    record(layers_[li]);
    if ((o.pipes().tuning().repeat_stages & bit) == 0) return;
    auto types = [](const LayerGpu& L) {
      return std::array{L.wq.type, L.wk.type, L.wv.type, L.wo.type, L.w_gate.type, L.w_up.type,
                        L.w_down.type};
    };
    size_t j = (li + 1) % layers_.size();
    while (j != li && types(layers_[j]) != types(layers_[li])) j = (j + 1) % layers_.size();
    o.tag_stage(" (once)");
    o.barrier(cb);
    record(layers_[j]);
  };
  const Tuning& tu = o.pipes().tuning();
  // Tuning::attn_wait: q, k and v written per query head into heads_, which attention
  // polls, with no barrier between (not in the diagnostics that time, skip or repeat
  // these stages; per layer, where attention is attn_decode and q and k share a dispatch)
  const bool may_wait = wait_flag_ && small && !attn_clocks_ && (tu.repeat_stages & 35u) == 0 &&
                        (tu.skip_barriers & 1u) == 0;
  for (size_t li = 0; li < layers_.size(); ++li) {
    const LayerGpu& L = layers_[li];
    const Buffer* const biases[3] = {L.bq, L.bk, L.bv};
    // q and k in one dispatch (Tuning::mvq_qkv), with v where its type agrees
    const bool qk_one = tu.mvq_qkv && q8_qkv(L) && o.mvq_qkv_supported(L.wq, L.wk, nullptr, biases);
    // with attn_fused's int8 output, wo reads it straight from xq2_
    const bool q8_att = small && q8(L.wo) && hd % 32 == 0;
    const AttnFusedPush fp{uint32_t(hp_.n_head), uint32_t(hp_.n_head_kv), hd, uint32_t(hp_.n_rot),
                           uint32_t(hp_.rope_mode), n_split, q8_att ? 1u : 0u,
                           q8_att ? xq2_.ds_off() : 0u, ap.scale};
    const bool wait = may_wait && qk_one && o.uses_attn_decode(fp, n);
    // RoPE, cache store and attention (att [n, q_dim]) in one dispatch
    auto attend = [&](const LayerGpu& C) {
      const VkDeviceSize per_layer = VkDeviceSize(hp_.n_head) * 32 * 8;
      const BufRef clk = attn_clocks_ ? BufRef{attn_clocks_, li * per_layer, per_layer} : BufRef{};
      o.attention_fused(cb, {wait ? heads_ : q_, k_, v_, C.kcache, C.vcache, q8_att ? xq2_.buf : att_, part_,
                             wait ? wait_flag_ : counters_, params_, inv_freq_, clk, wait},
                        fp, n);
    };
    // a waiting attention recorded before q/k/v (where no quantize stage comes between)
    // starts first: its workgroups hold their SMs' room before the matvecs take it all
    const bool attend_first = wait && x_ready && tu.attn_wait_first;
    if (attend_first) attend(L);
    // q, k, v = W rms_norm(x) * attn_norm + b      [n, q_dim], [n, kv_dim], [n, kv_dim]
    if (q8_qkv(L)) {
      if (!x_ready) quantize(*x_, n_embd, xq_, L.attn_norm);
      MvqIo in{x_ready, eps};
      if (wait) {
        in.heads = heads_;
        in.heads_hd = hd;
        in.heads_group = uint32_t(hp_.n_head / hp_.n_head_kv);
      }
      MvqIo in_v = in;  // v in a dispatch of its own (slot 2)
      in_v.heads_slot = 2;
      const MatArgs q_args{nullptr, 0, n_embd, q_, 0, q_dim, L.bq};
      const Buffer* const outs[3] = {q_, k_, v_};
      // one dispatch for the three where their types agree (Tuning::mvq_qkv); where only
      // q's and k's do (Q4_K_M's Q6_K v layers), one for q and k and one for v
      if (qk_one && o.mvq_qkv_supported(L.wq, L.wk, &L.wv, biases)) {
        stage(li, 1, [&](const LayerGpu& W) {
          o.mul_mvq_qkv(cb, W.wq, W.wk, &W.wv, xq_, q_args, outs, biases, n, in);
        });
      } else {
        if (qk_one) {
          o.mul_mvq_qkv(cb, L.wq, L.wk, nullptr, xq_, q_args, outs, biases, n, in);
        } else {
          o.mul_mvq_q8(cb, L.wq, xq_, q_args, n, in);
          o.mul_mvq_q8(cb, L.wk, xq_, {nullptr, 0, n_embd, k_, 0, kv_dim, L.bk}, n, in);
        }
        o.mul_mvq_q8(cb, L.wv, xq_, {nullptr, 0, n_embd, v_, 0, kv_dim, L.bv}, n, in_v);
      }
    } else {
      o.rms_norm(cb, *x_, 0, *L.attn_norm, *h_, 0, n, n_embd, eps);  // h [n, n_embd]
      o.barrier(cb);
      tiles(*h_, n_embd);
      mm(L.wq, {h_, 0, n_embd, q_, 0, q_dim, L.bq});
      mm(L.wk, {h_, 0, n_embd, k_, 0, kv_dim, L.bk});
      mm(L.wv, {h_, 0, n_embd, v_, 0, kv_dim, L.bv});
    }
    x_ready = false;  // taken (or of no use to wo's other path)
    if (!wait) o.stage_barrier(cb, 1);
    if (small) {
      if (!attend_first) attend(L);
      // Tuning::repeat_stages 2: attention again over the same cache (its code and cache
      // rows warm; the same results), 32: over the next layer's cache (code warm, rows not)
      const uint32_t rep = tu.repeat_stages;
      if ((rep & (2u | 32u)) != 0) {
        o.tag_stage(" (once)");
        o.barrier(cb);
        attend((rep & 32u) != 0 ? layers_[(li + 1) % layers_.size()] : L);
      }
      o.stage_barrier(cb, 2);
    } else {
      // RoPE on q and k; k, v -> cache rows pos..pos+n-1 (f16)
      o.rope_store(cb, *q_, *k_, *v_, *L.kcache, *L.vcache, *params_, *inv_freq_, rp, n);
      o.barrier(cb);
      // att = softmax(q K^T / sqrt(hd)) V, causal                       [n, q_dim]
      if (n >= kAttnTiledMinTokens && Ops::attention_tiled_supported(hd))
        o.attention_tiled(cb, *q_, *L.kcache, *L.vcache, *att_, *params_,
                          {ap.n_head, ap.n_head_kv, ap.head_dim, n, ap.scale});
      else
        o.attention(cb, *q_, *L.kcache, *L.vcache, *att_, *part_, *params_, ap, n);
      o.barrier(cb);
    }
    // x += wo att                                                   [n, n_embd]
    const bool fuse = small && L.w_gate.type == L.w_up.type;
    const bool glu_q8 = fuse && q8(L.w_gate);
    const MatArgs wo_args{att_, 0, q_dim, x_, 0, n_embd, nullptr, true};
    if (q8(L.wo)) {
      if (!q8_att) quantize(*att_, q_dim, xq2_, nullptr);
      MvqIo io;
      if (glu_q8 && o.mvqo_supported(L.wo)) io.out = &xq_, io.out_norm = L.ffn_norm;
      stage(li, 4, [&](const LayerGpu& W) { o.mul_mvq_q8(cb, W.wo, xq2_, wo_args, n, io); });
      x_ready = io.out != nullptr;
    } else {
      tiles(*att_, q_dim);
      mm(L.wo, wo_args);
    }
    o.stage_barrier(cb, 4);
    // g = silu(w_gate h) * (w_up h), h = rms_norm(x) * ffn_norm      [n, n_ff]
    bool g_ready = false;  // xq2_ holds g
    // down's int8 input: g quantized by gate/up (g_ready), by down itself (down_f32x: g
    // read from g_half_ where set, else from g_) or by a quantize_q8 stage
    const bool last = li + 1 == layers_.size();
    const Buffer* next_norm = last ? (out_q8 ? output_norm_ : nullptr)
                                   : (q8_qkv(layers_[li + 1]) ? layers_[li + 1].attn_norm : nullptr);
    const bool down_q8out = q8(L.w_down) && next_norm && o.mvqo_supported(L.w_down);
    const bool gate_q8out = glu_q8 && q8(L.w_down) && o.mvqo_supported(L.w_gate, true) &&
                            o.mvqo_glu_fits(L.w_gate);
    const bool down_f32x = !gate_q8out && down_q8out && o.pipes().tuning().mvq_f32x &&
                           o.mvq_f32x_supported(L.w_down);
    const Buffer* g_half =
        glu_q8 && down_f32x && o.f32x_reads_half(L.w_down) && n_ff % 8 == 0 ? g_half_ : nullptr;
    if (glu_q8) {
      if (!x_ready) quantize(*x_, n_embd, xq_, L.ffn_norm);
      MvqIo io{x_ready, eps};
      if (gate_q8out) io.out = &xq2_;
      io.half = g_half;
      stage(li, 8, [&](const LayerGpu& W) {
        o.mul_mvq_glu_q8(cb, W.w_gate, W.w_up, xq_, {nullptr, 0, n_embd, g_, 0, n_ff}, n, io);
      });
      g_ready = io.out != nullptr;
    } else {
      o.rms_norm(cb, *x_, 0, *L.ffn_norm, *h_, 0, n, n_embd, eps);
      o.barrier(cb);
      if (fuse) {
        o.mul_mv_glu(cb, L.w_gate, L.w_up, {h_, 0, n_embd, g_, 0, n_ff}, n);
      } else {
        tiles(*h_, n_embd);
        mm(L.w_gate, {h_, 0, n_embd, g_, 0, n_ff});
        mm(L.w_up, {h_, 0, n_embd, u_, 0, n_ff});
        o.barrier(cb);
        if (cm)  // down's tiles straight from gate and up: silu(g) * u
          o.x_tiles(cb, *g_, 0, n_ff, n_ff, n, *xt_, u_);
        else
          o.silu_mul(cb, *g_, *u_, *g_, n * n_ff);
      }
    }
    x_ready = false;
    o.stage_barrier(cb, 8);
    // x += w_down g                                                 [n, n_embd]
    const MatArgs down_args{g_, 0, n_ff, x_, 0, n_embd, nullptr, true};
    if (q8(L.w_down)) {
      // x * the next norm for the next layer's q/k/v or the output
      MvqIo io;
      if (down_q8out) io.out = &xq_, io.out_norm = next_norm;
      if (down_f32x) {
        // (quantizes g itself)
        io.half = g_half;
        stage(li, 16, [&](const LayerGpu& W) { o.mul_mvq_f32x(cb, W.w_down, down_args, n, io); });
      } else {
        if (!g_ready) quantize(*g_, n_ff, xq2_, nullptr);
        stage(li, 16,
              [&](const LayerGpu& W) { o.mul_mvq_q8(cb, W.w_down, xq2_, down_args, n, io); });
      }
      x_ready = io.out != nullptr;
    } else {
      mm(L.w_down, down_args);  // (with tensor cores gate/up left its tiles in xt_)
    }
    o.stage_barrier(cb, 16);
  }
  if (out == Out::kHidden) {
    // hidden state x [n, n_embd] -> host
    o.transfer_barrier(cb);
    VkBufferCopy cp{0, 0, VkDeviceSize(n) * n_embd * 4};
    c.fn.vkCmdCopyBuffer(cb, x_->handle, readback_->handle, 1, &cp);
    o.host_barrier(cb);
    o.profile_end();
    if (clock) o.pass_clock(cb, true);
    PETREL_VK_CHECK(c.fn.vkEndCommandBuffer(cb));
    cmds_.emplace(key, cb);
    return cb;
  }
  // logits = output (rms_norm(x) * output_norm), last row only unless all_logits; with
  // Tuning::direct_logits the last row goes straight into the readback buffer
  const uint32_t off = all_logits ? 0 : (n - 1) * n_embd;
  const bool direct = out == Out::kLastLogits && o.pipes().tuning().direct_logits;
  Buffer* logits = direct ? readback_ : logits_;
  if (out_q8) {
    if (!x_ready) {
      o.quantize_q8(cb, *x_, off, n_embd, n_embd, rows, xq_, output_norm_, eps);
      o.barrier(cb);
    }
    // x_ready: all n rows are in xq_; else the `rows` rows from element 0
    o.mul_mvq_q8(cb, output_, xq_, {nullptr, x_ready ? off : 0u, n_embd, logits, 0, n_vocab},
                 rows, {x_ready, eps});
  } else {
    o.rms_norm(cb, *x_, off, *output_norm_, *h_, off, rows, n_embd, eps);
    o.barrier(cb);
    if (all_logits) {  // rows == n: through xt_ like the layers' matmuls
      tiles(*h_, n_embd);
      mm(output_, {h_, 0, n_embd, logits, 0, n_vocab});
    } else
      o.matmul(cb, output_, {h_, off, n_embd, logits, 0, n_vocab}, rows);
  }
  if (out == Out::kArgmax) {  // greedy: only the id of the largest logit goes to the host
    o.barrier(cb);
    o.argmax(cb, *logits_, *ids_, 1, n_vocab);
    o.transfer_barrier(cb);
    const VkBufferCopy cp{0, 0, 4};
    c.fn.vkCmdCopyBuffer(cb, ids_->handle, readback_->handle, 1, &cp);
  } else if (out == Out::kTopK) {  // sampling: only each chunk's k best go to the host
    o.barrier(cb);
    o.top_k(cb, *logits_, n_vocab, Ops::kTopKMax, *ids_, *params_, kParamTopK);
    o.transfer_barrier(cb);
    const VkBufferCopy cp{0, 0, VkDeviceSize(top_k_chunks()) * Ops::kTopKMax * 8};
    c.fn.vkCmdCopyBuffer(cb, ids_->handle, readback_->handle, 1, &cp);
  } else if (!direct) {
    o.transfer_barrier(cb);
    const VkBufferCopy cp{0, 0, VkDeviceSize(rows) * n_vocab * 4};
    c.fn.vkCmdCopyBuffer(cb, logits_->handle, readback_->handle, 1, &cp);
  }
  o.host_barrier(cb);
  o.profile_end();
  if (clock) o.pass_clock(cb, true);
  PETREL_VK_CHECK(c.fn.vkEndCommandBuffer(cb));
  cmds_.emplace(key, cb);
  return cb;
}

void BackendImpl::forward(const int32_t* tokens, int n, int pos, float* logits_out,
                          bool all_logits) {
  require_output("forward");
  run(tokens, n, pos, logits_out, all_logits ? Out::kAllLogits : Out::kLastLogits);
}

const float* BackendImpl::forward_logits(const int32_t* tokens, int n, int pos) {
  require_output("forward_logits");
  run(tokens, n, pos, nullptr, Out::kLastLogits);
  return static_cast<const float*>(readback_->mapped);
}

int32_t BackendImpl::forward_argmax(const int32_t* tokens, int n, int pos) {
  require_output("forward_argmax");
  float raw = 0.f;  // the id's four bytes
  run(tokens, n, pos, &raw, Out::kArgmax);
  uint32_t id = 0;
  std::memcpy(&id, &raw, 4);
  return int32_t(id);
}

static_assert(Backend::kTopKMax == int(Ops::kTopKMax));

std::vector<std::pair<float, int32_t>> BackendImpl::forward_top_k(const int32_t* tokens, int n,
                                                                 int pos, int k) {
  require_output("forward_top_k");
  if (k <= 0 || uint32_t(k) > Ops::kTopKMax)
    throw Error("Vulkan: forward_top_k takes k in 1.." + std::to_string(Ops::kTopKMax) +
                " (got " + std::to_string(k) + ")");
  // (value bits, index) pairs: each chunk's k best, ranked (padded with indices past the
  // vocabulary), merged here by taking the best head of the chunks' lists k times (sorting
  // all of them took 273 us a token at 38 chunks of 104 on this machine's CPU)
  const size_t chunks = top_k_chunks(), kk = size_t(k);
  std::vector<float> raw(chunks * kk * 2);
  run(tokens, n, pos, raw.data(), Out::kTopK, uint32_t(k));
  using Cand = std::pair<float, int32_t>;
  auto entry = [&](size_t ch, size_t r, Cand& e) {  // false past the chunk's values
    uint32_t idx = 0;
    std::memcpy(&idx, &raw[(ch * kk + r) * 2 + 1], 4);
    if (idx >= uint32_t(hp_.n_vocab)) return false;
    e = {raw[(ch * kk + r) * 2], int32_t(idx)};
    return true;
  };
  struct Head {
    Cand c;
    size_t chunk, rank;
  };
  auto worse = [](const Head& a, const Head& b) { return ranks_before(b.c, a.c); };
  std::vector<Head> heads;
  for (size_t ch = 0; ch < chunks; ++ch) {
    Head h{{}, ch, 0};
    if (entry(ch, 0, h.c)) heads.push_back(h);
  }
  std::make_heap(heads.begin(), heads.end(), worse);
  std::vector<Cand> c;
  while (c.size() < kk && !heads.empty()) {
    std::pop_heap(heads.begin(), heads.end(), worse);
    Head& h = heads.back();
    c.push_back(h.c);
    if (++h.rank < kk && entry(h.chunk, h.rank, h.c))
      std::push_heap(heads.begin(), heads.end(), worse);
    else
      heads.pop_back();
  }
  return c;
}

void BackendImpl::forward_hidden(const int32_t* tokens, int n, int pos, float* hidden_out) {
  run(tokens, n, pos, hidden_out, Out::kHidden);
}

void BackendImpl::run(const int32_t* tokens, int n, int pos, float* out, Out what, uint32_t k) {
  if (n <= 0) throw Error("Vulkan: forward needs at least one token");
  if (pos < 0 || pos + n > n_ctx_)
    throw Error("Vulkan: positions [" + std::to_string(pos) + ", " + std::to_string(pos + n) +
                ") exceed the context of " + std::to_string(n_ctx_));
  for (int i = 0; i < n; ++i)
    if (tokens[i] < 0 || tokens[i] >= hp_.n_vocab)
      throw Error("Vulkan: token id " + std::to_string(tokens[i]) + " at index " +
                  std::to_string(i) + " is outside the vocabulary of " + std::to_string(hp_.n_vocab));
  // floats per row handed back
  const size_t row = what == Out::kHidden ? size_t(hp_.n_embd) : size_t(hp_.n_vocab);
  Context& c = ops_->ctx();
  // Tuning::presubmit: a one-token pass is submitted behind the gate (Context::submit_gated)
  // and released at once, the next one (at pos + 1, same kind) submitted while it runs
  const bool ahead = presubmit_ && n == 1 && pos + 2 <= n_ctx_;
  // the pass the device holds is this one where the kind and the split count agree: its
  // position and token come from the params written below, before its release
  const bool take_held = c.holding() && n == 1 && held_out_ == what &&
                         held_split_ == decode_splits(uint32_t(pos) + 1);
  if (c.holding() && !take_held) c.settle();  // it runs harmlessly (see the end)
  for (int done = 0; done < n;) {
    const int m = std::min(max_batch_, n - done);
    const uint32_t p0 = uint32_t(pos + done);
    std::memcpy(host_tokens_->mapped, tokens + done, size_t(m) * 4);
    static_cast<uint32_t*>(host_params_->mapped)[0] = p0;
    static_cast<uint32_t*>(host_params_->mapped)[kParamTopK] = k;
    const uint32_t n_split = m == 1 ? decode_splits(p0 + 1) : 1;
    if (take_held) {
      last_key_ = std::make_tuple(1u, what, n_split);
      c.open_gate();
    } else {
      VkCommandBuffer cb = record(uint32_t(m), what, n_split);
      if (ahead) {
        c.submit_gated(cb);
        c.open_gate();
      } else {
        c.submit_and_wait(cb);
      }
    }
    if (ahead) {
      const Key key = last_key_;
      held_split_ = decode_splits(p0 + 2);
      held_out_ = what;
      c.submit_gated(record(1, what, held_split_));
      last_key_ = key;
      c.wait_gated();
      // until the next call writes its own, the held pass runs at the next position with
      // token 0: were it released for a call of another kind, it writes only the KV cache
      // row past this one (rewritten before any pass reads it) and buffers that every pass
      // writes before reading
      static_cast<uint32_t*>(host_tokens_->mapped)[0] = 0;
      static_cast<uint32_t*>(host_params_->mapped)[0] = p0 + 1;
    } else {
      c.wait_gated();  // (the held pass this call took)
    }
    if (m == 1 && wait_gave_up()) {
      // a wait of attn_decode_wait gave up, so this pass is void: redo the call with
      // barriers, as every pass from now on
      abandon_waits();
      return run(tokens, n, pos, out, what, k);
    }
    if (ops_->pipes().tuning().time_passes) {
      const auto [start, end] = ops_->pass_clock_read();
      PassTime t{start, end, c.last_submit_s, c.last_outside_s};
      const auto [ticks, host_s] = c.calibrate();
      if (host_s > 0) {
        const double to_host = host_s - ops_->ticks_to_seconds(ticks);
        t.calibrated = true;
        t.launch = start + to_host - c.last_release_at;
        t.detect = c.last_seen_at - (end + to_host);
      }
      pass_times_.push_back(t);
    }
    ops_->mem().invalidate(*readback_);
    const auto* src = static_cast<const float*>(readback_->mapped);
    if (what == Out::kArgmax) {
      if (done + m == n) std::memcpy(out, src, 4);
    } else if (what == Out::kTopK) {
      if (done + m == n) std::memcpy(out, src, size_t(top_k_chunks()) * k * 8);
    } else if (what != Out::kLastLogits)
      std::memcpy(out + size_t(done) * row, src, size_t(m) * row * 4);
    else if (done + m == n && out)
      std::memcpy(out, src, row * 4);
    done += m;
  }
}

}  // namespace

Backend::~Backend() = default;

std::unique_ptr<Backend> Backend::create(const ModelWeights& w, int device_index, int n_ctx,
                                         int max_batch, const Tuning* tuning, int n_layers) {
  return std::make_unique<BackendImpl>(w, device_index, n_ctx, max_batch, tuning, n_layers);
}

}  // namespace petrel::vk
