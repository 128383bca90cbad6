// Compute pipelines, created lazily from one declarative table (vk_pipelines.cpp): for
// each shader its bindings (descriptor count per binding), push-constant struct and
// specialization constants, whose values are tuned per device. Also caches descriptor
// sets per (pipeline, buffers) so a recorded forward pass allocates nothing.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/vulkan/vk_memory.h"

namespace petrel::vk {

// Push-constant blocks; each mirrors the `Push` block of its shader.
struct MulMvPush {
  uint32_t n_in, n_out, B, off1, off2, x_off, x_stride, y_off, y_stride, flags;
};
struct MulMvqPush {
  uint32_t n_in, n_out, B, off1, off2, x_off, x_stride, y_off, y_stride, flags, ds_off, ps_off,
      o_ds_off, o_ps_off;
  float eps;
};
// mul_mvq_qkv: MulMvqPush (weight 0) then weights 1 and 2 (shaders/mul_mvq.comp, QKV)
struct MulMvqkvPush {
  MulMvqPush q;
  uint32_t kv_rows, kv_off1, kv_off2, n_w;
};
// the HEADS variants (mul_mvq_heads, mul_mvq_qkv_heads): the push above, then head_dim,
// the plain variant's slot (0 q, 1 k, 2 v) and the query heads a kv head has
struct MulMvqHeadsPush {
  MulMvqPush q;
  uint32_t h_hd, h_slot, h_group;
};
struct MulMvqkvHeadsPush {
  MulMvqkvPush qkv;
  uint32_t h_hd, h_slot, h_group;
};
struct QuantizeQ8Push {
  uint32_t n, x_off, x_stride, ds_off, flags;
  float eps;
};
struct MulMmPush {
  uint32_t n_in, n_out, B, off1, off2, n_tokens, x_off, x_stride, y_off, y_stride, flags;
};
struct GetRowsPush {
  uint32_t n_in, B, off1, off2, ids_off, out_off, out_stride;
  uint32_t o_ds_off = 0, o_ps_off = 0;  // get_rows_q8's quantized rows
};
struct RmsNormPush {
  uint32_t n, x_off, x_stride, y_off, y_stride;
  float eps;
};
struct RopeStorePush {
  uint32_t n_head, n_head_kv, head_dim, n_rot, mode, q_stride, kv_stride;
};
struct AttnPush {
  uint32_t n_head, n_head_kv, head_dim, n_split;
  float scale;
};
struct AttnFusedPush {
  uint32_t n_head, n_head_kv, head_dim, n_rot, mode, n_split, flags, ds_off;
  float scale;
};
struct AttnCombinePush {
  uint32_t n_head, head_dim, n_split;
};
struct CountPush {
  uint32_t n;
};
struct TopKPush {
  uint32_t n, k_max, k_at;
};
struct GridSyncPush {
  uint32_t n4, phases, sync, phase0;
};
struct PingPongPush {
  uint32_t rounds, spin_limit;
};
struct AttnTiledPush {
  uint32_t n_head, n_head_kv, head_dim, n_tokens;
  float scale;
};
struct XTilesPush {
  uint32_t n_in, n_tokens, x_off, x_stride, n_kt;
};

// Per-device values of the specialization constants.
struct Tuning {
  uint32_t mv_wg = 128;    // mul_mv threads per workgroup
  uint32_t mv_rows = 2;    // mul_mv rows per workgroup (32-element blocks, F32/F16/BF16)
  uint32_t mv_rows_k = 4;  // mul_mv rows per workgroup (Q4_K, Q5_K)
  uint32_t mv_rows_q6_k = 2;  // mul_mv rows per workgroup (Q6_K)
  bool use_mvq = false;    // forward decode uses mul_mvq (int8 activations) where it can
  uint32_t mvq_wg = 128;   // mul_mvq threads per workgroup (Q4_K)
  uint32_t mvq_rows = 2;   // mul_mvq rows per workgroup (Q4_K)
  uint32_t mvq_wg_q6_k = 128, mvq_rows_q6_k = 2;  // the same for Q6_K
  uint32_t mvq_wg_q8_0 = 128, mvq_rows_q8_0 = 2;  // and Q8_0
  // mul_mvqo (mul_mvq whose workgroups own 32 rows and also write y quantized): threads
  // of each row group and its rows (32 / rows groups per workgroup) for mul_mvqo and for
  // mul_mvqo_glu, per type; rows 0: not used (quantize_q8 instead)
  // glu_max_per_sm: mul_mvqo_glu only while its workgroups (one per 32 rows) number at
  // most this many per SM (DeviceCaps::sm_count), i.e. run in one wave; beyond, gate/up
  // writes f32 and down quantizes it (mul_mvq_f32x). 0: no limit.
  // unroll: chunks of its row each thread of mul_mvq and mul_mvq_qkv (q/k/v, the output)
  // loads before using any; o_unroll: the same for mul_mvqo (wo, Q4_K down); glu_unroll:
  // for the plain gate/up (mul_mvq_glu); x_unroll: for mul_mvqox (down quantizing g).
  // mul_mvqo_glu loads one chunk at a time.
  struct MvqoShape {
    uint32_t wg = 32, rows = 1, glu_wg = 32, glu_rows = 1, glu_max_per_sm = 0;
    uint32_t unroll = 1, o_unroll = 1, glu_unroll = 1, x_unroll = 1;
    // a down of this type that quantizes g itself (mvq_f32x) reads it as halves, which
    // gate/up also writes (MvqIo::half; on devices with 16-bit storage)
    bool x_half = false;
  };
  MvqoShape mvqo_q4_k, mvqo_q6_k, mvqo_q8_0;
  // The shape of a weight type (Q4_K unless q6_k or q8_0).
  const MvqoShape& mvqo(bool q6_k, bool q8_0) const {
    return q6_k ? mvqo_q6_k : q8_0 ? mvqo_q8_0 : mvqo_q4_k;
  }
  // Backend: a matvec with a quantized output whose input is still f32 (down after a
  // gate/up that does not quantize its output) quantizes it itself (Ops::mul_mvq_f32x)
  // instead of a quantize_q8 stage before it
  bool mvq_f32x = true;
  // Backend: q, k and v of one type in one dispatch (Ops::mul_mvq_qkv; Q4_K_M's layers
  // whose v is Q6_K: q and k in one)
  bool mvq_qkv = true;
  // Backend: the token embedding lookup also writes layer 0's int8 q/k/v input
  // (Ops::get_rows_q8) instead of a quantize_q8 stage after it
  bool embed_q8 = true;
  // Backend: positions and token ids written by the host straight into device-local
  // memory where the device has a host-visible kind (no copies at each pass's start)
  bool direct_params = true;
  // Backend: a pass that hands back the last token's logits has the output matvec write
  // them straight into the host-visible readback buffer (no device-local copy, transfer
  // barrier and copy at the pass's end)
  bool direct_logits = false;
  bool profile = false;     // Backend: timestamp after every stage (Backend::stage_times)
  // Backend: the host waits for each pass by polling its fence (Context::spin_wait), a CPU
  // core busy meanwhile, instead of sleeping until the driver wakes it
  bool spin_wait = false;
  // Backend: timestamps at the start and end of every pass (Backend::take_pass_times)
  bool time_passes = false;
  // Backend: after a one-token pass the next one-token pass of the same kind is submitted
  // ahead, held by the device until the next call opens its gate (Context::submit_gated;
  // with timeline semaphores): the next token's submission is paid while this one runs.
  // A call of another kind first runs the held pass (at the next position, token 0: it
  // writes only a KV row past the valid ones); Backend::idle does that at once.
  bool presubmit = false;
  // Diagnostic only, results are wrong: Ops::barrier records nothing (outside profiles),
  // so dependent stages overlap; bench_vulkan --mvqo nobarrier times the upper bound of
  // what removing the stage boundaries could give
  bool no_barriers = false;
  // Diagnostic only, results are wrong: the decode layer boundaries whose bit is set get no
  // barrier (Ops::stage_barrier; 1 after q/k/v, 2 after attention, 4 after wo, 8 after
  // gate/up, 16 after down); bench_vulkan --mvqo nobarrier:MASK times what removing one
  // boundary (a fusion of the two stages) could give at most
  uint32_t skip_barriers = 0;
  // Diagnostic only, results are wrong: the decode matvec stages whose bit is set (as
  // skip_barriers: 1 q/k/v, 4 wo, 8 gate/up, 16 down) are recorded twice, a barrier
  // between (2: decode attention again over the same cache, 32: over the next layer's); bench_vulkan --mvqo twice:MASK --profile times a stage after itself against
  // after the stage before it in the model
  uint32_t repeat_stages = 0;
  // Diagnostic: decode attention writes clocks at points of its pass (Backend::attn_clocks)
  bool attn_clocks = false;
  // pipelines keep the driver's statistics (DeviceCaps::pipeline_stats; Pipelines::statistics)
  bool pipeline_stats = false;
  bool use_coopmat = true;  // matmul takes mul_mm_cm where the device has cooperative matrices
  uint32_t cm_min_tokens = 32;  // ... from this many tokens (below: mul_mm)
  uint32_t wg_small = 64;  // get_rows, rope, attention
  uint32_t attn_wg = 64;   // attn_fused (decode attention): keys per tile
  // a one-token pass's attention without splits takes attn_decode (Ops::attention_fused)
  // where the head allows it
  bool attn_decode = true;
  // Backend: where a one-token pass takes attn_decode after a mul_mvq_qkv q/k/v, no barrier
  // between them: the matvecs write q, k and v per query head (MvqIo::heads) and
  // attn_decode_wait polls those values until they are there
  bool attn_wait = false;
  // ... with attention recorded before q/k/v (where no quantize stage comes between), so
  // that its workgroups start first; only for devices that run dispatches side by side
  // (one that runs them in turn makes every wait give up, and the passes go back to the
  // barrier)
  bool attn_wait_first = false;
  uint32_t wg_large = 256; // norms, element-wise
};

// mul_mvqo's (glu: mul_mvqo_glu's) row group for a weight type: (threads, rows); 32 / rows
// groups per workgroup.
std::pair<uint32_t, uint32_t> mvqo_shape(const Tuning& t, bool q6_k, bool q8_0, bool glu);

struct Pipeline {
  std::string name;
  VkPipeline pipeline = VK_NULL_HANDLE;
  VkPipelineLayout layout = VK_NULL_HANDLE;
  VkDescriptorSetLayout set_layout = VK_NULL_HANDLE;
  std::vector<uint32_t> bindings;  // descriptor count per binding
  uint32_t push_bytes = 0;
  uint32_t spec[4] = {0, 0, 0, 0};  // resolved specialization constants (ids 0 to 3)
};

class Pipelines {
 public:
  Pipelines(Context& ctx, const Tuning& t);
  ~Pipelines();
  Pipelines(const Pipelines&) = delete;
  Pipelines& operator=(const Pipelines&) = delete;

  // The pipeline of a table entry by name, e.g. "mul_mv_q4_k" (created on first use).
  const Pipeline& get(std::string_view name);
  // A descriptor set for `p` binding `bufs` in order (one entry per descriptor: binding 0
  // element 0, element 1, binding 1, ...); cached, so the same tuple returns the same set.
  VkDescriptorSet descriptor_set(const Pipeline& p, const std::vector<BufRef>& bufs);
  // Records bind + push + dispatch.
  void dispatch(VkCommandBuffer cb, const Pipeline& p, const std::vector<BufRef>& bufs,
                const void* push, uint32_t gx, uint32_t gy = 1, uint32_t gz = 1);
  const Tuning& tuning() const { return tuning_; }
  // The driver's statistics of pipeline `name` ("Register Count 64", ...; one line each),
  // with Tuning::pipeline_stats on a device with DeviceCaps::pipeline_stats; else empty.
  std::vector<std::string> statistics(const std::string& name) const;
  // While tracking (stage profiles), the names of the pipelines dispatched since the last
  // take_dispatched() or track_dispatched() call.
  void track_dispatched(bool on) {
    tracking_ = on;
    dispatched_.clear();
  }
  std::vector<std::string> take_dispatched() { return std::exchange(dispatched_, {}); }

 private:
  Context& ctx_;
  Tuning tuning_;
  std::unordered_map<std::string, std::unique_ptr<Pipeline>> pipes_;
  std::map<std::vector<uint64_t>, VkDescriptorSet> sets_;
  std::vector<VkDescriptorPool> pools_;
  uint32_t pool_left_ = 0;
  bool tracking_ = false;
  std::vector<std::string> dispatched_;
};

}  // namespace petrel::vk
