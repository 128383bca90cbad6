// Recording of single GPU ops: picks the pipeline variant, fills its push constants,
// binds buffers and computes the grid. No synchronization except where an op has two
// passes (split-K attention); callers place barriers between dependent ops.
#include "engine/vulkan/vk_ops.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace petrel::vk {

using kernels::Type;

const char* type_suffix(Type t) {
  switch (t) {
    case Type::kF32: return "f32";
    case Type::kF16: return "f16";
    case Type::kBF16: return "bf16";
    case Type::kQ4_0: return "q4_0";
    case Type::kQ4_1: return "q4_1";
    case Type::kQ5_0: return "q5_0";
    case Type::kQ5_1: return "q5_1";
    case Type::kQ8_0: return "q8_0";
    case Type::kQ4_K: return "q4_k";
    case Type::kQ5_K: return "q5_k";
    case Type::kQ6_K: return "q6_k";
    default: throw Error("Vulkan: no shaders for type id " + std::to_string(uint32_t(t)));
  }
}

Tuning Ops::default_tuning(const DeviceCaps& caps) {
  Tuning t;
  const bool cpu = caps.props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
  // H100 sweep (bench_vulkan, 4096 x 14336): 64 threads; rows per workgroup 4 for
  // Q4_K/Q5_K, 2 for Q6_K and the 32-element blocks
  t.mv_wg = 64;
  t.mv_rows = cpu ? 4 : 2;
  t.mv_rows_k = 4;
  t.mv_rows_q6_k = cpu ? 4 : 2;
  // decode on a GPU: int8 activations (quantize_q8 + mul_mvq_q8) where the types allow
  // (H100 sweep, bench_vulkan 4096 x 14336 | 14336 x 4096, GB/s: Q4_K 32/2 2208|2125,
  // Q6_K 32/1 2284|2269, Q8_0 128/1 2617|2593; 3076 GB/s read bandwidth)
  t.use_mvq = !cpu;
  t.mvq_wg = cpu ? 64 : 32;
  t.mvq_rows = cpu ? 4 : 2;
  t.mvq_wg_q6_k = cpu ? 64 : 32;
  t.mvq_rows_q6_k = cpu ? 4 : 1;
  t.mvq_wg_q8_0 = cpu ? 64 : 128;
  t.mvq_rows_q8_0 = cpu ? 4 : 1;
  // matvecs that also quantize their output (H100, bench_vulkan --mvqo-sweep, us per
  // stage with its barrier; plain mul_mvq + the 3.9 us quantize_q8 stage it replaces in
  // brackets): Q4_K 64/2 down 16.3 (19.1) wo 8.4 (10.9), gate/up 32/4 27.9 (30.7); Q6_K
  // 64/2 down 22.0 (24.8) wo 10.2 (12.9), gate/up at best 43.8 (41.0): not used; Q8_0
  // 32/1 down 27.6 (27.9) wo 10.8 (13.2) gate/up 45.7 (47.1). Q4_K gate/up runs 4
  // workgroups per SM at once: past 4 x 132 on the H100 a second wave makes it slower than
  // the plain matvec (4096 -> n_out, us: mvqo 31.9 at 16896 rows, 40.7 at 17408, 42.4 at
  // 18944 (Qwen2.5-7B); plain mul_mvq_glu 30.9, 32.0, 34.0). Q8_0 gate/up: plain, now that
  // down quantizes g itself (mul_mvqox) rather than in a stage of its own (tg128 t/s,
  // medians of three bench_vulkan --mvqo default,32/1/1 pairs, plain against the old
  // 32/1/1: llama-8b 268.6 / 264.4, qwen2-7b 271.0 / 259.1)
  // Two chunks' loads in flight a thread (MvqoShape::unroll, o_unroll) for q/k/v and wo
  // of Q6_K and Q8_0 (H100 decode profile at position 128, us a token, one chunk | two:
  // Q6_K q/k/v 488.1 | 448.6, wo 391.3 | 362.3; Q8_0 498.2 | 459.0, 412.0 | 397.7); not
  // for Q4_K (q/k/v 175.1 | 197.8, wo + down 580.3 | 633.1), nor for the plain gate/up
  // (glu_unroll) and mul_mvqox down (x_unroll) of Q6_K and Q8_0 (bench_vulkan --mvqo
  // default,unroll:2/2/2/2,unroll:2/2/4/2,unroll:2/2/2/4,default, us a token, default |
  // two | four: Q6_K gate/up 1285.6 / 1288.8 | 1300.5 / 1294.4 | 1324.9, down 837.3 /
  // 830.9 | 871.7 / 872.8 | 932.8; Q8_0 gate/up 1463.9 / 1462.3 | 1460.0 / 1465.9 |
  // 1534.6, down 953.7 / 955.0 | 991.1 / 993.0 | 954.0)
  // A down that quantizes g itself reads it as halves (MvqoShape::x_half: half the bytes
  // each workgroup reads before its loop) for Q8_0 and Q4_K, not Q6_K (H100, bench_vulkan
  // --mvqo default,nohalf,default,nohalf, tg128 t/s: Q8_0 295.9 / 295.6 against 293.3 /
  // 293.4; Q4_K_M at the qwen2-7b shape, whose gate/up takes that path, 405.4 / 404.9
  // against 404.9 / 404.7; Q6_K 325.5 / 325.9 against 328.7 / 328.2, its down 826.0 /
  // 825.4 us a token against 801.0 / 799.0 in --profile, the registers unchanged)
  if (!cpu) {
    t.mvqo_q4_k = {64, 2, 32, 4, 4, 1, 1, 1, 1, true};
    t.mvqo_q6_k = {64, 2, 32, 0, 0, 2, 2, 1, 1, false};
    t.mvqo_q8_0 = {32, 1, 32, 0, 0, 2, 2, 1, 1, true};
  }
  // a GPU's passes are waited for by polling their fence: sleeping on it cost 3-5% of tg128
  // on the H100 (bench_vulkan --mvqo default,spin: Q4_K_M 386.5 against 400.4 t/s). Not on
  // a CPU device, whose own threads need the cores.
  t.spin_wait = !cpu;
  // a one-token pass is submitted while the one before runs, held until the host releases
  // it (Tuning::presubmit): H100, tg128 t/s, two A/B pairs (bench_vulkan --pass-times
  // --mvqo default,noahead,...): Q4_K_M 397.0 / 397.4 against 395.1 / 396.9, Q6_K 319.7 /
  // 320.6 against 319.4 / 319.3, Q8_0 289.0 / 287.9 against 283.0 / 285.6 (the device idle
  // 58-72 us between tokens against 71-96; releasing, vkSignalSemaphore, took 6-20 us of
  // host time, about what vkQueueSubmit took). Not on a CPU device, where a pass released
  // for nothing (a call of another kind) costs a CPU pass.
  t.presubmit = !cpu;
  // the output matvec writes the logits straight into the host-visible readback buffer, no
  // copy at the pass's end (H100, Q6_K, bench_vulkan --pass-times --mvqo
  // default,directlogits: 3031.5 us a token on the device against 3037.5; tg128 in two A/B
  // pairs 328.8 / 329.0 against 327.7 / 328.1 t/s, Q4_K_M 406.6 / 406.5 against 406.6 /
  // 406.6)
  t.direct_logits = true;
  t.wg_small = 64;
  // decode attention: a tile of 256 keys in one pass (fewer dependent load rounds); also
  // the fastest at tg128's positions, below 256 (H100, bench_vulkan --mvqo
  // default,attnwg:128,attnwg:64,... tg128 t/s, two rounds: Q6_K 328.2 / 328.2 against
  // 325.5 / 326.2 and 313.8 / 313.8; Q4_K_M 407.5 / 407.2 against 403.8 / 403.8 and 382.5 /
  // 382.7; attnwg:512 Q6_K 324.1 / 324.4 against 328.9 / 328.9)
  t.attn_wg = cpu ? 64 : 256;
  // decode attention polls its head's q/k/v inside the q/k/v stage instead of a barrier
  // between them (Tuning::attn_wait), recorded after the matvecs (H100, bench_vulkan
  // --mvqo default,attnwait,waitfirst, two rounds, tg128 t/s: Q4_K_M 424.5 / 424.8 against
  // 436.4 / 436.2, and 437.2 / 437.1 recorded first; Q6_K 335.4 / 335.7 against 344.3 /
  // 343.9, and 341.1 / 340.8 first). Not on a CPU device: it runs dispatches in turn, so
  // nothing overlaps.
  t.attn_wait = !cpu;
  t.wg_large = cpu ? 64 : 256;
  return t;
}

Ops::Ops(int device_index, const Tuning* tuning) {
  ctx_ = Context::create(device_index);
  mem_ = std::make_unique<Memory>(*ctx_);
  pipes_ = std::make_unique<Pipelines>(*ctx_, tuning ? *tuning : default_tuning(ctx_->caps));
  ctx_->spin_wait = pipes_->tuning().spin_wait;
  dummy_ = mem_->device_buffer(256, "dummy binding");
}

Ops::~Ops() {
  if (pass_pool_) ctx_->fn.vkDestroyQueryPool(ctx_->device, pass_pool_, nullptr);
  pipes_.reset();
  mem_.reset();
  ctx_.reset();
}

GpuWeight Ops::upload_weight(const kernels::WeightView& w, const std::string& what) {
  GpuWeight g;
  g.type = w.type;
  g.n_in = w.n_in;
  g.n_out = w.n_out;
  g.layout = gpu_layout(w.type, w.n_in, w.n_out, what.c_str());
  g.buf = mem_->device_buffer(g.layout.words * 4, what);
  const bool raw = (w.type == Type::kQ4_K && w.row_bytes == size_t(w.n_in / 256) * 144) ||
                   (w.type == Type::kQ5_K && w.row_bytes == size_t(w.n_in / 256) * 176);
  if (raw) {
    mem_->upload(*g.buf, 0, w.data, w.row_bytes * size_t(w.n_out));
    return g;
  }
  std::vector<uint32_t> host(g.layout.words, 0);
  repack_rows(w, g.layout, 0, w.n_out, host.data());
  mem_->upload(*g.buf, 0, host.data(), host.size() * 4);
  return g;
}

Buffer* Ops::upload_f32(const float* data, size_t n, const std::string& what) {
  Buffer* b = mem_->device_buffer(n * 4, what);
  mem_->upload(*b, 0, data, n * 4);
  return b;
}

void Ops::grid_rows(uint32_t n_groups, uint32_t* gx, uint32_t* gz) const {
  const uint32_t max_x = ctx_->caps.props.limits.maxComputeWorkGroupCount[0];
  *gx = std::min(n_groups, max_x);
  *gz = (n_groups + *gx - 1) / *gx;
}

void Ops::mat_push(const GpuWeight& w, const MatArgs& a, MulMvPush* p) const {
  p->n_in = uint32_t(w.n_in);
  p->n_out = uint32_t(w.n_out);
  p->B = w.layout.blocks_per_row;
  p->off1 = w.layout.off1;
  p->off2 = w.layout.off2;
  p->x_off = a.x_off;
  p->x_stride = a.x_stride;
  p->y_off = a.y_off;
  p->y_stride = a.y_stride;
  p->flags = (a.bias ? 1u : 0u) | (a.accumulate ? 2u : 0u);
}

std::vector<BufRef> Ops::mat_bufs(const GpuWeight& w, const GpuWeight* w2, const MatArgs& a) const {
  std::vector<BufRef> b{{w.buf}};
  if (w2) b.push_back({w2->buf});
  b.push_back({a.x});
  b.push_back({a.y});
  b.push_back({a.bias ? a.bias : dummy_});
  return b;
}

void Ops::mul_mv(VkCommandBuffer cb, const GpuWeight& w, const MatArgs& a, uint32_t n_tokens) {
  const Pipeline& p = pipes_->get(std::string("mul_mv_") + type_suffix(w.type));
  MulMvPush pc;
  mat_push(w, a, &pc);
  uint32_t gx, gz;
  grid_rows(uint32_t((w.n_out + p.spec[1] - 1) / p.spec[1]), &gx, &gz);
  pipes_->dispatch(cb, p, mat_bufs(w, nullptr, a), &pc, gx, n_tokens, gz);
}

void Ops::mul_mv_glu(VkCommandBuffer cb, const GpuWeight& gate, const GpuWeight& up,
                     const MatArgs& a, uint32_t n_tokens) {
  if (gate.type != up.type || gate.n_in != up.n_in || gate.n_out != up.n_out)
    throw Error("Vulkan: fused gate/up needs equal types and shapes");
  const Pipeline& p = pipes_->get(std::string("mul_mv_glu_") + type_suffix(gate.type));
  MulMvPush pc;
  MatArgs plain = a;
  plain.bias = nullptr;
  plain.accumulate = false;
  mat_push(gate, plain, &pc);
  uint32_t gx, gz;
  grid_rows(uint32_t((gate.n_out + p.spec[1] - 1) / p.spec[1]), &gx, &gz);
  pipes_->dispatch(cb, p, mat_bufs(gate, &up, plain), &pc, gx, n_tokens, gz);
}

bool Ops::mvq_supported(const GpuWeight& w) const {
  return ctx_->caps.integer_dot && w.n_in % 32 == 0 &&
         (w.type == Type::kQ8_0 || w.type == Type::kQ4_K || w.type == Type::kQ6_K);
}

bool Ops::mvqo_supported(const GpuWeight& w, bool glu) const {
  if (!mvq_supported(w) || w.n_out % 32 != 0) return false;
  const auto [gt, rows] =
      mvqo_shape(pipes_->tuning(), w.type == Type::kQ6_K, w.type == Type::kQ8_0, glu);
  const uint32_t sg = ctx_->caps.subgroup_size;
  return rows > 0 && 32 % rows == 0 && sg > 0 && gt % sg == 0 &&
         gt * (32 / rows) <= ctx_->caps.props.limits.maxComputeWorkGroupInvocations &&
         gt * (32 / rows) <= ctx_->caps.props.limits.maxComputeWorkGroupSize[0];
}

const Tuning::MvqoShape& Ops::shape_of(const GpuWeight& w) const {
  return pipes_->tuning().mvqo(w.type == Type::kQ6_K, w.type == Type::kQ8_0);
}

bool Ops::mvqo_glu_fits(const GpuWeight& gate) const {
  return mvqo_fits_one_wave(uint64_t(gate.n_out), ctx_->caps.sm_count, shape_of(gate).glu_max_per_sm);
}

Q8Act Ops::alloc_q8(uint32_t capacity, const std::string& what) {
  if (capacity == 0 || capacity % 32 != 0)
    throw Error("Vulkan: a quantized activation buffer needs a positive multiple of 32 elements (" +
                what + ": " + std::to_string(capacity) + ")");
  return {mem_->device_buffer(uint64_t(capacity) / 32 * 44, what), capacity};
}

void Ops::quantize_q8(VkCommandBuffer cb, const Buffer& x, uint32_t x_off, uint32_t x_stride,
                      uint32_t n, uint32_t n_tokens, const Q8Act& out, const Buffer* norm_w,
                      float eps) {
  if (n % 32 != 0 || (x_off | x_stride) % 4 != 0)
    throw Error("Vulkan: quantize_q8 needs rows of a multiple of 32 on 16-byte boundaries (n " +
                std::to_string(n) + ", x_off " + std::to_string(x_off) + ", x_stride " +
                std::to_string(x_stride) + ")");
  if (uint64_t(n) * n_tokens > out.capacity)
    throw Error("Vulkan: quantize_q8 of " + std::to_string(n_tokens) + " rows of " +
                std::to_string(n) + " exceeds the buffer's " + std::to_string(out.capacity) +
                " elements");
  const Pipeline& p = pipes_->get("quantize_q8");
  QuantizeQ8Push pc{n, x_off, x_stride, out.ds_off(), norm_w ? 1u : 0u, eps};
  const uint32_t groups = (n / 16 + p.spec[0] - 1) / p.spec[0];
  pipes_->dispatch(cb, p, {{&x}, {norm_w ? norm_w : dummy_}, {out.buf}}, &pc, groups, n_tokens, 1);
}

void Ops::mul_mvq_q8(VkCommandBuffer cb, const GpuWeight& w, const Q8Act& x, const MatArgs& a,
                     uint32_t n_tokens, const MvqIo& io) {
  mvq_dispatch(cb, w, nullptr, &x, a, n_tokens, io);
}

void Ops::mul_mvq_f32x(VkCommandBuffer cb, const GpuWeight& w, const MatArgs& a,
                       uint32_t n_tokens, const MvqIo& io) {
  if (!io.out || io.x_rms || !mvq_f32x_supported(w) || !a.x || (a.x_off | a.x_stride) % 4 != 0)
    throw Error(std::string("Vulkan: mul_mvq_f32x takes f32 rows on 16-byte boundaries into a ") +
                "quantized output, without x_rms, for weights mul_mvqo takes with n_in <= " +
                std::to_string(kMvqF32MaxIn) + " (" + type_suffix(w.type) + ", n_in " +
                std::to_string(w.n_in) + ", x_off " + std::to_string(a.x_off) + ", x_stride " +
                std::to_string(a.x_stride) + ")");
  mvq_dispatch(cb, w, nullptr, nullptr, a, n_tokens, io);
}

void Ops::mul_mvq_glu_q8(VkCommandBuffer cb, const GpuWeight& gate, const GpuWeight& up,
                         const Q8Act& x, const MatArgs& a, uint32_t n_tokens, const MvqIo& io) {
  if (gate.type != up.type || gate.n_in != up.n_in || gate.n_out != up.n_out)
    throw Error("Vulkan: fused gate/up needs equal types and shapes");
  MatArgs plain = a;
  plain.bias = nullptr;
  plain.accumulate = false;
  mvq_dispatch(cb, gate, &up, &x, plain, n_tokens, io);
}

void Ops::check_q8_rows(const char* op, int64_t n_in, const Q8Act& x, const MatArgs& a,
                        uint32_t n_tokens) {
  const uint64_t x_end = uint64_t(a.x_off) + uint64_t(a.x_stride) * (n_tokens - 1) + uint64_t(n_in);
  if ((a.x_off | a.x_stride) % 32 != 0 || x_end > x.capacity)
    throw Error(std::string("Vulkan: ") + op + " x rows (x_off " + std::to_string(a.x_off) +
                ", x_stride " + std::to_string(a.x_stride) + ") must start on blocks of 32 inside the " +
                std::to_string(x.capacity) + " quantized elements");
}

MulMvqPush Ops::mvq_push(const MulMvPush& mv, uint32_t flags, const Q8Act* xq, const MvqIo& io) {
  return {mv.n_in, mv.n_out, mv.B, mv.off1, mv.off2, mv.x_off, mv.x_stride, mv.y_off, mv.y_stride,
          flags, xq ? xq->ds_off() : 0u, xq ? xq->ps_off() : 0u,
          io.out ? io.out->ds_off() : 0u, io.out ? io.out->ps_off() : 0u, io.eps};
}

bool Ops::mvq_qkv_supported(const GpuWeight& wq, const GpuWeight& wk, const GpuWeight* wv,
                            const Buffer* const bias[3]) const {
  const int n = wv ? 3 : 2;
  for (int i = 1; i < n; ++i)
    if ((bias[i] != nullptr) != (bias[0] != nullptr)) return false;  // one flag for all
  return mvq_supported(wq) && mvq_supported(wk) && wk.type == wq.type && wk.n_in == wq.n_in &&
         (!wv || (wv->type == wk.type && wv->n_in == wk.n_in && wv->n_out == wk.n_out));
}

void Ops::mul_mvq_qkv(VkCommandBuffer cb, const GpuWeight& wq, const GpuWeight& wk,
                      const GpuWeight* wv, const Q8Act& x, const MatArgs& a,
                      const Buffer* const out[3], const Buffer* const bias[3],
                      uint32_t n_tokens, const MvqIo& io) {
  if (!mvq_qkv_supported(wq, wk, wv, bias) || io.out ||
      (io.heads && (n_tokens != 1 || io.heads_hd == 0 || wq.n_out % io.heads_hd != 0 ||
                    wk.n_out % io.heads_hd != 0 || wk.n_out * io.heads_group != wq.n_out)))
    throw Error(std::string("Vulkan: mul_mvq_qkv needs q, k (and v) of one int8-matvec type and ") +
                "row length, k and v of one shape, biases on all or none, no quantized output, " +
                "per-head rows for one token of whole heads, k's heads each shared by the same "
                "number of q's (" +
                type_suffix(wq.type) + " / " + type_suffix(wk.type) +
                (wv ? std::string(" / ") + type_suffix(wv->type) : std::string()) + ")");
  check_q8_rows("mul_mvq_qkv", wq.n_in, x, a, n_tokens);
  const uint32_t n_w = wv ? 3 : 2;
  for (uint32_t i = 0; i < n_w; ++i)
    if (!out[i]) throw Error("Vulkan: mul_mvq_qkv has no output buffer for weight " + std::to_string(i));
  const Pipeline& p =
      pipes_->get(std::string(io.heads ? "mul_mvq_qkv_heads_" : "mul_mvq_qkv_") + type_suffix(wq.type));
  MulMvPush mv;
  MatArgs qa = a;
  qa.x = x.buf;
  qa.bias = bias[0];
  qa.accumulate = false;
  mat_push(wq, qa, &mv);
  const uint32_t flags = mv.flags | (io.x_rms ? 16u : 0u);
  const uint32_t kv_rows = uint32_t(wk.n_out);
  const MulMvqkvHeadsPush pc{{mvq_push(mv, flags, &x, io), kv_rows, wk.layout.off1, wk.layout.off2, n_w},
                             io.heads_hd, 0, io.heads_group};
  // without v, its slots repeat k's buffers (the shader leaves weight 2 out)
  const GpuWeight& w2 = wv ? *wv : wk;
  std::vector<BufRef> bufs{{wq.buf}, {wk.buf}, {w2.buf}, {x.buf}};
  for (uint32_t i = 0; i < 3; ++i) bufs.push_back({out[i < n_w ? i : 1]});
  for (uint32_t i = 0; i < 3; ++i) bufs.push_back({bias[0] && i < n_w ? bias[i] : dummy_});
  if (io.heads) bufs.push_back({io.heads});
  const uint32_t rows = p.spec[1];
  const uint64_t groups = (wq.n_out + rows - 1) / rows + (n_w - 1) * ((kv_rows + rows - 1) / rows);
  uint32_t gx, gz;
  grid_rows(uint32_t(groups), &gx, &gz);
  pipes_->dispatch(cb, p, bufs, &pc, gx, n_tokens, gz);
}

void Ops::mvq_dispatch(VkCommandBuffer cb, const GpuWeight& w, const GpuWeight* up,
                       const Q8Act* xq, const MatArgs& a, uint32_t n_tokens, const MvqIo& io) {
  if (!mvq_supported(w))
    throw Error(std::string("Vulkan: mul_mvq does not take a ") + type_suffix(w.type) +
                " weight of row length " + std::to_string(w.n_in) +
                (ctx_->caps.integer_dot ? "" : " (device lacks integer dot products)"));
  const uint64_t x_end = uint64_t(a.x_off) + uint64_t(a.x_stride) * (n_tokens - 1) + uint64_t(w.n_in);
  if (xq) check_q8_rows("mul_mvq", w.n_in, *xq, a, n_tokens);
  if (!xq && x_end * 4 > a.x->size)
    throw Error("Vulkan: mul_mvq f32 x rows end at float " + std::to_string(x_end) +
                ", past the buffer's " + std::to_string(a.x->size / 4));
  if (io.out) {
    if (!mvqo_supported(w, up != nullptr))
      throw Error(std::string("Vulkan: mul_mvq cannot quantize the output of a ") +
                  type_suffix(w.type) + " weight of " + std::to_string(w.n_out) +
                  " rows (needs a multiple of 32 and a workgroup shape the device takes)");
    if (xq && io.out->buf == xq->buf)
      throw Error("Vulkan: mul_mvq cannot quantize its output into the buffer it reads x from");
    if (uint64_t(w.n_out) * n_tokens > io.out->capacity)
      throw Error("Vulkan: mul_mvq output of " + std::to_string(n_tokens) + " rows of " +
                  std::to_string(w.n_out) + " exceeds the quantized buffer's " +
                  std::to_string(io.out->capacity) + " elements");
  }
  // io.half: gate/up also writes y as halves (no io.out), or mul_mvqox reads x from them
  const bool half = io.half && (xq ? up && !io.out : true);
  if (io.half && !half)
    throw Error("Vulkan: mul_mvq takes an f16 copy only for gate/up without a quantized output or for f32 x");
  if (half && !half_supported())
    throw Error("Vulkan: device '" + ctx_->name + "' lacks 16-bit storage buffer access (f16 copies)");
  if (half && !xq && (a.x_off | a.x_stride) % 8 != 0)
    throw Error("Vulkan: mul_mvq f16 x rows must start on multiples of 8 (x_off " +
                std::to_string(a.x_off) + ", x_stride " + std::to_string(a.x_stride) + ")");
  if (io.heads && (io.out || half || up || !xq || n_tokens != 1 || io.heads_hd == 0 ||
                   w.n_out % io.heads_hd != 0 || io.heads_slot > 2))
    throw Error("Vulkan: mul_mvq writes per-head rows only for one token of a plain int8 "
                "matvec (no quantized or f16 output, not gate/up) of whole heads");
  const std::string kind = std::string(io.out ? "mul_mvqo" : "mul_mvq") + (xq ? "" : "x") +
                           (up ? "_glu" : "") + (half ? "h_" : io.heads ? "_heads_" : "_");
  const Pipeline& p = pipes_->get(kind + type_suffix(w.type));
  MulMvPush mv;
  MatArgs qa = a;
  if (xq) qa.x = xq->buf;
  mat_push(w, qa, &mv);
  const uint32_t flags = mv.flags | (io.out && io.out_norm ? 8u : 0u) | (io.x_rms ? 16u : 0u);
  const MulMvqHeadsPush pc{mvq_push(mv, flags, xq, io), io.heads_hd, io.heads_slot,
                           io.heads_group};
  std::vector<BufRef> bufs = mat_bufs(w, up, qa);
  if (io.heads) bufs.push_back({io.heads});
  if (io.out) {
    bufs.push_back({io.out->buf});
    bufs.push_back({io.out_norm ? io.out_norm : dummy_});
  }
  if (half) {
    const uint64_t end = (uint64_t(xq ? a.y_off : a.x_off) +
                          uint64_t(xq ? a.y_stride : a.x_stride) * (n_tokens - 1) + (xq ? w.n_out : w.n_in)) * 2;
    if (end > io.half->size)
      throw Error("Vulkan: mul_mvq f16 rows end at byte " + std::to_string(end) + ", past the buffer's " +
                  std::to_string(io.half->size));
    bufs.push_back({io.half});
  }
  const uint32_t rows = io.out ? 32u : p.spec[1];  // rows per workgroup
  uint32_t gx, gz;
  grid_rows(uint32_t((w.n_out + rows - 1) / rows), &gx, &gz);
  pipes_->dispatch(cb, p, bufs, &pc, gx, n_tokens, gz);
}

void Ops::mul_mm(VkCommandBuffer cb, const GpuWeight& w, const MatArgs& a, uint32_t n_tokens) {
  const Pipeline& p = pipes_->get(std::string("mul_mm_") + type_suffix(w.type));
  MulMvPush mv;
  mat_push(w, a, &mv);
  MulMmPush pc{mv.n_in, mv.n_out, mv.B, mv.off1, mv.off2, n_tokens,
               mv.x_off, mv.x_stride, mv.y_off, mv.y_stride, mv.flags};
  pipes_->dispatch(cb, p, mat_bufs(w, nullptr, a), &pc, uint32_t((w.n_out + 63) / 64),
                   (n_tokens + 63) / 64, 1);
}

bool Ops::coopmat_supported() const { return ctx_->caps.coopmat; }

namespace {
// 32-element tiles per x_tiles row: n_in padded to 256, the longest block of any type.
uint64_t x_tiles_count(uint64_t n_in) { return (n_in + 255) / 256 * 8; }
}  // namespace

bool Ops::uses_coopmat(uint32_t n_tokens) const {
  const Tuning& t = pipes_->tuning();
  return t.use_coopmat && n_tokens >= t.cm_min_tokens && n_tokens >= kMmMinTokens &&
         coopmat_supported();
}

uint64_t Ops::x_tiles_bytes(uint64_t n_in, uint64_t n_tokens) {
  return x_tiles_count(n_in) * n_tokens * 64;
}

void Ops::x_tiles(VkCommandBuffer cb, const Buffer& x, uint32_t x_off, uint32_t x_stride,
                  uint32_t n_in, uint32_t n_tokens, const Buffer& out, const Buffer* up) {
  const Pipeline& p = pipes_->get(up ? "x_tiles_glu" : "x_tiles");
  XTilesPush pc{n_in, n_tokens, x_off, x_stride, uint32_t(x_tiles_count(n_in))};
  const uint64_t words = uint64_t(pc.n_kt) * n_tokens * 4;
  uint32_t gx, gz;
  grid_rows(uint32_t((words + p.spec[0] - 1) / p.spec[0]), &gx, &gz);
  if (up)
    pipes_->dispatch(cb, p, {{&x}, {&out}, {up}}, &pc, gx, 1, gz);
  else
    pipes_->dispatch(cb, p, {{&x}, {&out}}, &pc, gx, 1, gz);
}

void Ops::mul_mm_cm(VkCommandBuffer cb, const GpuWeight& w, const MatArgs& a, uint32_t n_tokens) {
  if (!coopmat_supported())
    throw Error("Vulkan: mul_mm_cm needs VK_NV_cooperative_matrix (16x16x16 f16 -> f32) on '" +
                ctx_->name + "'");
  // Tile (rows x tokens): 128 x 128 (256 threads), or 128 x 64 (mul_mm_cm_n64, 128
  // threads, twice the workgroups) where 128 x 128 tiles would leave much of a 132-SM
  // H100 idle. Measured there at 512 tokens (TFLOP/s, Q4_K, 128 x 128 | 128 x 64):
  // 4096 -> 1024 (32 tiles) 32.6 | 46.5; 4096 -> 4096 (128 tiles) 118.8 | 90.2.
  constexpr uint32_t kCmSmallGrid = 100;
  const uint32_t n_out = uint32_t(w.n_out);
  const uint32_t tiles = ((n_out + 127) / 128) * ((n_tokens + 127) / 128);
  const bool narrow = tiles < kCmSmallGrid;
  const uint32_t bn = narrow ? 64 : 128;
  const Pipeline& p =
      pipes_->get(std::string(narrow ? "mul_mm_cm_n64_" : "mul_mm_cm_") + type_suffix(w.type));
  MulMvPush mv;
  mat_push(w, a, &mv);
  MulMmPush pc{mv.n_in, mv.n_out, mv.B, mv.off1, mv.off2, n_tokens,
               mv.x_off, mv.x_stride, mv.y_off, mv.y_stride, mv.flags};
  pipes_->dispatch(cb, p, mat_bufs(w, nullptr, a), &pc, (n_out + 127) / 128,
                   (n_tokens + bn - 1) / bn, 1);
}

void Ops::matmul(VkCommandBuffer cb, const GpuWeight& w, const MatArgs& a, uint32_t n_tokens) {
  if (uses_coopmat(n_tokens)) {
    const uint64_t bytes = x_tiles_bytes(uint64_t(w.n_in), n_tokens);
    if (tiles_scratch_.empty() || tiles_scratch_.back()->size < bytes)
      tiles_scratch_.push_back(mem_->device_buffer(bytes, "matmul x tiles"));
    const Buffer& xt = *tiles_scratch_.back();
    barrier(cb);  // an earlier mul_mm_cm may still read the scratch
    x_tiles(cb, *a.x, a.x_off, a.x_stride, uint32_t(w.n_in), n_tokens, xt);
    barrier(cb);
    MatArgs t = a;
    t.x = &xt;
    t.x_off = 0;
    t.x_stride = n_tokens;
    mul_mm_cm(cb, w, t, n_tokens);
  } else if (n_tokens >= kMmMinTokens)
    mul_mm(cb, w, a, n_tokens);
  else
    mul_mv(cb, w, a, n_tokens);
}

void Ops::get_rows(VkCommandBuffer cb, const GpuWeight& w, const Buffer& ids, uint32_t ids_off,
                   const Buffer& out, uint32_t n_tokens) {
  const Pipeline& p = pipes_->get(std::string("get_rows_") + type_suffix(w.type));
  GetRowsPush pc{uint32_t(w.n_in), w.layout.blocks_per_row, w.layout.off1, w.layout.off2,
                 ids_off, 0, uint32_t(w.n_in)};
  const uint32_t n4 = uint32_t((w.n_in + 3) / 4);
  pipes_->dispatch(cb, p, {{w.buf}, {&ids}, {&out}}, &pc, (n4 + p.spec[0] - 1) / p.spec[0],
                   n_tokens, 1);
}

void Ops::get_rows_q8(VkCommandBuffer cb, const GpuWeight& w, const Buffer& ids, const Buffer& out,
                      uint32_t n_tokens, const Q8Act& q, const Buffer& norm_w) {
  const Pipeline& p = pipes_->get(std::string("get_rows_q8_") + type_suffix(w.type));
  if (!get_rows_q8_supported(w) || p.spec[0] % 8 != 0 || uint64_t(w.n_in) * n_tokens > q.capacity)
    throw Error("Vulkan: get_rows_q8 needs rows of a multiple of 32, subgroups of 8+, workgroups "
                "of a multiple of 8 and room for " + std::to_string(n_tokens) + " rows of " +
                std::to_string(w.n_in) + " in a quantized buffer of " +
                std::to_string(q.capacity) + " elements");
  GetRowsPush pc{uint32_t(w.n_in), w.layout.blocks_per_row, w.layout.off1, w.layout.off2,
                 0, 0, uint32_t(w.n_in), q.ds_off(), q.ps_off()};
  const uint32_t n4 = uint32_t(w.n_in / 4);
  pipes_->dispatch(cb, p, {{w.buf}, {&ids}, {&out}, {q.buf}, {&norm_w}}, &pc,
                   (n4 + p.spec[0] - 1) / p.spec[0], n_tokens, 1);
}

void Ops::rms_norm(VkCommandBuffer cb, const Buffer& x, uint32_t x_off, const Buffer& w,
                   const Buffer& y, uint32_t y_off, uint32_t rows, uint32_t n, float eps) {
  const Pipeline& p = pipes_->get("rms_norm");
  RmsNormPush pc{n, x_off, n, y_off, n, eps};
  pipes_->dispatch(cb, p, {{&x}, {&w}, {&y}}, &pc, rows, 1, 1);
}

void Ops::rope_store(VkCommandBuffer cb, const Buffer& q, const Buffer& k, const Buffer& v,
                     const Buffer& kcache, const Buffer& vcache, const Buffer& params,
                     const Buffer& inv_freq, const RopeStorePush& pc, uint32_t n_tokens) {
  const Pipeline& p = pipes_->get("rope_store");
  pipes_->dispatch(cb, p, {{&q}, {&k}, {&v}, {&kcache}, {&vcache}, {&params}, {&inv_freq}}, &pc,
                   pc.n_head + pc.n_head_kv, n_tokens, 1);
}

void Ops::attention(VkCommandBuffer cb, const Buffer& q, const Buffer& kcache,
                    const Buffer& vcache, const Buffer& out, const Buffer& part,
                    const Buffer& params, const AttnPush& pc, uint32_t n_tokens) {
  if (pc.head_dim % 2 != 0 || pc.head_dim == 0 || pc.head_dim > 256 || pc.n_head_kv == 0 ||
      pc.n_head % pc.n_head_kv != 0)
    throw Error("Vulkan: attention needs an even head_dim <= 256 and n_head a multiple of "
                "n_head_kv (head_dim " + std::to_string(pc.head_dim) + ", n_head " +
                std::to_string(pc.n_head) + ", n_head_kv " + std::to_string(pc.n_head_kv) + ")");
  const Pipeline& p = pipes_->get("attn");
  pipes_->dispatch(cb, p, {{&q}, {&kcache}, {&vcache}, {&out}, {&part}, {&params}}, &pc,
                   pc.n_head, n_tokens, pc.n_split);
  if (pc.n_split > 1) {
    barrier(cb);
    const Pipeline& pcmb = pipes_->get("attn_combine");
    AttnCombinePush cp{pc.n_head, pc.head_dim, pc.n_split};
    pipes_->dispatch(cb, pcmb, {{&part}, {&out}}, &cp, pc.n_head, n_tokens, 1);
  }
}

void Ops::attention_tiled(VkCommandBuffer cb, const Buffer& q, const Buffer& kcache,
                          const Buffer& vcache, const Buffer& out, const Buffer& params,
                          const AttnTiledPush& pc) {
  if (!attention_tiled_supported(pc.head_dim) || pc.n_head_kv == 0 ||
      pc.n_head % pc.n_head_kv != 0 || pc.n_tokens == 0)
    throw Error("Vulkan: attn_tiled needs head_dim a multiple of 8 up to 128, n_head a "
                "multiple of n_head_kv and tokens (head_dim " + std::to_string(pc.head_dim) +
                ", n_head " + std::to_string(pc.n_head) + ", n_head_kv " +
                std::to_string(pc.n_head_kv) + ", tokens " + std::to_string(pc.n_tokens) + ")");
  const uint32_t rows = pc.n_tokens * (pc.n_head / pc.n_head_kv);
  pipes_->dispatch(cb, pipes_->get("attn_tiled"), {{&q}, {&kcache}, {&vcache}, {&out}, {&params}},
                   &pc, (rows + 31) / 32, pc.n_head_kv, 1);
}

bool Ops::uses_attn_decode(const AttnFusedPush& pc, uint32_t n_tokens) const {
  // one token, no splits, whole heads rotated, head_dim / 8 lanes a key within a subgroup
  const uint32_t lpk = pc.head_dim / 8;
  return pipes_->tuning().attn_decode && n_tokens == 1 && pc.n_split == 1 &&
         pc.n_rot == pc.head_dim && pc.head_dim % 8 == 0 && lpk > 0 && (lpk & (lpk - 1)) == 0 &&
         lpk <= ctx_->caps.subgroup_size && pc.head_dim <= pipes_->tuning().attn_wg;
}

void Ops::attention_fused(VkCommandBuffer cb, const AttnFusedBufs& b, const AttnFusedPush& pc,
                          uint32_t n_tokens) {
  const bool q8 = (pc.flags & 1u) != 0;
  if (pc.head_dim % 2 != 0 || pc.head_dim == 0 || pc.head_dim > 256 || pc.n_head_kv == 0 ||
      pc.n_head % pc.n_head_kv != 0 || pc.n_rot > pc.head_dim || pc.n_rot % 2 != 0 ||
      (q8 && pc.head_dim % 32 != 0) || n_tokens == 0 || n_tokens > kAttnFusedMaxTokens ||
      pc.n_split == 0)
    throw Error("Vulkan: attn_fused needs an even head_dim <= 256 (a multiple of 32 for int8 "
                "output), n_head a multiple of n_head_kv, an even n_rot <= head_dim and 1.." +
                std::to_string(kAttnFusedMaxTokens) + " tokens (head_dim " +
                std::to_string(pc.head_dim) + ", n_head " + std::to_string(pc.n_head) +
                ", n_head_kv " + std::to_string(pc.n_head_kv) + ", n_rot " +
                std::to_string(pc.n_rot) + ", tokens " + std::to_string(n_tokens) + ")");
  const bool dec = uses_attn_decode(pc, n_tokens);
  if (b.wait && (!dec || b.clocks.buf))
    throw Error("Vulkan: attention polls per-head q/k/v only as attn_decode, without clocks");
  std::string name = dec ? "attn_decode" : "attn_fused";
  if (b.clocks.buf) name += "_clk";
  if (b.wait) name += "_wait";
  const Pipeline& p = pipes_->get(name);
  if (pc.n_split > 32 || p.spec[0] < 32 || (pc.head_dim % 8 != 0 && pc.head_dim / 2 > p.spec[0]))
    throw Error("Vulkan: attn_fused takes at most 32 splits (got " + std::to_string(pc.n_split) +
                "), workgroups of 32+ threads (" + std::to_string(p.spec[0]) +
                ") and head_dim <= 2 * threads unless a multiple of 8 (" +
                std::to_string(pc.head_dim) + ")");
  std::vector<BufRef> bufs{{b.q},    {b.k},        {b.v},      {b.kcache}, {b.vcache},
                           {b.out},  {b.part},     {b.counters}, {b.params}, {b.inv_freq}};
  if (b.clocks.buf) bufs.push_back(b.clocks);
  pipes_->dispatch(cb, p, bufs, &pc, pc.n_head, n_tokens, pc.n_split);
}

void Ops::silu_mul(VkCommandBuffer cb, const Buffer& g, const Buffer& u, const Buffer& out,
                   uint32_t n) {
  const Pipeline& p = pipes_->get("silu_mul");
  CountPush pc{n};
  pipes_->dispatch(cb, p, {{&g}, {&u}, {&out}}, &pc, (n + p.spec[0] - 1) / p.spec[0], 1, 1);
}

void Ops::add(VkCommandBuffer cb, const Buffer& y, const Buffer& x, uint32_t n) {
  const Pipeline& p = pipes_->get("add");
  CountPush pc{n};
  pipes_->dispatch(cb, p, {{&y}, {&x}}, &pc, (n + p.spec[0] - 1) / p.spec[0], 1, 1);
}

void Ops::softmax(VkCommandBuffer cb, const Buffer& x, uint32_t rows, uint32_t n) {
  const Pipeline& p = pipes_->get("softmax");
  CountPush pc{n};
  pipes_->dispatch(cb, p, {{&x}}, &pc, rows, 1, 1);
}

void Ops::argmax(VkCommandBuffer cb, const Buffer& x, const Buffer& out, uint32_t rows,
                 uint32_t n) {
  const Pipeline& p = pipes_->get("argmax");
  CountPush pc{n};
  pipes_->dispatch(cb, p, {{&x}, {&out}}, &pc, rows, 1, 1);
}

uint32_t Ops::top_k_chunk() const { return pipes_->get("top_k").spec[0] * 16; }

void Ops::top_k(VkCommandBuffer cb, const Buffer& x, uint32_t n, uint32_t k_max, const Buffer& out,
                const Buffer& kbuf, uint32_t k_at) {
  const uint32_t chunks = (n + top_k_chunk() - 1) / top_k_chunk();
  if (n == 0 || k_max == 0 || k_max > kTopKMax || uint64_t(n) * 4 > x.size ||
      uint64_t(chunks) * k_max * 8 > out.size || (uint64_t(k_at) + 1) * 4 > kbuf.size)
    throw Error("Vulkan: top_k takes 1.." + std::to_string(kTopKMax) + " of n > 0 values in " +
                "its buffers, k inside its buffer (n " + std::to_string(n) + ", k_max " +
                std::to_string(k_max) + ", k at word " + std::to_string(k_at) + ")");
  TopKPush pc{n, k_max, k_at};
  pipes_->dispatch(cb, pipes_->get("top_k"), {{&x}, {&out}, {&kbuf}}, &pc, chunks, 1, 1);
}

void Ops::bandwidth(VkCommandBuffer cb, const Buffer& src, uint32_t n4, const Buffer& dst,
                    uint32_t groups) {
  const Pipeline& p = pipes_->get("bandwidth");
  CountPush pc{n4};
  pipes_->dispatch(cb, p, {{&src}, {&dst}}, &pc, groups, 1, 1);
}

void Ops::grid_sync_stream(VkCommandBuffer cb, const Buffer& src, const Buffer& cnt,
                           const Buffer& dst, const GridSyncPush& p, uint32_t groups,
                           uint32_t smem_kb) {
  const char* name = smem_kb == 0 ? "grid_sync" : smem_kb == 16 ? "grid_sync_s16k" : "grid_sync_s44k";
  pipes_->dispatch(cb, pipes_->get(name), {{&src}, {&cnt}, {&dst}}, &p, groups, 1, 1);
}

void Ops::pingpong(VkCommandBuffer cb, const Buffer& rel, const Buffer& done, const PingPongPush& p) {
  pipes_->dispatch(cb, pipes_->get("pingpong"), {{&rel}, {&done}}, &p, 1, 1, 1);
}

void Ops::start_barrier(VkCommandBuffer cb) {
  VkMemoryBarrier mb{};
  mb.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
  mb.srcAccessMask = VK_ACCESS_MEMORY_WRITE_BIT;
  mb.dstAccessMask = VK_ACCESS_MEMORY_READ_BIT | VK_ACCESS_MEMORY_WRITE_BIT;
  ctx_->fn.vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT,
                                VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0, nullptr, 0,
                                nullptr);
}

void Ops::stage_barrier(VkCommandBuffer cb, uint32_t stage_bit) {
  if ((pipes_->tuning().skip_barriers & stage_bit) != 0 && !profiling_) return;
  barrier(cb);
}

void Ops::barrier(VkCommandBuffer cb) {
  if (pipes_->tuning().no_barriers && !profiling_) return;
  VkMemoryBarrier mb{};
  mb.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
  mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
  mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT;
  const VkPipelineStageFlags st = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT;
  ctx_->fn.vkCmdPipelineBarrier(cb, st, st, 0, 1, &mb, 0, nullptr, 0, nullptr);
  if (profiling_ && profiling_->labels.size() + 1 < profiling_->capacity) {
    std::string label;
    for (const std::string& n : pipes_->take_dispatched()) label += (label.empty() ? "" : "+") + n;
    label += std::exchange(stage_tag_, {});
    profiling_->labels.push_back(label);
    ctx_->fn.vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, profiling_->pool,
                                 uint32_t(profiling_->labels.size()));
  }
}

void Ops::profile_begin(VkCommandBuffer cb, StageProfile& prof, uint32_t capacity) {
  profile_destroy(prof);
  prof.pool = timestamp_pool(capacity + 1);
  prof.capacity = capacity + 1;
  ctx_->fn.vkCmdResetQueryPool(cb, prof.pool, 0, prof.capacity);
  ctx_->fn.vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, prof.pool, 0);
  pipes_->track_dispatched(true);
  profiling_ = &prof;
}

void Ops::profile_end() {
  pipes_->track_dispatched(false);
  profiling_ = nullptr;
}

std::vector<std::pair<std::string, double>> Ops::profile_read(const StageProfile& prof) {
  std::vector<std::pair<std::string, double>> out;
  if (!prof.pool || prof.labels.empty()) return out;
  std::vector<uint64_t> ts(prof.labels.size() + 1);
  PETREL_VK_CHECK(ctx_->fn.vkGetQueryPoolResults(ctx_->device, prof.pool, 0, uint32_t(ts.size()),
                                                 ts.size() * 8, ts.data(), 8,
                                                 VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT));
  for (size_t i = 0; i < prof.labels.size(); ++i)
    out.emplace_back(prof.labels[i], ticks_to_seconds(ts[i + 1] - ts[i]));
  return out;
}

void Ops::profile_destroy(StageProfile& prof) {
  if (prof.pool) ctx_->fn.vkDestroyQueryPool(ctx_->device, prof.pool, nullptr);
  prof = StageProfile{};
}

void Ops::pass_clock(VkCommandBuffer cb, bool end) {
  if (!pass_pool_) {
    pass_pool_ = timestamp_pool(2);
    pass_times_ = mem_->host_buffer(16, true, "pass clock");
  }
  if (!end) ctx_->fn.vkCmdResetQueryPool(cb, pass_pool_, 0, 2);
  ctx_->fn.vkCmdWriteTimestamp(cb, end ? VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT : VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT,
                               pass_pool_, end ? 1 : 0);
  if (!end) return;
  ctx_->fn.vkCmdCopyQueryPoolResults(cb, pass_pool_, 0, 2, pass_times_->handle, 0, 8,
                                     VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
  host_barrier(cb);
}

std::pair<double, double> Ops::pass_clock_read() {
  if (!pass_pool_) throw Error("Vulkan: no pass was timed (pass_clock)");
  mem_->invalidate(*pass_times_);
  uint64_t ts[2] = {0, 0};
  std::memcpy(ts, pass_times_->mapped, sizeof ts);
  return {ticks_to_seconds(ts[0]), ticks_to_seconds(ts[1])};
}

VkQueryPool Ops::timestamp_pool(uint32_t count) {
  if (ctx_->caps.timestamp_bits == 0) throw Error("Vulkan: the compute queue has no timestamps");
  VkQueryPoolCreateInfo qi{};
  qi.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO;
  qi.queryType = VK_QUERY_TYPE_TIMESTAMP;
  qi.queryCount = count;
  VkQueryPool pool = VK_NULL_HANDLE;
  PETREL_VK_CHECK(ctx_->fn.vkCreateQueryPool(ctx_->device, &qi, nullptr, &pool));
  return pool;
}

double Ops::ticks_to_seconds(uint64_t ticks) const {
  const uint64_t mask =
      ctx_->caps.timestamp_bits >= 64 ? ~0ull : ((1ull << ctx_->caps.timestamp_bits) - 1);
  const double period = double(ctx_->caps.props.limits.timestampPeriod) * 1e-9;
  return double(ticks & mask) * period;
}

void Ops::transfer_barrier(VkCommandBuffer cb) {
  VkMemoryBarrier mb{};
  mb.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
  mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                     VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  const VkPipelineStageFlags st = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
  ctx_->fn.vkCmdPipelineBarrier(cb, st, st, 0, 1, &mb, 0, nullptr, 0, nullptr);
}

void Ops::host_barrier(VkCommandBuffer cb) {
  VkMemoryBarrier mb{};
  mb.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
  mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
  ctx_->fn.vkCmdPipelineBarrier(
      cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
      VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, nullptr, 0, nullptr);
}

}  // namespace petrel::vk
