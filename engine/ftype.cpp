// File types and llama.cpp's per-tensor type choice (llama_tensor_get_type in llama.cpp's
// quantizer, restricted to the file types Petrel writes).
#include "engine/ftype.h"

#include <algorithm>
#include <cctype>
#include <exception>
#include <mutex>
#include <thread>

#include "gguf/error.h"
#include "gguf/ggml_types.h"

namespace petrel::tools {
namespace {

using gguf::GgmlType;

constexpr uint32_t id(GgmlType t) { return static_cast<uint32_t>(t); }
constexpr uint64_t kQKK = 256;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

bool is_quantized(uint32_t type) {
  return type != id(GgmlType::kF32) && type != id(GgmlType::kF16) && type != id(GgmlType::kBF16);
}

uint32_t block_elems(uint32_t type) { return gguf::ggml_type_info(type)->block_elems; }

// A row of ne0 elements that does not divide into `type` blocks takes a related type.
uint32_t fall_back(uint32_t type, uint64_t ne0) {
  if (ne0 % block_elems(type) == 0) return type;
  switch (static_cast<GgmlType>(type)) {
    case GgmlType::kQ4_K:
      type = id(GgmlType::kQ5_0);
      break;
    case GgmlType::kQ5_K:
      type = id(GgmlType::kQ5_1);
      break;
    case GgmlType::kQ6_K:
      type = id(GgmlType::kQ8_0);
      break;
    default:
      type = id(GgmlType::kF16);
      break;
  }
  if (ne0 % block_elems(type) != 0) type = id(GgmlType::kF16);
  return type;
}

}  // namespace

const std::vector<Ftype>& all_ftypes() {
  static const std::vector<Ftype> k = {
      {"Q4_K_M", id(GgmlType::kQ4_K), 15, true}, {"Q5_K_M", id(GgmlType::kQ5_K), 17, true},
      {"Q6_K", id(GgmlType::kQ6_K), 18, false},  {"Q8_0", id(GgmlType::kQ8_0), 7, false},
      {"Q4_0", id(GgmlType::kQ4_0), 2, false},   {"Q5_0", id(GgmlType::kQ5_0), 8, false},
      {"F16", id(GgmlType::kF16), 1, false},     {"BF16", id(GgmlType::kBF16), 32, false},
  };
  return k;
}

const Ftype& find_ftype(const std::string& name) {
  std::string upper = name;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::string valid;
  for (const Ftype& f : all_ftypes()) {
    if (upper == f.name) return f;
    valid += valid.empty() ? "" : ", ";
    valid += f.name;
  }
  throw Error("unknown model type '" + name + "' (expected one of " + valid + ")");
}

bool is_quantizable(const TensorDesc& t) {
  size_t n_dims = t.ne.size();
  while (n_dims > 1 && t.ne[n_dims - 1] == 1) --n_dims;  // trailing 1s do not count
  return ends_with(t.name, "weight") && n_dims >= 2 && !contains(t.name, "_norm.weight") &&
         !contains(t.name, "ffn_gate_inp.weight");
}

bool use_more_bits(int i_layer, int n_layers) {
  return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

std::vector<uint32_t> choose_tensor_types(const Ftype& ftype,
                                          const std::vector<TensorDesc>& tensors) {
  bool has_output = false;
  int n_attn_v = 0, n_ffn_down = 0;
  for (const TensorDesc& t : tensors) {
    if (t.name == "output.weight") has_output = true;
    if (!is_quantizable(t)) continue;
    if (contains(t.name, "attn_v.weight")) ++n_attn_v;
    if (contains(t.name, "ffn_down")) ++n_ffn_down;
  }
  const bool quantized = is_quantized(ftype.base_type);
  int i_attn_v = 0, i_ffn_down = 0;
  std::vector<uint32_t> types;
  types.reserve(tensors.size());
  for (const TensorDesc& t : tensors) {
    if (!is_quantizable(t)) {
      types.push_back(id(GgmlType::kF32));
      continue;
    }
    uint32_t type = ftype.base_type;
    const uint64_t ne0 = t.ne[0];
    if (!quantized) {
      types.push_back(type);  // F16 / BF16: every weight as is
      continue;
    }
    if (t.name == "output.weight" || (!has_output && t.name == "token_embd.weight")) {
      if (ne0 % kQKK != 0) {
        type = id(GgmlType::kQ8_0);
      } else if (type != id(GgmlType::kQ8_0)) {
        type = id(GgmlType::kQ6_K);
      }
    } else if (contains(t.name, "attn_v.weight")) {
      if (ftype.k_mixed && use_more_bits(i_attn_v, n_attn_v)) type = id(GgmlType::kQ6_K);
      ++i_attn_v;
    } else if (contains(t.name, "ffn_down")) {
      if (ftype.k_mixed && use_more_bits(i_ffn_down, n_ffn_down)) type = id(GgmlType::kQ6_K);
      ++i_ffn_down;
    } else if (contains(t.name, "attn_qkv.weight") && ftype.k_mixed) {
      type = ftype.base_type == id(GgmlType::kQ4_K) ? id(GgmlType::kQ5_K) : id(GgmlType::kQ6_K);
    }
    types.push_back(fall_back(type, ne0));
  }
  return types;
}

int resolve_threads(int requested) {
  if (requested > 0) return requested;
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

void parallel_rows(uint64_t n_rows, uint64_t row_elems, int n_threads,
                   const std::function<void(uint64_t begin, uint64_t end)>& fn) {
  constexpr uint64_t kMinElemsPerThread = 1 << 16;  // below this a thread costs more than it saves
  const uint64_t total = n_rows * std::max<uint64_t>(row_elems, 1);
  uint64_t n = std::min<uint64_t>(static_cast<uint64_t>(std::max(1, n_threads)),
                                  std::max<uint64_t>(1, total / kMinElemsPerThread));
  n = std::min<uint64_t>(n, std::max<uint64_t>(n_rows, 1));
  if (n <= 1) {
    fn(0, n_rows);
    return;
  }
  std::exception_ptr error;
  std::mutex error_mutex;
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (uint64_t t = 0; t < n; ++t) {
    const uint64_t begin = n_rows * t / n, end = n_rows * (t + 1) / n;
    threads.emplace_back([&, begin, end] {
      try {
        fn(begin, end);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
      }
    });
  }
  for (std::thread& th : threads) th.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace petrel::tools
