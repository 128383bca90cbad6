// Matrix products of quantized weights with f32 activations (OpenMP threads).
// Each activation row is quantized once to the weight type's vec_dot_type (Q8_0 for
// Q4_0/Q5_0/Q8_0, Q8_1 for Q4_1/Q5_1, Q8_K for the K-quants, F16/BF16 as is, F32 as is);
// then one token takes the matrix-vector path (rows split statically across threads,
// each weight row streamed once), and a batch takes the AVX-512 VNNI GEMM where available
// (each weight block unpacked once per row tile and reused for every token), else a
// row-blocked loop of vec_dot calls that keeps each weight row in L1 across tokens.
#include "kernels/matmul.h"

#include <omp.h>

#include <algorithm>
#include <string>

#include "gguf/error.h"
#include "kernels/isa.h"
#include "kernels/simd_gemm.h"

namespace petrel::kernels {
namespace {

constexpr size_t kAlign = 64;
constexpr int64_t kRowChunk = 16;  // rows per unit of work in the matrix-vector split
// The VNNI GEMM computes 16 tokens per zmm; below this batch the padding costs more than
// per-token dot products (measured with bench_kernels_cpu: crossover near 6 tokens).
constexpr int64_t kGemmMinTokens = 6;

const TypeTraits& traits_or_throw(const WeightView& w, const char* what) {
  const TypeTraits* t = type_traits(w.type);
  if (t == nullptr || t->vec_dot_ref == nullptr) {
    throw petrel::Error(std::string(what) + ": weight type id " +
                        std::to_string(static_cast<uint32_t>(w.type)) + " has no dot product");
  }
  if (w.n_in % t->block_elems != 0) {
    throw petrel::Error(std::string(what) + ": row length " + std::to_string(w.n_in) +
                        " is not a multiple of the " + t->name + " block (" +
                        std::to_string(t->block_elems) + ")");
  }
  return *t;
}

size_t act_row_bytes(const TypeTraits& t, int64_t n_in) {
  const TypeTraits* act = type_traits(t.vec_dot_type);
  return row_bytes(*act, n_in);
}

// [begin, end) of the rows of thread ith out of nth, in whole chunks.
void split_rows(int64_t n_rows, int ith, int nth, int64_t* begin, int64_t* end) {
  const int64_t chunks = (n_rows + kRowChunk - 1) / kRowChunk;
  const int64_t c0 = chunks * ith / nth, c1 = chunks * (ith + 1) / nth;
  *begin = std::min(n_rows, c0 * kRowChunk);
  *end = std::min(n_rows, c1 * kRowChunk);
}

}  // namespace

// Rows per dynamically scheduled matvec chunk: about kChunkBytes of weights, enough to
// keep the hardware prefetchers streaming, small enough to rebalance around a preempted
// thread.
constexpr size_t kChunkBytes = 256 * 1024;
static int64_t chunk_rows(size_t row_bytes) {
  return std::max<int64_t>(1, static_cast<int64_t>(kChunkBytes / std::max<size_t>(1, row_bytes)));
}

void* Workspace::get(size_t bytes, int slot) {
  if (static_cast<size_t>(slot) >= bufs_.size()) bufs_.resize(static_cast<size_t>(slot) + 1);
  std::vector<uint8_t>& b = bufs_[static_cast<size_t>(slot)];
  if (b.size() < bytes + kAlign) b.resize(bytes + kAlign);
  const auto p = reinterpret_cast<uintptr_t>(b.data());
  return reinterpret_cast<void*>((p + kAlign - 1) & ~(kAlign - 1));
}

void matmul(const WeightView& w, const float* x, int64_t n_tokens, float* y, Workspace& ws,
            int n_threads) {
  const TypeTraits& t = traits_or_throw(w, "matmul");
  const Isa isa = active_isa();
  const KernelSet k = kernels_for(w.type, isa);
  n_threads = std::max(1, n_threads);
  const auto* wdata = static_cast<const uint8_t*>(w.data);
  const int64_t n_in = w.n_in, n_out = w.n_out;

  // Activations in the vec_dot_type, one row per token.
  const size_t arow = k.quantize_act ? act_row_bytes(t, n_in) : static_cast<size_t>(n_in) * sizeof(float);
  const uint8_t* act = reinterpret_cast<const uint8_t*>(x);
  if (k.quantize_act != nullptr) {
    auto* qa = static_cast<uint8_t*>(ws.get(arow * static_cast<size_t>(n_tokens), 0));
    if (n_tokens < 4 || n_threads == 1) {
      for (int64_t i = 0; i < n_tokens; ++i) k.quantize_act(x + i * n_in, qa + arow * static_cast<size_t>(i), n_in);
    } else {
#pragma omp parallel for num_threads(n_threads) schedule(static)
      for (int64_t i = 0; i < n_tokens; ++i) k.quantize_act(x + i * n_in, qa + arow * static_cast<size_t>(i), n_in);
    }
    act = qa;
  }

  if (n_tokens == 1) {
    // Matrix-vector: rows in chunks of ~kChunkBytes handed out dynamically, so a thread
    // that is preempted (a busy machine) costs one chunk, not half the matrix.
    if (n_threads == 1) {
      for (int64_t r = 0; r < n_out; ++r) k.vec_dot(n_in, y + r, wdata + w.row_bytes * static_cast<size_t>(r), act);
      return;
    }
    const int64_t chunk = chunk_rows(w.row_bytes);
    const int64_t n_chunks = (n_out + chunk - 1) / chunk;
#pragma omp parallel for num_threads(n_threads) schedule(dynamic, 1)
    for (int64_t c = 0; c < n_chunks; ++c) {
      const int64_t r1 = std::min(n_out, (c + 1) * chunk);
      for (int64_t r = c * chunk; r < r1; ++r) k.vec_dot(n_in, y + r, wdata + w.row_bytes * static_cast<size_t>(r), act);
    }
    return;
  }

  if (isa == Isa::kAvx512 && n_tokens >= kGemmMinTokens && gemm_vnni_supports(w.type)) {
    gemm_vnni(w, act, arow, n_tokens, y, ws, n_threads);
    return;
  }

  // Generic batch: row chunks across threads; within a chunk every row meets every token
  // while it is hot in L1.
#pragma omp parallel num_threads(n_threads)
  {
    int64_t r0, r1;
    split_rows(n_out, omp_get_thread_num(), omp_get_num_threads(), &r0, &r1);
    for (int64_t r = r0; r < r1; ++r) {
      const uint8_t* wr = wdata + w.row_bytes * static_cast<size_t>(r);
      for (int64_t i = 0; i < n_tokens; ++i) k.vec_dot(n_in, y + i * n_out + r, wr, act + arow * static_cast<size_t>(i));
    }
  }
}

void matmul_multi(const WeightView* w, float* const* y, int count, const float* x,
                  int64_t n_tokens, Workspace& ws, int n_threads) {
  constexpr int kMaxMulti = 8;
  if (n_tokens != 1 || count > kMaxMulti || n_threads <= 1) {
    for (int j = 0; j < count; ++j) matmul(w[j], x, n_tokens, y[j], ws, n_threads);
    return;
  }
  const Isa isa = active_isa();
  KernelSet k[kMaxMulti];
  const uint8_t* act[kMaxMulti];
  for (int j = 0; j < count; ++j) {
    const TypeTraits& t = traits_or_throw(w[j], "matmul_multi");
    k[j] = kernels_for(w[j].type, isa);
    act[j] = reinterpret_cast<const uint8_t*>(x);
    // Reuse the activation of an earlier weight with the same format and row length.
    for (int i = 0; i < j && k[j].quantize_act; ++i)
      if (type_traits(w[i].type)->vec_dot_type == t.vec_dot_type && w[i].n_in == w[j].n_in) {
        act[j] = act[i];
        break;
      }
    if (k[j].quantize_act && act[j] == reinterpret_cast<const uint8_t*>(x)) {
      auto* qa = static_cast<uint8_t*>(ws.get(act_row_bytes(t, w[j].n_in), 16 + j));
      k[j].quantize_act(x, qa, w[j].n_in);
      act[j] = qa;
    }
  }
  // Chunks of ~kChunkBytes over the weights in turn, handed out dynamically.
  int64_t first_chunk[kMaxMulti + 1] = {0}, chunk[kMaxMulti];
  for (int j = 0; j < count; ++j) {
    chunk[j] = chunk_rows(w[j].row_bytes);
    first_chunk[j + 1] = first_chunk[j] + (w[j].n_out + chunk[j] - 1) / chunk[j];
  }
#pragma omp parallel for num_threads(n_threads) schedule(dynamic, 1)
  for (int64_t c = 0; c < first_chunk[count]; ++c) {
    int j = 0;
    while (c >= first_chunk[j + 1]) ++j;
    const int64_t r0 = (c - first_chunk[j]) * chunk[j], r1 = std::min(w[j].n_out, r0 + chunk[j]);
    const auto* wd = static_cast<const uint8_t*>(w[j].data);
    for (int64_t r = r0; r < r1; ++r)
      k[j].vec_dot(w[j].n_in, y[j] + r, wd + w[j].row_bytes * static_cast<size_t>(r), act[j]);
  }
}

void matmul_ref(const WeightView& w, const float* x, int64_t n_tokens, float* y) {
  const TypeTraits& t = traits_or_throw(w, "matmul_ref");
  const auto* wdata = static_cast<const uint8_t*>(w.data);
  const bool f32_act = t.vec_dot_type == Type::kF32;
  const size_t arow = f32_act ? static_cast<size_t>(w.n_in) * sizeof(float) : act_row_bytes(t, w.n_in);
  std::vector<uint8_t> qa(arow);
  const TypeTraits* act = type_traits(t.vec_dot_type);
  for (int64_t i = 0; i < n_tokens; ++i) {
    const float* xi = x + i * w.n_in;
    const void* a = xi;
    if (!f32_act) {
      act->quantize_row_ref(xi, qa.data(), w.n_in);
      a = qa.data();
    }
    for (int64_t r = 0; r < w.n_out; ++r) {
      t.vec_dot_ref(w.n_in, y + i * w.n_out + r, wdata + w.row_bytes * static_cast<size_t>(r), a);
    }
  }
}

void dequantize_row(const WeightView& w, int64_t row, float* dst) {
  const TypeTraits* t = type_traits(w.type);
  if (t == nullptr || t->dequantize_row_ref == nullptr) {
    throw petrel::Error("dequantize_row: unsupported weight type id " +
                        std::to_string(static_cast<uint32_t>(w.type)));
  }
  if (row < 0 || row >= w.n_out) {
    throw petrel::Error("dequantize_row: row " + std::to_string(row) + " out of range [0, " +
                        std::to_string(w.n_out) + ")");
  }
  t->dequantize_row_ref(static_cast<const uint8_t*>(w.data) + w.row_bytes * static_cast<size_t>(row), dst, w.n_in);
}

}  // namespace petrel::kernels
