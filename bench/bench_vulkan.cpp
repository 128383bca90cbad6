// bench_vulkan: speed of the Vulkan backend on a random model of a `petrel synth` shape
// (llama-8b unless --shape) built in memory (no file): device read bandwidth, matvec GB/s
// per block type (with a tuning sweep), decode (tg) and prompt (pp) tokens/s per model type.
//   bench_vulkan [--device N] [--types q4_k_m,q8_0,q6_k] [--tg 128] [--pp 512] [--reps 3]
//                [--shape llama-8b] [--layers N] [--no-model] [--no-sweep] [--no-kernels]
//                [--mm-only] [--profile [--mvq] [--pipeline-stats]] [--pass-times] [--after-gen]
//                [--mvqo default,off,nof32x,noqkv,onewave,nobarrier[:MASK],twice:MASK,
//                        unroll:P/O[/G/X],noembedq8,nodirect,spin,nospin,ahead,noahead,
//                        directlogits,nodirectlogits,noattndec,attnwait,noattnwait,
//                        waitfirst,copy,half,nohalf,attnwg:N,WG/ROWS/GLU_ROWS,...]
//                [--mvqo-sweep] [--grid-sync] [--host-sync] [--smem-switch] [--attn-clocks]
//   --shape: n_embd, layers, n_ff, heads and vocab of a synth shape (no q/k/v biases, output
//            untied); --layers overrides its layer count
//   --mvqo: the model runs once per variant: the default tuning, "off" (every int8 matvec
//           input from quantize_q8), "nof32x" (no Tuning::mvq_f32x), "noqkv" (q, k and v
//           in a dispatch each, no Tuning::mvq_qkv), "onewave" (gate/up
//           quantizes its output however many workgroups that takes: no
//           MvqoShape::glu_max_per_sm), "nobarrier" (a diagnostic with wrong results: no
//           barriers between the stages, Tuning::no_barriers), "nobarrier:MASK" (the same for
//           the decode layer boundaries of MASK only: 1 after q/k/v, 2 attention, 4 wo, 8
//           gate/up, 16 down; Tuning::skip_barriers), "twice:MASK" (a diagnostic with wrong
//           results: the decode matvec stages of MASK, bits as nobarrier's (and 2 attention
//           over the same cache, 32 over the next layer's), run twice, the
//           second time with another layer's weights; with --profile the first is listed
//           apart, "(once)"; Tuning::repeat_stages), "unroll:P/O[/G/X]" (every type's
//           MvqoShape::unroll = P, o_unroll = O, glu_unroll = G, x_unroll = X, G and X 1
//           when left out: chunks a thread loads at once), "noembedq8" (a quantize_q8
//           stage after the embedding lookup, no Tuning::embed_q8), "nodirect" (positions
//           and token ids copied from host memory at each pass's start, no
//           Tuning::direct_params), "spin" / "nospin" (the host polls each pass's fence, or
//           sleeps on it: Tuning::spin_wait), "ahead" / "noahead" (the next token's
//           pass submitted while one runs, or after it: Tuning::presubmit),
//           "directlogits" / "nodirectlogits" (the output matvec writes the logits into
//           host memory, or a copy does: Tuning::direct_logits), "copy" (tg hands each
//           token's logits back through Backend::forward, a copy, rather than
//           forward_logits, as Session::eval does), "half" / "nohalf" (every type's
//           down that quantizes g itself reads it as halves, or as floats:
//           MvqoShape::x_half), "attnwg:N" (decode attention's workgroup, N keys a
//           tile: Tuning::attn_wg), "noattndec" (decode attention by attn_fused, not
//           attn_decode: Tuning::attn_decode), "attnwait" / "noattnwait" (decode
//           attention polls its q/k/v in the q/k/v stage, or follows a barrier:
//           Tuning::attn_wait), "waitfirst" (polling, recorded before the q/k/v
//           matvecs: Tuning::attn_wait_first) or mul_mvqo row groups of WG
//           threads x ROWS rows (GLU_ROWS for gate/up); from the second variant on, the
//           line says whether the last logits equal the first variant's
//   --mvqo-sweep: decode matvec stage times, mul_mvq vs mul_mvqo row-group shapes
//   --grid-sync: per phase of streaming 4-66 MB with one workgroup per SM, a pipeline
//                barrier between dispatches against a grid-wide counter barrier inside one
//                dispatch and against no sync at all
//   --host-sync: a host <-> shader handshake through mapped memory, and tiny dispatches
//                across command buffer and submission boundaries
//   --smem-switch: dispatches whose shared memory size changes from one to the next
//   --pass-times: also the device time of each tg token and the device's idle time
//                 between tokens (Tuning::time_passes), medians
//   --after-gen: also a --pp prompt's time after 8 decoded tokens and 5 ms of host work,
//                with the pass held for a next token left held or released (Backend::idle)
//   --mm-only: only the prompt matmul, at the llama-8B shapes and six types (--pp tokens)
//   --profile: GPU time per stage of one decode step at position --tg and of a --pp prompt,
//              for each --mvqo variant (--mvq: with int8 activations even where the device
//              default has none; --pipeline-stats: also the driver's statistics of the
//              decode pipelines, registers and the like, through
//              VK_KHR_pipeline_executable_properties; --attn-clocks: where decode
//              attention's time goes, by the device clock inside its workgroups)
#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <stdexcept>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "engine/ftype.h"
#include "engine/vulkan/vk_backend.h"
#include "engine/vulkan/vk_bench.h"
#include "kernels/types.h"

namespace {

using petrel::kernels::Type;
using petrel::kernels::WeightView;

struct Args {
  int device = 0, tg = 128, pp = 512, reps = 3, layers = 0;  // 0: the shape's
  std::string shape = "llama-8b";
  std::vector<std::string> types{"q4_k_m", "q8_0", "q6_k"};
  bool profile = false;  // per-stage GPU times of one decode step
  bool pass_times = false;  // tg's device time per token and the device's wait between
  bool after_gen = false;   // a prompt's time after a generation, with and without idle()
  bool mvq = false;      // the profile with int8 activations even where not the default
  bool model = true, sweep = true, kernels = true, mm_only = false;
  // decode variants of the model runs (--mvqo in the header: default, off, nof32x, onewave
  // or WG/ROWS/GLU_ROWS)
  std::vector<std::string> mvqo{"default"};
  bool mvqo_sweep = false;  // stage times of mul_mvq vs mul_mvqo shapes
  bool grid_sync = false;   // pipeline barrier vs grid-wide counter barrier
  bool host_sync = false;   // host <-> device handshake through mapped memory
  bool smem_switch = false; // dispatches that change their shared memory size
  bool attn_clocks = false; // with --profile: clocks inside decode attention
  bool pipeline_stats = false;  // with --profile: the driver's statistics of its pipelines
};

// The device's default tuning changed as `variant` of Args::mvqo says.
petrel::vk::Tuning variant_tuning(const Args& a, const std::string& variant) {
  petrel::vk::Ops probe(a.device);
  petrel::vk::Tuning tu = petrel::vk::Ops::default_tuning(probe.ctx().caps);
  // the variants that set one switch of the tuning
  using T = petrel::vk::Tuning;
  struct Switch {
    const char* name;
    bool T::*field;
    bool value;
  };
  static const Switch kSwitches[] = {
      {"nof32x", &T::mvq_f32x, false},        {"noqkv", &T::mvq_qkv, false},
      {"nobarrier", &T::no_barriers, true},   {"nodirect", &T::direct_params, false},
      {"noembedq8", &T::embed_q8, false},     {"spin", &T::spin_wait, true},
      {"nospin", &T::spin_wait, false},       {"ahead", &T::presubmit, true},
      {"noahead", &T::presubmit, false},      {"directlogits", &T::direct_logits, true},
      {"nodirectlogits", &T::direct_logits, false}, {"noattndec", &T::attn_decode, false},
      {"attnwait", &T::attn_wait, true},      {"noattnwait", &T::attn_wait, false}};
  for (const Switch& sw : kSwitches)
    if (variant == sw.name) {
      tu.*sw.field = sw.value;
      return tu;
    }
  if (variant == "waitfirst") {
    tu.attn_wait = true;
    tu.attn_wait_first = true;
  } else if (variant.rfind("nobarrier:", 0) == 0) {
    tu.skip_barriers = uint32_t(std::stoul(variant.substr(10)));
  } else if (variant.rfind("twice:", 0) == 0) {
    tu.repeat_stages = uint32_t(std::stoul(variant.substr(6)));
  } else if (variant.rfind("unroll:", 0) == 0) {
    uint32_t u = 0, uo = 0, ug = 1, ux = 1;
    if (std::sscanf(variant.c_str() + 7, "%u/%u/%u/%u", &u, &uo, &ug, &ux) < 2)
      throw std::runtime_error(
          "--mvqo unroll:PLAIN/QOUT[/GLU/QOUTX] (chunks a thread loads at once)");
    for (auto* s : {&tu.mvqo_q4_k, &tu.mvqo_q6_k, &tu.mvqo_q8_0})
      s->unroll = u, s->o_unroll = uo, s->glu_unroll = ug, s->x_unroll = ux;
  } else if (variant.rfind("attnwg:", 0) == 0) {
    tu.attn_wg = uint32_t(std::stoul(variant.substr(7)));
  } else if (variant == "half" || variant == "nohalf") {
    for (auto* s : {&tu.mvqo_q4_k, &tu.mvqo_q6_k, &tu.mvqo_q8_0}) s->x_half = variant == "half";
  } else if (variant == "onewave") {
    for (auto* s : {&tu.mvqo_q4_k, &tu.mvqo_q6_k, &tu.mvqo_q8_0}) s->glu_max_per_sm = 0;
  } else if (variant == "off") {
    for (auto* s : {&tu.mvqo_q4_k, &tu.mvqo_q6_k, &tu.mvqo_q8_0}) s->rows = s->glu_rows = 0;
  } else if (variant != "default" && variant != "copy") {
    uint32_t wg = 0, rows = 0, glu_rows = 0;
    if (std::sscanf(variant.c_str(), "%u/%u/%u", &wg, &rows, &glu_rows) != 3)
      throw std::runtime_error(
          "--mvqo takes default, off, nof32x, noqkv, onewave, nobarrier, nobarrier:MASK, "
          "twice:MASK, unroll:P/O[/G/X], noembedq8, nodirect, spin, nospin, ahead, noahead, "
          "directlogits, nodirectlogits, noattndec, attnwait, noattnwait, waitfirst, copy, half, "
          "nohalf, attnwg:N or WG/ROWS/GLU_ROWS");
    for (auto* s : {&tu.mvqo_q4_k, &tu.mvqo_q6_k, &tu.mvqo_q8_0}) *s = {wg, rows, wg, glu_rows};
  }
  return tu;
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

const petrel::tools::SynthShape& find_shape(const std::string& name) {
  for (const auto& s : petrel::tools::synth_shape_table())
    if (s.name == name && s.n_vocab > 0) return s;
  throw std::runtime_error("--shape: no synth shape '" + name + "' with its own vocabulary");
}

// Layers of the model: --layers, else the shape's.
int model_layers(const Args& a) {
  return a.layers > 0 ? a.layers : int(find_shape(a.shape).n_layer);
}

// Random weights shared by every layer (the GPU still gets one copy per layer).
class RandomModel {
 public:
  RandomModel(const std::string& kind, const petrel::tools::SynthShape& s, int n_layer) {
    auto& hp = w.hp;
    const int64_t E = s.n_embd, F = s.n_ff, V = s.n_vocab, hd = s.n_embd / s.n_head;
    const int64_t kv = hd * s.n_head_kv;
    hp.arch = "llama";
    hp.n_vocab = int(V);
    hp.n_ctx_train = 4096;
    hp.n_embd = int(E);
    hp.n_layer = n_layer;
    hp.n_head = int(s.n_head);
    hp.n_head_kv = int(s.n_head_kv);
    hp.head_dim = int(hd);
    hp.n_ff = int(F);
    hp.n_rot = int(hd);
    hp.rope_base = s.rope_base;
    Type base = kind == "q8_0" ? Type::kQ8_0 : kind == "q6_k" ? Type::kQ6_K : Type::kQ4_K;
    Type out = kind == "q4_k_m" ? Type::kQ6_K : base;
    w.tok_embd = weight(base, E, V);
    w.output = weight(out, E, V);
    w.output_norm = ones(size_t(E));
    for (int l = 0; l < n_layer; ++l) {
      // Q4_K_M gives attn_v and ffn_down more bits in some layers (llama.cpp's rule)
      const bool more = kind == "q4_k_m" &&
                        (l < n_layer / 8 || l >= 7 * n_layer / 8 || (l - n_layer / 8) % 3 == 2);
      petrel::LayerWeights L;
      L.attn_norm = L.ffn_norm = ones(size_t(E));
      L.wq = weight(base, E, E);
      L.wk = weight(base, E, kv);
      L.wv = weight(more ? Type::kQ6_K : base, E, kv);
      L.wo = weight(base, E, E);
      L.w_gate = weight(base, E, F);
      L.w_up = weight(base, E, F, 1);
      L.w_down = weight(more ? Type::kQ6_K : base, F, E);
      w.layers.push_back(L);
    }
  }
  // Bytes one decode step reads from weights (all matrices once, one embedding row).
  uint64_t bytes_per_token() const {
    uint64_t b = petrel::vk::gpu_weight_bytes(w.output.type, w.output.n_in, w.output.n_out);
    for (const auto& L : w.layers)
      for (const WeightView* v : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down})
        b += petrel::vk::gpu_weight_bytes(v->type, v->n_in, v->n_out);
    return b;
  }
  petrel::ModelWeights w;

 private:
  WeightView weight(Type t, int64_t n_in, int64_t n_out, int variant = 0) {
    auto key = std::make_tuple(int(t), n_in, n_out, variant);
    auto it = data_.find(key);
    const size_t rb = petrel::kernels::row_bytes(*petrel::kernels::type_traits(t), n_in);
    if (it == data_.end()) {
      std::vector<uint8_t> bytes(rb * size_t(n_out));
      petrel::vk::fill_random_blocks(t, bytes.data(), bytes.size(), data_.size() + 7);
      it = data_.emplace(key, std::move(bytes)).first;
    }
    return {t, n_in, n_out, it->second.data(), rb};
  }
  const float* ones(size_t n) {
    norms_.emplace_back(n, 1.0f);
    return norms_.back().data();
  }
  std::map<std::tuple<int, int64_t, int64_t, int>, std::vector<uint8_t>> data_;
  std::vector<std::vector<float>> norms_;
};

// Prompt matmul (the tensor-core path where the device has one) at llama-8B shapes:
// 4096 -> 14336 (gate/up) always; with `more`, also 14336 -> 4096 (down), 4096 -> 4096
// (attn q/o) and 4096 -> 1024 (attn k/v).
void bench_prompt_matmul(const Args& a, petrel::vk::Ops& ops, bool more) {
  struct Shape { int64_t n_in, n_out; };
  std::vector<Shape> shapes{{4096, 14336}};
  if (more) shapes.insert(shapes.end(), {{14336, 4096}, {4096, 4096}, {4096, 1024}});
  std::vector<Type> types{Type::kQ4_K, Type::kQ6_K, Type::kQ8_0};
  if (more) types.insert(types.end(), {Type::kQ5_K, Type::kQ4_0, Type::kF16});
  const int n_tok = a.pp > 0 ? a.pp : 512;
  for (const Shape& sh : shapes) {
    std::printf("\nmatmul (prompt, %lld x %lld x %d tokens):\n", (long long)sh.n_in,
                (long long)sh.n_out, n_tok);
    for (Type t : types) {
      const double s = petrel::vk::time_matmul(ops, t, sh.n_in, sh.n_out, n_tok, a.reps, 1);
      std::printf("%-6s %8.1f us %8.1f TFLOP/s\n", petrel::kernels::type_traits(t)->name, s * 1e6,
                  2.0 * double(sh.n_in) * double(sh.n_out) * n_tok / s * 1e-12);
    }
  }
}

// Stage times (dispatch + barrier, median of 3 submissions of 32) of the decode matvecs
// with int8 activations, llama-8B shapes, per type: the plain mul_mvq (device tuning) with
// the quantize_q8 stage that feeds it, then mul_mvqo (quantized output) per row-group shape.
void bench_mvqo(const Args& a) {
  struct Op { const char* name; int64_t n_in, n_out; bool glu; };
  const Op kOps[] = {{"gate/up", 4096, 14336, true}, {"down", 14336, 4096, false}, {"wo", 4096, 4096, false}};
  const int copies = 6;  // rotated, so the weights do not stay in the cache
  std::printf("\ndecode matvec stages, us (int8 x; mvqo: quantized output):\n");
  for (Type t : {Type::kQ4_K, Type::kQ6_K, Type::kQ8_0}) {
    for (std::string v : {"plain", "32/1", "32/2", "32/4", "32/8", "64/2", "64/4", "64/8", "128/4", "128/8"}) {
      const bool plain = v == "plain";
      // "WG/ROWS": the same rows for gate/up ("WG/ROWS/ROWS" of --mvqo)
      petrel::vk::Tuning tu = variant_tuning(a, plain ? "default" : v + v.substr(v.find('/')));
      tu.use_mvq = true;
      petrel::vk::Ops ops(a.device, &tu);
      std::printf("%-5s %-6s", petrel::kernels::type_traits(t)->name, v.c_str());
      const petrel::vk::Q8Act xin = ops.alloc_q8(14336, "x int8"), xout = ops.alloc_q8(14336, "y int8");
      petrel::vk::Buffer* yb = ops.mem().device_buffer(14336 * 4, "y");
      std::vector<float> ones(14336, 1.f);
      petrel::vk::Buffer* nb = ops.upload_f32(ones.data(), ones.size(), "norm");
      for (const Op& op : kOps) {
        const std::vector<petrel::vk::GpuWeight> ws =
            petrel::vk::upload_random_weights(ops, t, op.n_in, op.n_out, copies * (op.glu ? 2 : 1));
        if (!plain && !ops.mvqo_supported(ws[0], op.glu)) {
          std::printf(" %s -", op.name);
          continue;
        }
        const petrel::vk::MatArgs args{nullptr, 0, uint32_t(op.n_in), yb, 0, uint32_t(op.n_out)};
        petrel::vk::MvqIo io;
        if (!plain) io.out = &xout, io.out_norm = op.glu ? nullptr : nb;
        auto body = [&](VkCommandBuffer cb, int i) {
          const size_t k = size_t(i % copies);
          if (op.glu)
            ops.mul_mvq_glu_q8(cb, ws[2 * k], ws[2 * k + 1], xin, args, 1, io);
          else
            ops.mul_mvq_q8(cb, ws[k], xin, args, 1, io);
        };
        petrel::vk::time_recorded(ops, copies, body);
        std::vector<double> ts;
        for (int r = 0; r < 3; ++r) ts.push_back(petrel::vk::time_recorded(ops, 32, body));
        std::printf(" %s %6.1f", op.name, median(ts) * 1e6);
      }
      if (plain) {
        petrel::vk::Buffer* xf = ops.upload_f32(ones.data(), ones.size(), "x f32");
        std::vector<double> ts;
        for (int r = 0; r < 3; ++r)
          ts.push_back(petrel::vk::time_recorded(ops, 32, [&](VkCommandBuffer cb, int) {
            ops.quantize_q8(cb, *xf, 0, 4096, 4096, 1, xin, nb, 1e-5f);
          }));
        std::printf(" | quantize_q8 4096 %5.1f", median(ts) * 1e6);
      }
      std::printf("\n");
      std::fflush(stdout);
    }
  }
}

// A handshake between the host and a running shader through mapped memory (no submission,
// semaphore or fence in the loop): what releasing a held pass and seeing its end could
// cost instead of vkSignalSemaphore and a fence.
void bench_host_sync(const Args& a) {
  petrel::vk::Ops ops(a.device);
  std::printf("\nhost sync: us from the host's write (device-local memory) to seeing the "
              "device's answer (host memory), median (p10-p90) of 2000 rounds\n");
  for (int rep = 0; rep < std::max(1, a.reps); ++rep) {
    const petrel::vk::PingPongTimes t = petrel::vk::time_host_pingpong(ops, 2000);
    std::printf("  %7.2f (%.2f-%.2f)%s\n", t.median * 1e6, t.p10 * 1e6, t.p90 * 1e6,
                t.gave_up ? " (the device's poll gave up: void)" : "");
    std::fflush(stdout);
  }
  const petrel::vk::SubmitGapTimes g = petrel::vk::time_submit_gap(ops, 100, a.reps);
  std::printf("submission boundary: us a tiny dispatch after a barrier, 100 of them: one command "
              "buffer %.2f | a command buffer each, one submission %.2f | a submission each, one "
              "vkQueueSubmit %.2f | a vkQueueSubmit each %.2f\n",
              g.one_cb * 1e6, g.cbs * 1e6, g.submits * 1e6, g.calls * 1e6);
}

// Dispatches with a barrier after each, streaming, whose shared memory size is the same
// throughout or changes from one to the next (KB a workgroup, one workgroup an SM).
void bench_smem_switch(const Args& a) {
  petrel::vk::Ops ops(a.device);
  const uint32_t sms = ops.ctx().caps.sm_count ? ops.ctx().caps.sm_count : 1;
  std::printf("\nshared memory switch: us per dispatch of 32, %u workgroups of %u threads, "
              "barrier after each; KB of shared memory a workgroup, dispatch by dispatch\n",
              sms, petrel::vk::Ops::kGridSyncThreads);
  const std::vector<std::vector<uint32_t>> patterns = {
      {0}, {16}, {44}, {0, 16}, {0, 44}, {16, 44}, {0, 0, 44}, {0, 0, 0, 0, 44}};
  for (uint64_t kb : {16, 2000, 8000, 16000}) {
    std::printf("  %5llu KB a dispatch:", (unsigned long long)kb);
    for (const auto& pat : patterns) {
      const double t = petrel::vk::time_smem_sequence(ops, kb * 1000, sms, pat, a.reps);
      std::string name;
      for (uint32_t v : pat) {
        if (!name.empty()) name += '/';
        name += std::to_string(v);
      }
      std::printf("  %s %.2f", name.c_str(), t * 1e6);
    }
    std::printf("\n");
    std::fflush(stdout);
  }
}

// Pipeline barrier against a grid-wide counter barrier inside one dispatch, per phase of
// streaming weights-sized data with one wave of workgroups (one per SM): the cost of the
// stage boundary a one-wave decode kernel would pay instead.
void bench_grid_sync(const Args& a) {
  petrel::vk::Ops ops(a.device);
  const uint32_t sms = ops.ctx().caps.sm_count;
  std::printf("\ngrid sync: us per phase of 32, %u workgroups of %u threads (barriers | grid "
              "counter barrier | no sync)\n", sms, petrel::vk::Ops::kGridSyncThreads);
  if (sms == 0) {
    std::printf("  needs the SM count (VK_NV_shader_sm_builtins); skipped\n");
    return;
  }
  for (uint64_t mb : {4, 10, 30, 66}) {
    const petrel::vk::GridSyncTimes t = petrel::vk::time_grid_sync(ops, mb * 1000000, sms, 32, a.reps);
    std::printf("  %3llu MB a phase: %7.2f | %7.2f | %7.2f%s\n", (unsigned long long)mb,
                t.barriers * 1e6, t.grid * 1e6, t.none * 1e6,
                t.gave_up ? " (grid barrier gave up: workgroups not all resident)" : "");
    std::fflush(stdout);
  }
  std::printf("\nevent split: us per round of two stages of MB each, %u workgroups of %u threads, "
              "in P dispatches each (whole: one dispatch a stage, barrier between | split: P a stage, "
              "barrier between | events: part i of the second waits for part i of the first | no sync)\n",
              sms, petrel::vk::Ops::kGridSyncThreads);
  for (uint64_t mb : {16, 32, 64})
    for (uint32_t parts : {2u, 4u}) {
      const petrel::vk::EventSplitTimes t =
          petrel::vk::time_event_split(ops, mb * 1000000, parts, sms, a.reps);
      std::printf("  %3llu MB, P=%u: %7.2f | %7.2f | %7.2f | %7.2f\n", (unsigned long long)mb, parts,
                  t.whole * 1e6, t.split * 1e6, t.events * 1e6, t.none * 1e6);
      std::fflush(stdout);
    }
}

void bench_kernels(const Args& a) {
  petrel::vk::Ops ops(a.device);
  std::printf("device: %s\n", ops.ctx().name.c_str());
  const uint64_t bw_bytes = std::min<uint64_t>(1ull << 30, ops.ctx().caps.props.limits.maxStorageBufferRange);
  const double bw = petrel::vk::time_read_bandwidth(ops, bw_bytes, 5);
  std::printf("read bandwidth (%.0f MiB, bandwidth.comp): %.0f GB/s\n", double(bw_bytes) / (1 << 20), bw * 1e-9);
  std::printf("\n%-6s %-14s %10s %10s %8s\n", "type", "shape", "us", "GB/s", "of bw");
  for (Type t : {Type::kQ4_K, Type::kQ6_K, Type::kQ8_0, Type::kQ4_0, Type::kQ5_K, Type::kF16}) {
    for (auto [n_in, n_out] : {std::pair<int64_t, int64_t>{4096, 14336}, {14336, 4096}}) {
      const double s = petrel::vk::time_matmul(ops, t, n_in, n_out, 1, a.reps);
      const double gbs = double(petrel::vk::gpu_weight_bytes(t, n_in, n_out)) / s * 1e-9;
      std::printf("%-6s %5lldx%-8lld %10.1f %10.0f %7.0f%%\n", petrel::kernels::type_traits(t)->name,
                  (long long)n_in, (long long)n_out, s * 1e6, gbs, 100.0 * gbs / (bw * 1e-9));
    }
  }
  // the 4096x14336 matvecs again under a changed device tuning, each line marked `what`
  auto variant_rows = [&](const char* what, const std::function<void(petrel::vk::Tuning&)>& change) {
    petrel::vk::Tuning tu = petrel::vk::Ops::default_tuning(ops.ctx().caps);
    change(tu);
    petrel::vk::Ops o2(a.device, &tu);
    for (Type t : {Type::kQ4_K, Type::kQ6_K, Type::kQ8_0}) {
      const double s = petrel::vk::time_matmul(o2, t, 4096, 14336, 1, a.reps);
      const double gbs = double(petrel::vk::gpu_weight_bytes(t, 4096, 14336)) / s * 1e-9;
      std::printf("%-6s %-14s %10.1f %10.0f %7.0f%%  (%s)\n", petrel::kernels::type_traits(t)->name,
                  "4096x14336", s * 1e6, gbs, 100.0 * gbs / (bw * 1e-9), what);
    }
  };
  // the f32-activation matvec (mul_mv), for comparison with the default path above
  variant_rows("mul_mv, f32 x", [](petrel::vk::Tuning& tu) { tu.use_mvq = false; });
  // the default matvecs with no barrier between the timed repeats (a diagnostic,
  // Tuning::no_barriers): throughput when consecutive stages overlap, i.e. without the
  // stage boundary's wait and the ramp and tail around it
  variant_rows("no barriers between repeats", [](petrel::vk::Tuning& tu) { tu.no_barriers = true; });
  if (a.sweep) {
    std::printf("\nmul_mvq tuning sweep (4096 x 14336 | 14336 x 4096, GB/s): wg/rows\n");
    for (Type t : {Type::kQ4_K, Type::kQ6_K, Type::kQ8_0}) {
      std::printf("%-6s", petrel::kernels::type_traits(t)->name);
      for (uint32_t wg : {32u, 64u, 128u, 256u})
        for (uint32_t rows : {1u, 2u, 4u, 8u}) {
          petrel::vk::Tuning tu = petrel::vk::Ops::default_tuning(ops.ctx().caps);
          tu.use_mvq = true;
          tu.mvq_wg = tu.mvq_wg_q6_k = tu.mvq_wg_q8_0 = wg;
          tu.mvq_rows = tu.mvq_rows_q6_k = tu.mvq_rows_q8_0 = rows;
          petrel::vk::Ops o2(a.device, &tu);
          const double s = petrel::vk::time_matmul(o2, t, 4096, 14336, 1, a.reps);
          const double s2 = petrel::vk::time_matmul(o2, t, 14336, 4096, 1, a.reps);
          std::printf(" %u/%u:%.0f|%.0f", wg, rows,
                      double(petrel::vk::gpu_weight_bytes(t, 4096, 14336)) / s * 1e-9,
                      double(petrel::vk::gpu_weight_bytes(t, 14336, 4096)) / s2 * 1e-9);
          std::fflush(stdout);
        }
      std::printf("\n");
    }
  }
  {
    // Cost of the small decode stages (each followed by a barrier), llama-8B shapes.
    auto& m = ops.mem();
    std::vector<float> ones(14336 * 4, 0.01f);
    auto* x = ops.upload_f32(ones.data(), 4096, "x");
    auto* w = ops.upload_f32(ones.data(), 4096, "w");
    auto* y = m.device_buffer(4096 * 4, "y");
    auto* q = ops.upload_f32(ones.data(), 4096, "q");
    auto* k = ops.upload_f32(ones.data(), 1024, "k");
    auto* v = ops.upload_f32(ones.data(), 1024, "v");
    auto* kc = m.device_buffer(4096ull * 1024 * 2, "kc");
    auto* vc = m.device_buffer(4096ull * 1024 * 2, "vc");
    auto* inv = ops.upload_f32(ones.data(), 64, "inv");
    auto* part = m.device_buffer(32ull * 32 * 130 * 4, "part");
    auto* params = m.host_buffer(16, false, "params");
    const int n = 64;
    auto us = [&](const char* what, const std::function<void(VkCommandBuffer, int)>& f) {
      std::printf("  %-34s %7.2f us\n", what, petrel::vk::time_recorded(ops, n, f) * 1e6);
    };
    std::printf("\ndecode stage costs (each + barrier, mean of %d in one submission):\n", n);
    us("add n=1 (empty stage)", [&](VkCommandBuffer cb, int) { ops.add(cb, *y, *x, 1); });
    us("add n=1 + transfer barrier", [&](VkCommandBuffer cb, int) {
      ops.add(cb, *y, *x, 1);
      ops.transfer_barrier(cb);
    });
    us("rms_norm 4096", [&](VkCommandBuffer cb, int) { ops.rms_norm(cb, *x, 0, *w, *y, 0, 1, 4096, 1e-5f); });
    us("rope_store 32+8 heads", [&](VkCommandBuffer cb, int) {
      ops.rope_store(cb, *q, *k, *v, *kc, *vc, *params, *inv, {32, 8, 128, 128, 0, 4096, 1024}, 1);
    });
    for (auto [pos, split] : {std::pair<uint32_t, uint32_t>{127, 1}, {127, 4}, {2047, 16}}) {
      static_cast<uint32_t*>(params->mapped)[0] = pos;
      char name[64];
      std::snprintf(name, sizeof name, "attention n_kv=%u split=%u", pos + 1, split);
      us(name, [&](VkCommandBuffer cb, int) {
        ops.attention(cb, *q, *kc, *vc, *y, *part, *params, {32, 8, 128, split, 0.088f}, 1);
      });
    }
    auto* counters = m.device_buffer(32 * 4, "counters");
    ops.ctx().run_now([&](VkCommandBuffer cb) {
      ops.ctx().fn.vkCmdFillBuffer(cb, counters->handle, 0, VK_WHOLE_SIZE, 0);
    });
    const petrel::vk::Q8Act xq = ops.alloc_q8(14336, "x int8");
    for (uint32_t pos : {0u, 128u, 511u, 2047u})
      for (uint32_t split : {1u, 2u, 8u}) {
        static_cast<uint32_t*>(params->mapped)[0] = pos;
        char name[64];
        std::snprintf(name, sizeof name, "attn_fused n_kv=%u split=%u", pos + 1, split);
        us(name, [&](VkCommandBuffer cb, int) {
          ops.attention_fused(cb, {q, k, v, kc, vc, xq.buf, part, counters, params, inv},
                              {32, 8, 128, 128, 0, split, 1, xq.ds_off(), 0.088f}, 1);
        });
      }
    us("quantize_q8 4096 + rms_norm", [&](VkCommandBuffer cb, int) {
      ops.quantize_q8(cb, *x, 0, 4096, 4096, 1, xq, w, 1e-5f);
    });
    auto* g = ops.upload_f32(ones.data(), 14336, "g");
    us("quantize_q8 14336", [&](VkCommandBuffer cb, int) {
      ops.quantize_q8(cb, *g, 0, 14336, 14336, 1, xq, nullptr, 0.f);
    });
  }
  bench_prompt_matmul(a, ops, false);
}

void bench_model(const Args& a, const std::string& kind) {
  RandomModel m(kind, find_shape(a.shape), model_layers(a));
  const int n_vocab = m.w.hp.n_vocab;
  std::vector<float> first;  // the first variant's last logits
  for (const std::string& variant : a.mvqo) {
  petrel::vk::Tuning tu = variant_tuning(a, variant);
  tu.time_passes = a.pass_times;
  const double t0 = now_s();
  auto be = petrel::vk::Backend::create(m.w, a.device, a.pp + a.tg + 8, std::max(1, a.pp), &tu);
  const double t_load = now_s() - t0;
  std::vector<float> logits(static_cast<size_t>(n_vocab));
  std::vector<int32_t> toks(size_t(std::max(a.pp, 1)));
  for (size_t i = 0; i < toks.size(); ++i) toks[i] = int32_t((i * 7919) % n_vocab);
  // warm-up: record the decode and prompt command buffers
  be->forward(toks.data(), 1, 0, logits.data(), false);
  if (a.pp > 0) be->forward(toks.data(), a.pp, 0, logits.data(), false);
  // (pass times: per token, us; launch and detect where the clocks are calibrated)
  std::vector<double> tg, pp, busy, gap, submit, outside, launch, detect;
  for (int r = 0; r < a.reps; ++r) {
    be->take_pass_times();
    const double s = now_s();
    // the logits where the pass leaves them (as Session::eval), or copied out ("copy")
    const float* kept = nullptr;
    for (int i = 0; i < a.tg; ++i) {
      const int32_t* t = &toks[size_t(i) % toks.size()];
      if (variant == "copy")
        be->forward(t, 1, i, logits.data(), false);
      else
        kept = be->forward_logits(t, 1, i);
    }
    tg.push_back(a.tg / (now_s() - s));
    if (kept) std::copy(kept, kept + n_vocab, logits.begin());
    be->settle();  // (a pass held for the next token runs now, not in the next timing)
    const auto pt = be->take_pass_times();
    for (size_t i = 0; i < pt.size(); ++i) {
      busy.push_back((pt[i].end - pt[i].start) * 1e6);
      submit.push_back(pt[i].submit * 1e6);
      if (pt[i].calibrated) {
        launch.push_back(pt[i].launch * 1e6);
        detect.push_back(pt[i].detect * 1e6);
      }
      if (i == 0) continue;
      gap.push_back((pt[i].start - pt[i - 1].end) * 1e6);
      outside.push_back(pt[i].outside * 1e6);
    }
  }
  for (int r = 0; r < a.reps && a.pp > 0; ++r) {
    const double s = now_s();
    be->forward(toks.data(), a.pp, 0, logits.data(), false);
    pp.push_back(a.pp / (now_s() - s));
  }
  // --after-gen: 8 tokens decoded, 5 ms of the host's own work, then the prompt (ms)
  std::vector<double> after[2];
  for (int r = 0; r < a.reps && a.after_gen && a.pp > 0; ++r)
    for (const bool idle : {false, true}) {
      for (int i = 0; i < 8; ++i) be->forward_logits(&toks[size_t(i) % toks.size()], 1, a.pp + i);
      if (idle) be->idle();
      const double until = now_s() + 5e-3;
      while (now_s() < until) {
      }
      const double s = now_s();
      be->forward(toks.data(), a.pp, 0, logits.data(), false);
      after[idle].push_back((now_s() - s) * 1e3);
    }
  // every variant runs the same tokens: its last logits against the first variant's
  std::string same;
  if (first.empty()) {
    first = logits;
  } else {
    // (bitwise first: a NaN equals nothing, and std::max would pass over it)
    float diff = 0.f;
    size_t n_diff = 0;
    for (size_t i = 0; i < logits.size(); ++i) {
      if (std::memcmp(&logits[i], &first[i], sizeof(float)) == 0) continue;
      ++n_diff;
      const float d = std::fabs(logits[i] - first[i]);
      if (!(d <= diff)) diff = d;  // NaN sticks
    }
    same = n_diff == 0 ? ", logits = first variant's"
                       : ", " + std::to_string(n_diff) + " logits differ, by up to " + std::to_string(diff);
  }
  const double bpt = double(m.bytes_per_token());
  const double tgm = median(tg);
  std::printf("%-7s %8.2f GB %7.1f s load | tg%d %7.1f t/s (%5.0f GB/s) | pp%d %8.1f t/s | %s, %.1f GB on device%s\n",
              kind.c_str(), bpt * 1e-9, t_load, a.tg, tgm, tgm * bpt * 1e-9, a.pp,
              pp.empty() ? 0.0 : median(pp), be->device_name().c_str(), double(be->device_bytes_used()) * 1e-9,
              a.mvqo.size() > 1 ? (" [mvqo " + variant + same + "]").c_str() : "");
  if (!busy.empty())
    std::printf("        tg passes (medians of %zu, us): %.1f on the device, %.1f between; host: "
                "%.1f in vkQueueSubmit (or releasing a held pass), %.1f from a pass's return "
                "to the next submission (release)\n",
                busy.size(), median(busy), gap.empty() ? 0.0 : median(gap), median(submit),
                outside.empty() ? 0.0 : median(outside));
  if (!after[0].empty())
    std::printf("        pp%d after 8 tg tokens and 5 ms on the host (medians, ms): %.3f, or %.3f "
                "after Backend::idle\n", a.pp, median(after[0]), median(after[1]));
  if (!launch.empty())
    std::printf("        host clock against the device's: %.1f us from the submission (release) call to "
                "the pass's start, %.1f from its end to the host's wait returning\n",
                median(launch), median(detect));
  std::fflush(stdout);
  }
}

// Prints stage times (Backend::stage_times of the last forward) summed per pipeline
// combination, largest first.
void print_profile(const std::string& what, const std::vector<std::pair<std::string, double>>& st) {
  std::map<std::string, std::pair<double, int>> sum;
  double total = 0;
  for (const auto& [label, s] : st) {
    sum[label].first += s;
    sum[label].second += 1;
    total += s;
  }
  std::vector<std::pair<double, std::string>> rows;
  for (const auto& [label, v] : sum) rows.emplace_back(v.first, label);
  std::sort(rows.rbegin(), rows.rend());
  std::printf("\n%s: %.1f us in %zu stages\n", what.c_str(), total * 1e6, st.size());
  for (const auto& [s, label] : rows)
    std::printf("  %8.1f us %5.1f%%  x%-3d %s\n", s * 1e6, 100.0 * s / total, sum[label].second,
                label.c_str());
  std::fflush(stdout);
}

// The driver's statistics (registers ...) of the pipelines of the stages `st`, compiled
// again with the same tuning on a device of its own.
void print_pipeline_stats(const Args& a, petrel::vk::Tuning tu,
                          const std::vector<std::pair<std::string, double>>& st) {
  tu.pipeline_stats = true;
  tu.profile = false;
  petrel::vk::Ops o(a.device, &tu);
  if (!o.ctx().caps.pipeline_stats) {
    std::printf("\npipeline statistics: the device lacks VK_KHR_pipeline_executable_properties\n");
    return;
  }
  std::set<std::string> names;
  for (const auto& [label, s] : st) {
    std::stringstream ss(label);
    for (std::string n; std::getline(ss, n, '+');) names.insert(n);
  }
  std::printf("\npipeline statistics (driver):\n");
  for (const std::string& n : names) {
    const auto& p = o.pipes().get(n);
    std::printf("  %-22s spec %u/%u/%u:", n.c_str(), p.spec[0], p.spec[1], p.spec[2]);
    for (const std::string& s : o.pipes().statistics(n)) std::printf(" | %s", s.c_str());
    std::printf("\n");
  }
  std::fflush(stdout);
}

// Where decode attention's time goes: medians over layers and heads of the time between
// consecutive points of attn_fused_clk or attn_decode_clk (`decode`; device ns and SM
// cycles), and per layer the spread of the workgroups' starts and the span from the first
// start to the last end.
void print_attn_clocks(const std::vector<uint64_t>& c, int n_head, bool decode) {
  if (c.empty()) {
    std::printf("attention clocks: none (the device lacks VK_KHR_shader_clock)\n");
    return;
  }
  const size_t per = 32, heads = size_t(n_head), layers = c.size() / (heads * per);
  // the points of attn_fused_clk, or of attn_decode_clk (decode)
  static const char* const kFused[] = {"start", "q/k/v loaded, rotated", "barrier 1", "q4 + barrier 2",
                                       "cache store", "score (K loads)", "V requests", "wg_max",
                                       "wg_sum", "V sums", "tile barrier", "red_acc + barrier",
                                       "group sums", "q8 out"};
  static const char* const kDecode[] = {"start", "pos0 arrived", "q, fresh k rotated",
                                        "keys summed", "subgroups merged, barrier", "parts merged",
                                        "output"};
  const char* const* kPoint = decode ? kDecode : kFused;
  const size_t end = decode ? 6 : 13;
  auto med = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
  };
  std::printf("attention clocks (%zu layers x %zu heads; medians; ns | SM cycles since the point before):\n",
              layers, heads);
  for (size_t i = 1; i <= end; ++i) {
    std::vector<double> ns, cy;
    for (size_t l = 0; l < layers; ++l)
      for (size_t h = 0; h < heads; ++h) {
        const uint64_t* r = &c[(l * heads + h) * per];
        ns.push_back(double(int64_t(r[i] - r[i - 1])));
        cy.push_back(double(int64_t(r[16 + i] - r[16 + i - 1])));
      }
    std::printf("  %-24s %8.0f | %8.0f\n", kPoint[i], med(ns), med(cy));
  }
  std::vector<double> spread, span, total;
  for (size_t l = 0; l < layers; ++l) {
    uint64_t s0 = ~0ull, s1 = 0, e1 = 0;
    std::vector<double> tot;
    for (size_t h = 0; h < heads; ++h) {
      const uint64_t* r = &c[(l * heads + h) * per];
      s0 = std::min(s0, r[0]);
      s1 = std::max(s1, r[0]);
      e1 = std::max(e1, r[end]);
      tot.push_back(double(int64_t(r[end] - r[0])));
    }
    spread.push_back(double(s1 - s0));
    span.push_back(double(e1 - s0));
    total.push_back(med(tot));
  }
  std::printf("  a workgroup start to end %.0f ns; per layer: starts spread over %.0f ns, first start "
              "to last end %.0f ns\n", med(total), med(spread), med(span));
}

// GPU time of every stage of one decode step at position a.tg and of an a.pp-token prompt
// (timestamps after each barrier, Tuning::profile), for each --mvqo variant on one model.
void profile_model(const Args& a, const std::string& kind) {
  RandomModel m(kind, find_shape(a.shape), model_layers(a));
  const int n_vocab = m.w.hp.n_vocab;
  for (const std::string& variant : a.mvqo) {
    petrel::vk::Tuning tu = variant_tuning(a, variant);
    tu.profile = true;
    tu.attn_clocks = a.attn_clocks;
    if (a.mvq) tu.use_mvq = true;
    auto be = petrel::vk::Backend::create(m.w, a.device, a.tg + a.pp + 8, std::max(1, a.pp), &tu);
    std::vector<float> logits(static_cast<size_t>(n_vocab));
    for (int i = 0; i <= a.tg; ++i) {
      const int32_t tok = int32_t((i * 7919) % n_vocab);
      be->forward(&tok, 1, i, logits.data(), false);
    }
    const auto decode = be->stage_times();
    const std::string tag = a.mvqo.size() > 1 ? " [mvqo " + variant + "]" : "";
    print_profile("decode profile " + kind + " at position " + std::to_string(a.tg) + tag, decode);
    if (a.attn_clocks) {  // the points are those of the kernel the profile shows ran
      const bool dec = std::any_of(decode.begin(), decode.end(), [](const auto& st) {
        return st.first.find("attn_decode") != std::string::npos;
      });
      print_attn_clocks(be->attn_clocks(), m.w.hp.n_head, dec);
    }
    if (a.pipeline_stats) print_pipeline_stats(a, tu, decode);
    if (a.pp <= 0) continue;
    std::vector<int32_t> toks(size_t(a.pp));
    for (size_t i = 0; i < toks.size(); ++i) toks[i] = int32_t((i * 7919) % n_vocab);
    for (int r = 0; r < 2; ++r) be->forward(toks.data(), a.pp, 0, logits.data(), false);
    print_profile("prompt profile " + kind + ", " + std::to_string(a.pp) + " tokens" + tag, be->stage_times());
  }
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_vulkan: %s needs a value\n", s.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (s == "--device") a.device = std::atoi(next().c_str());
    else if (s == "--tg") a.tg = std::atoi(next().c_str());
    else if (s == "--pp") a.pp = std::atoi(next().c_str());
    else if (s == "--reps") a.reps = std::max(1, std::atoi(next().c_str()));
    else if (s == "--layers") a.layers = std::max(1, std::atoi(next().c_str()));
    else if (s == "--shape") a.shape = next();
    else if (s == "--pipeline-stats") a.pipeline_stats = true;
    else if (s == "--no-model") a.model = false;
    else if (s == "--no-sweep") a.sweep = false;
    else if (s == "--no-kernels") a.kernels = false;
    else if (s == "--mm-only") a.mm_only = true;
    else if (s == "--profile") a.profile = true;
    else if (s == "--pass-times") a.pass_times = true;
    else if (s == "--after-gen") a.after_gen = true;
    else if (s == "--mvq") a.mvq = true;
    else if (s == "--mvqo-sweep") a.mvqo_sweep = true;
    else if (s == "--grid-sync") a.grid_sync = true;
    else if (s == "--host-sync") a.host_sync = true;
    else if (s == "--smem-switch") a.smem_switch = true;
    else if (s == "--attn-clocks") a.attn_clocks = true;
    else if (s == "--mvqo") {
      a.mvqo.clear();
      std::stringstream ss(next());
      for (std::string t; std::getline(ss, t, ',');) a.mvqo.push_back(t);
    } else if (s == "--types") {
      a.types.clear();
      std::stringstream ss(next());
      for (std::string t; std::getline(ss, t, ',');) a.types.push_back(t);
    } else {
      std::fprintf(stderr, "usage: bench_vulkan [--device N] [--types q4_k_m,q8_0,q6_k] [--tg N] [--pp N] [--reps N] [--shape S] [--layers N] [--no-model] [--no-sweep] [--no-kernels] [--mm-only] [--profile [--mvq] [--pipeline-stats]] [--pass-times] [--after-gen] [--mvqo default,off,nof32x,noqkv,onewave,nobarrier[:MASK],twice:MASK,unroll:P/O[/G/X],noembedq8,nodirect,spin,nospin,ahead,noahead,directlogits,nodirectlogits,noattndec,attnwait,noattnwait,waitfirst,copy,half,nohalf,attnwg:N,WG/ROWS/GLU_ROWS,...] [--mvqo-sweep] [--grid-sync] [--host-sync] [--smem-switch] [--attn-clocks]\n");
      return 2;
    }
  }
  try {
    if (a.mm_only) {
      petrel::vk::Ops ops(a.device);
      std::printf("device: %s\n", ops.ctx().name.c_str());
      bench_prompt_matmul(a, ops, true);
      return 0;
    }
    if (a.kernels) bench_kernels(a);
    if (a.mvqo_sweep) bench_mvqo(a);
    if (a.grid_sync) bench_grid_sync(a);
    if (a.host_sync) bench_host_sync(a);
    if (a.smem_switch) bench_smem_switch(a);
    if (a.model) {
      const auto& sh = find_shape(a.shape);
      std::printf("\nmodel (%s shape, %d layers, vocab %u, random weights):\n", sh.name.c_str(),
                  model_layers(a), sh.n_vocab);
      for (const auto& k : a.types) bench_model(a, k);
    }
    if (a.profile)
      for (const auto& k : a.types) profile_model(a, k);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_vulkan: %s\n", e.what());
    return 1;
  }
  return 0;
}
