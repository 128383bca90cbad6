// One call per GPU op, recording into a command buffer: the building blocks of the forward
// pass (vk_forward.cpp), also used directly by the shader tests and the benchmark.
// Shapes are in elements; every activation is f32 and row-major ([tokens, n]).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/vulkan/vk_pipelines.h"
#include "engine/vulkan/vk_repack.h"
#include "kernels/matmul.h"

namespace petrel::vk {

struct GpuWeight {
  kernels::Type type = kernels::Type::kF32;
  int64_t n_in = 0, n_out = 0;
  GpuLayout layout;
  Buffer* buf = nullptr;
};

// Operands of a weight-times-activations product: x rows at x_off + t * x_stride, y rows at
// y_off + t * y_stride (floats); y += bias when bias is set; y += W x when accumulate.
struct MatArgs {
  const Buffer* x = nullptr;
  uint32_t x_off = 0, x_stride = 0;
  const Buffer* y = nullptr;
  uint32_t y_off = 0, y_stride = 0;
  const Buffer* bias = nullptr;
  bool accumulate = false;
};

// Activations quantized to 8 bits per block of 32 (quantize_q8 -> mul_mvq_q8): the int8
// values of `capacity` elements, row t of a quantize_q8 call at element t * n, then
// (d, d * sum q) per block as two f32 (shaders/quantize_q8.comp), then one f32 per block
// (the sum of squares a mul_mvq with MvqIo::out_norm keeps for MvqIo::x_rms).
struct Q8Act {
  Buffer* buf = nullptr;
  uint32_t capacity = 0;  // elements, a multiple of 32
  // vec2 index of the first block's (d, s) (the push constant ds_off)
  uint32_t ds_off() const { return capacity / 8; }
  // float index of the first block's sum of squares
  uint32_t ps_off() const { return capacity / 32 * 10; }
};

// The int8 matvec's optional input and output steps (mul_mvq_q8, mul_mvq_glu_q8):
// - x_rms: x was written as `out` of an earlier call with out_norm (blocks of x * norm_w,
//   their d from the unnormalized values, and sums of squares): W x is scaled by
//   1 / sqrt(mean(x^2) + eps), which gives W (rms_norm(x) * norm_w) without a norm pass.
// - out: y's rows are also quantized into `out` (row t at element t * n_out), times
//   out_norm when set (keeping the sums of squares for x_rms); needs mvqo_supported(w).
//   `out` must not be the buffer x is read from.
// - half (needs half_supported()): an f16 copy of y (mul_mvq_glu_q8 without out: y's rows
//   also as halves, one past f16's range as infinity) or of x (mul_mvq_f32x: x read from
//   those halves, a half block holding an infinity or NaN from the floats at a.x), so that
//   mul_mvq_f32x's workgroups read half the bytes before they start.
// - heads (one token, no out or half, not gate/up): y goes to `heads` laid out per query
//   head for attn_decode_wait instead of to a.y (shaders/mul_mvq.comp, HEADS): heads_hd
//   values a head, slot heads_slot (0 q, 1 k, 2 v; mul_mvq_qkv: its weights' own), a kv
//   head's rows written for each of its heads_group query heads.
struct MvqIo {
  bool x_rms = false;
  float eps = 0.f;
  const Q8Act* out = nullptr;
  const Buffer* out_norm = nullptr;
  const Buffer* half = nullptr;
  const Buffer* heads = nullptr;
  uint32_t heads_hd = 0, heads_slot = 0, heads_group = 1;
};

// Timestamps of one recorded command buffer: stamp 0 at the start, stamp i + 1 after the
// barrier that ends stage i (labels[i]: the pipelines dispatched in it, '+'-joined).
struct StageProfile {
  VkQueryPool pool = VK_NULL_HANDLE;
  uint32_t capacity = 0;
  std::vector<std::string> labels;
};

// Token counts at and above this take the tiled matrix-matrix shader.
constexpr uint32_t kMmMinTokens = 8;

class Ops {
 public:
  // Opens device `device_index`; `tuning` overrides the per-device choice when given.
  explicit Ops(int device_index, const Tuning* tuning = nullptr);
  ~Ops();

  Context& ctx() { return *ctx_; }
  Memory& mem() { return *mem_; }
  Pipelines& pipes() { return *pipes_; }
  // Per-device default tuning (subgroup size, vendor).
  static Tuning default_tuning(const DeviceCaps& caps);

  // Converts w to the GPU layout and uploads it (repacking through a bounded host buffer).
  GpuWeight upload_weight(const kernels::WeightView& w, const std::string& what);
  // A device buffer holding n floats copied from data.
  Buffer* upload_f32(const float* data, size_t n, const std::string& what);

  // y[t] = W x[t] for t < n_tokens with the matrix-vector shader (any n_tokens).
  void mul_mv(VkCommandBuffer cb, const GpuWeight& w, const MatArgs& a, uint32_t n_tokens);
  // y[t] = silu(Wg x[t]) * (Wu x[t]) in one pass (gate and up of the same type and shape).
  void mul_mv_glu(VkCommandBuffer cb, const GpuWeight& gate, const GpuWeight& up,
                  const MatArgs& a, uint32_t n_tokens);
  // Whether mul_mvq takes w: Q8_0/Q4_K/Q6_K, n_in a multiple of 32, device OpSDot
  // (whether the forward pass uses it is Tuning::use_mvq).
  bool mvq_supported(const GpuWeight& w) const;
  // Whether mul_mvq can also quantize its output (MvqIo::out): mvq_supported, n_out a
  // multiple of 32 and the type's mul_mvqo workgroup shape fits the device.
  // glu: for mul_mvq_glu_q8 (w the gate).
  bool mvqo_supported(const GpuWeight& w, bool glu = false) const;
  // Whether mul_mvqo_glu for `gate` runs its workgroups in one wave (Tuning::MvqoShape::
  // glu_max_per_sm; true where that or the SM count is unknown): the forward lets gate/up
  // quantize its output only then.
  bool mvqo_glu_fits(const GpuWeight& gate) const;
  // The tuning's mvqo shape of w's type (Q4_K's unless Q6_K or Q8_0).
  const Tuning::MvqoShape& shape_of(const GpuWeight& w) const;
  static bool mvqo_fits_one_wave(uint64_t n_out, uint32_t sm_count, uint32_t max_per_sm) {
    return max_per_sm == 0 || sm_count == 0 || (n_out + 31) / 32 <= uint64_t(sm_count) * max_per_sm;
  }
  // A device buffer for `capacity` quantized activation elements.
  Q8Act alloc_q8(uint32_t capacity, const std::string& what);
  // out row t = q8(x'[t]) for t < n_tokens, x'[t] = the n floats at x_off + t * x_stride,
  // or rms_norm of them * norm_w (eps) when norm_w is set; n a multiple of 32, x rows
  // 16-byte aligned.
  void quantize_q8(VkCommandBuffer cb, const Buffer& x, uint32_t x_off, uint32_t x_stride,
                   uint32_t n, uint32_t n_tokens, const Q8Act& out, const Buffer* norm_w,
                   float eps);
  // y[t] = W x[t] with int8 activations and integer dots: x rows from quantize_q8 at
  // element a.x_off + t * a.x_stride of `x` (a.x is ignored; multiples of 32).
  void mul_mvq_q8(VkCommandBuffer cb, const GpuWeight& w, const Q8Act& x, const MatArgs& a,
                  uint32_t n_tokens, const MvqIo& io = {});
  // mul_mvq_q8 with io.out set (and no io.x_rms) from f32 x rows at a.x, a.x_off + t *
  // a.x_stride (floats, multiples of 4): every workgroup quantizes its token's row into
  // shared memory exactly as quantize_q8 would, so the result is that of quantize_q8 then
  // mul_mvq_q8, one stage fewer (mul_mvqox). Needs mvq_f32x_supported(w).
  static constexpr int64_t kMvqF32MaxIn = 32768;  // XF32_MAX in shaders/mul_mvq.comp
  bool half_supported() const { return ctx_->caps.storage16; }
  // Whether a down of this weight that quantizes g itself (mul_mvq_f32x) reads g as halves
  // (MvqoShape::x_half of its type, on a device with 16-bit storage).
  bool f32x_reads_half(const GpuWeight& w) const { return half_supported() && shape_of(w).x_half; }
  bool mvq_f32x_supported(const GpuWeight& w) const {
    return mvqo_supported(w) && w.n_in <= kMvqF32MaxIn;
  }
  void mul_mvq_f32x(VkCommandBuffer cb, const GpuWeight& w, const MatArgs& a, uint32_t n_tokens,
                    const MvqIo& io);
  // y[t] = silu(Wg x[t]) * (Wu x[t]), x as in mul_mvq_q8.
  void mul_mvq_glu_q8(VkCommandBuffer cb, const GpuWeight& gate, const GpuWeight& up,
                      const Q8Act& x, const MatArgs& a, uint32_t n_tokens, const MvqIo& io = {});
  // q, k and v of one layer in one dispatch (mul_mvq_qkv): out[i][t] = W_i x[t] (+ bias[i])
  // for the weights {wq, wk, wv}, x as in mul_mvq_q8 at a.x_off / a.x_stride; q's rows at
  // a.y_off + t * a.y_stride of out[0], k's and v's at t * wk.n_out of out[1] / out[2].
  // wv null: q and k only. Needs mvq_qkv_supported.
  bool mvq_qkv_supported(const GpuWeight& wq, const GpuWeight& wk, const GpuWeight* wv,
                         const Buffer* const bias[3]) const;
  void mul_mvq_qkv(VkCommandBuffer cb, const GpuWeight& wq, const GpuWeight& wk,
                   const GpuWeight* wv, const Q8Act& x, const MatArgs& a,
                   const Buffer* const out[3], const Buffer* const bias[3], uint32_t n_tokens,
                   const MvqIo& io);
  // y[t] = W x[t] with the tiled matrix-matrix shader.
  void mul_mm(VkCommandBuffer cb, const GpuWeight& w, const MatArgs& a, uint32_t n_tokens);
  // Whether the device runs mul_mm_cm (cooperative matrices, DeviceCaps::coopmat).
  bool coopmat_supported() const;
  // Whether matmul takes mul_mm_cm for a batch of n_tokens (Tuning::use_coopmat,
  // Tuning::cm_min_tokens, coopmat_supported()).
  bool uses_coopmat(uint32_t n_tokens) const;
  // The activations of mul_mm_cm: n_tokens rows of n_in floats (row t at x_off +
  // t * x_stride of x) as f16 tiles (shaders/x_tiles.comp), x_tiles_bytes(n_in, n_tokens)
  // bytes at the start of `out`. One conversion serves every matmul of the same x. With
  // `up`: the tiles of silu(x) * up (up laid out as x), what silu_mul would make.
  void x_tiles(VkCommandBuffer cb, const Buffer& x, uint32_t x_off, uint32_t x_stride,
               uint32_t n_in, uint32_t n_tokens, const Buffer& out, const Buffer* up = nullptr);
  static uint64_t x_tiles_bytes(uint64_t n_in, uint64_t n_tokens);
  // y[t] = W x[t] on tensor cores: W and x rounded to f16 (|x| clamped to 65504), f32
  // accumulation; a.x holds x as x_tiles wrote it for a.x_stride >= n_tokens tokens
  // (a.x_off: its first 16-byte word, normally 0). Throws when !coopmat_supported().
  void mul_mm_cm(VkCommandBuffer cb, const GpuWeight& w, const MatArgs& a, uint32_t n_tokens);
  // y[t] = W x[t] (f32 x): mul_mv below kMmMinTokens tokens, mul_mm from there, or where
  // uses_coopmat, x_tiles into a scratch buffer of this Ops, then mul_mm_cm (with barriers
  // before and after the conversion).
  void matmul(VkCommandBuffer cb, const GpuWeight& w, const MatArgs& a, uint32_t n_tokens);
  // out[t] = row ids[ids_off + t] of w, dequantized (out rows of w.n_in floats).
  void get_rows(VkCommandBuffer cb, const GpuWeight& w, const Buffer& ids, uint32_t ids_off,
                const Buffer& out, uint32_t n_tokens);
  // get_rows that also writes the rows into `q` as an int8 matvec's input with the norm
  // deferred (MvqIo::x_rms; as a matvec's `out` with out_norm = norm_w). Needs
  // get_rows_q8_supported(w).
  void get_rows_q8(VkCommandBuffer cb, const GpuWeight& w, const Buffer& ids, const Buffer& out,
                   uint32_t n_tokens, const Q8Act& q, const Buffer& norm_w);
  bool get_rows_q8_supported(const GpuWeight& w) const {
    return w.n_in % 32 == 0 && ctx_->caps.subgroup_size >= 8;
  }
  // y[r] = rms_norm(x[r]) * w for `rows` rows of n (row r at x_off + r*n, y_off + r*n).
  void rms_norm(VkCommandBuffer cb, const Buffer& x, uint32_t x_off, const Buffer& w,
                const Buffer& y, uint32_t y_off, uint32_t rows, uint32_t n, float eps);
  // RoPE on q (in place) and k, k/v stored as f16 at cache rows params[0] + t.
  void rope_store(VkCommandBuffer cb, const Buffer& q, const Buffer& k, const Buffer& v,
                  const Buffer& kcache, const Buffer& vcache, const Buffer& params,
                  const Buffer& inv_freq, const RopeStorePush& p, uint32_t n_tokens);
  // Causal attention of n_tokens query rows over the cache (n_split > 1: split-K through
  // `part`, [n_tokens * n_head * n_split * (head_dim + 2)] floats, then attn_combine).
  void attention(VkCommandBuffer cb, const Buffer& q, const Buffer& kcache, const Buffer& vcache,
                 const Buffer& out, const Buffer& part, const Buffer& params, const AttnPush& p,
                 uint32_t n_tokens);
  // Causal attention of a prompt batch (shaders/attn_tiled.comp): 32 query rows of one kv
  // head per workgroup share each key and value tile; out as attention's. Needs
  // attention_tiled_supported(head_dim).
  static bool attention_tiled_supported(uint32_t head_dim) {
    return head_dim > 0 && head_dim % 8 == 0 && head_dim <= 128;
  }
  void attention_tiled(VkCommandBuffer cb, const Buffer& q, const Buffer& kcache,
                       const Buffer& vcache, const Buffer& out, const Buffer& params,
                       const AttnTiledPush& p);
  // Attention of a small batch in one dispatch (shaders/attn_fused.comp): RoPE on q and k,
  // k/v stored as f16 at cache rows params[0] + t, causal attention over the cache with
  // p.n_split key ranges merged in place; out is f32 [t][n_head*hd], or with p.flags & 1
  // a Q8 activation buffer (p.ds_off its Q8Act::ds_off()). counters: n_tokens * n_head
  // uints, zero before the first call (the shader leaves them zero); part as attention's.
  struct AttnFusedBufs {
    const Buffer *q, *k, *v, *kcache, *vcache, *out, *part, *counters, *params, *inv_freq;
    BufRef clocks{};  // set: attn_fused_clk writes its clocks there (DeviceCaps::shader_clock)
    // attn_decode_wait: recorded with no barrier beside q/k/v written with MvqIo::heads into
    // `q` (k and v unused); `counters` holds the word counting waits that gave up
    // (shaders/attn_decode.comp)
    bool wait = false;
  };
  static constexpr uint32_t kAttnFusedMaxTokens = 8;
  void attention_fused(VkCommandBuffer cb, const AttnFusedBufs& b, const AttnFusedPush& p,
                       uint32_t n_tokens);
  // Whether attention_fused takes attn_decode (shaders/attn_decode.comp) for this pass: one
  // token, one split, whole heads rotated, head_dim / 8 a power of two within a subgroup,
  // head_dim <= Tuning::attn_wg, Tuning::attn_decode on.
  bool uses_attn_decode(const AttnFusedPush& p, uint32_t n_tokens) const;
  // out[i] = silu(g[i]) * u[i], i < n.
  void silu_mul(VkCommandBuffer cb, const Buffer& g, const Buffer& u, const Buffer& out,
                uint32_t n);
  // y[i] += x[i], i < n.
  void add(VkCommandBuffer cb, const Buffer& y, const Buffer& x, uint32_t n);
  // Softmax in place over `rows` rows of n.
  void softmax(VkCommandBuffer cb, const Buffer& x, uint32_t rows, uint32_t n);
  // out[r] = argmax of row r (uint32), `rows` rows of n.
  void argmax(VkCommandBuffer cb, const Buffer& x, const Buffer& out, uint32_t rows, uint32_t n);
  // The k largest of each chunk of top_k_chunk() values of x[0..n), ranked by value
  // descending then index ascending: out[c * k + r] = (value bits, index) as two uint32
  // (index 0xFFFFFFFF past the chunk's values); the row's top k are among them. k is the
  // uint32 at word k_at of kbuf when the dispatch runs, capped at k_max (<= kTopKMax; out
  // holds chunks * k_max pairs), so a recorded pass serves every k.
  void top_k(VkCommandBuffer cb, const Buffer& x, uint32_t n, uint32_t k_max, const Buffer& out,
             const Buffer& kbuf, uint32_t k_at);
  uint32_t top_k_chunk() const;
  static constexpr uint32_t kTopKMax = 128;
  // Reads n4 16-byte words of src (bandwidth probe); writes one word per thread to dst.
  void bandwidth(VkCommandBuffer cb, const Buffer& src, uint32_t n4, const Buffer& dst,
                 uint32_t groups);
  // shaders/grid_sync.comp: p.phases rounds of reading p.n4 words of region
  // (p.phase0 + k) % 8 of src, with a grid-wide counter barrier after each when p.sync
  // (cnt: p.phases + 1 uints, zero before; the last counts polls that gave up), by
  // `groups` workgroups of 1024 threads (all resident together); dst: a uint per thread.
  static constexpr uint32_t kGridSyncThreads = 1024;
  // smem_kb 16 or 44: the variant that also holds that much shared memory (bench only)
  void grid_sync_stream(VkCommandBuffer cb, const Buffer& src, const Buffer& cnt,
                        const Buffer& dst, const GridSyncPush& p, uint32_t groups,
                        uint32_t smem_kb = 0);
  // shaders/pingpong.comp: p.rounds handshakes with the host through rel (polled) and
  // done (written), one invocation.
  void pingpong(VkCommandBuffer cb, const Buffer& rel, const Buffer& done, const PingPongPush& p);
  // A barrier that waits for every earlier command (of earlier submissions too) and makes
  // its writes visible to the shaders after it.
  void start_barrier(VkCommandBuffer cb);

  // Makes earlier shader writes visible to later shaders (compute -> compute); while a
  // profile is being recorded, also ends a stage there.
  void barrier(VkCommandBuffer cb);
  // In a stage profile, the stage that the next barrier ends is labelled with `tag` after
  // its pipelines' names (diagnostic stages set apart from the model's own).
  void tag_stage(std::string tag) { stage_tag_ = std::move(tag); }
  // barrier() unless Tuning::skip_barriers has `stage_bit` (and no profile is recording)
  void stage_barrier(VkCommandBuffer cb, uint32_t stage_bit);
  // Starts recording stage timestamps into `prof` (created here, up to `capacity`
  // stages); barrier() adds one per stage until profile_end(). Needs timestamps.
  void profile_begin(VkCommandBuffer cb, StageProfile& prof, uint32_t capacity);
  void profile_end();
  // Seconds of each stage of the last execution of the profiled command buffer, in order.
  std::vector<std::pair<std::string, double>> profile_read(const StageProfile& prof);
  void profile_destroy(StageProfile& prof);
  // Pass clock (Tuning::time_passes): a timestamp at the start (end false: also resets
  // the two queries) or the end of a pass (then both copied to host memory, so that a
  // submission of the same command buffer held for later, Context::submit_gated, does not
  // keep them from the host); pass_clock_read gives both of the last execution, seconds on
  // the device's clock, once the host has waited for it. Needs timestamps.
  void pass_clock(VkCommandBuffer cb, bool end);
  std::pair<double, double> pass_clock_read();
  // Makes earlier shader and transfer writes visible to later shaders and transfers.
  void transfer_barrier(VkCommandBuffer cb);
  // Makes earlier transfer/shader writes visible to the host (before the fence wait).
  void host_barrier(VkCommandBuffer cb);
  // A timestamp (or a difference of two) in seconds: the valid bits times the period.
  double ticks_to_seconds(uint64_t ticks) const;
  // A timestamp query pool of `count` queries (the caller destroys it); throws where the
  // compute queue has no timestamps.
  VkQueryPool timestamp_pool(uint32_t count);

 private:
  void mat_push(const GpuWeight& w, const MatArgs& a, MulMvPush* p) const;
  std::vector<BufRef> mat_bufs(const GpuWeight& w, const GpuWeight* w2, const MatArgs& a) const;
  void grid_rows(uint32_t n_groups, uint32_t* gx, uint32_t* gz) const;
  // Throws unless the quantized x rows of a (x_off, x_stride, n_in long) start on blocks of
  // 32 inside x; `op` names the caller in the message.
  static void check_q8_rows(const char* op, int64_t n_in, const Q8Act& x, const MatArgs& a,
                            uint32_t n_tokens);
  // The int8 matvec's push constants: mv, then x's (xq) and the output's scale offsets.
  static MulMvqPush mvq_push(const MulMvPush& mv, uint32_t flags, const Q8Act* xq,
                             const MvqIo& io);
  // x: the quantized rows; null: f32 rows at a.x (mul_mvq_f32x)
  void mvq_dispatch(VkCommandBuffer cb, const GpuWeight& w, const GpuWeight* up,
                    const Q8Act* x, const MatArgs& a, uint32_t n_tokens, const MvqIo& io);

  std::unique_ptr<Context> ctx_;
  std::unique_ptr<Memory> mem_;
  std::unique_ptr<Pipelines> pipes_;
  Buffer* dummy_ = nullptr;  // bound where a binding is unused (no bias)
  // matmul's x_tiles scratch; replaced by a larger one when too small (the old ones stay
  // alive: command buffers recorded earlier may still use them)
  std::vector<Buffer*> tiles_scratch_;
  StageProfile* profiling_ = nullptr;
  std::string stage_tag_;  // tag_stage()
  VkQueryPool pass_pool_ = VK_NULL_HANDLE;  // pass_clock()
  Buffer* pass_times_ = nullptr;  // pass_clock(): the two timestamps, in host memory
};

// Lower-case suffix of a weight type in pipeline names ("q4_k").
const char* type_suffix(kernels::Type t);

}  // namespace petrel::vk
