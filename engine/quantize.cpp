// `petrel quantize`: reads an F32/F16/BF16 model and writes it in a llama.cpp file type
// (per-tensor types from engine/ftype.h), converting rows on several threads straight
// into the writer's buffer, one tensor at a time.
#include <string>
#include <vector>

#include "engine/ftype.h"
#include "gguf/error.h"
#include "gguf/gguf.h"
#include "gguf/writer.h"
#include "kernels/types.h"
#include "petrel/tools.h"

namespace petrel::tools {
namespace {

constexpr uint32_t kQuantizationVersion = 2;  // ggml's current block layouts
constexpr uint64_t kAlignment = 32;

bool is_float_type(uint32_t type) {
  return type == static_cast<uint32_t>(kernels::Type::kF32) ||
         type == static_cast<uint32_t>(kernels::Type::kF16) ||
         type == static_cast<uint32_t>(kernels::Type::kBF16);
}

const kernels::TypeTraits& traits_or_throw(uint32_t type, const std::string& what) {
  const kernels::TypeTraits* t = kernels::type_traits(type);
  if (t == nullptr || t->quantize_row_ref == nullptr)
    throw Error(what + ": no quantizer for type " + gguf::ggml_type_name(type));
  return *t;
}

// Converts n_rows rows of ne0 elements from src (type `from`) to dst (type `to`).
void convert_rows(const kernels::TypeTraits& from, const uint8_t* src,
                  const kernels::TypeTraits& to, uint8_t* dst, uint64_t ne0, uint64_t n_rows,
                  int n_threads) {
  const auto n = static_cast<int64_t>(ne0);
  const size_t src_row = kernels::row_bytes(from, n);
  const size_t dst_row = kernels::row_bytes(to, n);
  parallel_rows(n_rows, ne0, n_threads, [&](uint64_t begin, uint64_t end) {
    std::vector<float> row(ne0);
    for (uint64_t r = begin; r < end; ++r) {
      from.dequantize_row_ref(src + r * src_row, row.data(), n);
      to.quantize_row_ref(row.data(), dst + r * dst_row, n);
    }
  });
}

}  // namespace

std::vector<std::string> quantize_ftypes() {
  std::vector<std::string> names;
  for (const Ftype& f : all_ftypes()) names.emplace_back(f.name);
  return names;
}

void quantize_model(const std::string& in_path, const std::string& out_path,
                    const QuantizeOptions& opt) {
  const Ftype& ftype = find_ftype(opt.ftype);
  const auto file = gguf::File::open(in_path);
  const std::vector<gguf::TensorInfo>& tensors = file->tensors();

  std::vector<TensorDesc> descs;
  descs.reserve(tensors.size());
  for (const gguf::TensorInfo& t : tensors) {
    if (!is_float_type(t.type))
      throw Error(in_path + ": tensor '" + t.name + "' is " + gguf::ggml_type_name(t.type) +
                  "; quantize needs a model whose tensors are F32, F16 or BF16");
    descs.push_back({t.name, t.ne});
  }
  const std::vector<uint32_t> types = choose_tensor_types(ftype, descs);

  gguf::Writer writer(kAlignment);
  writer.copy_metadata(*file);
  writer.set_u32("general.quantization_version", kQuantizationVersion);
  writer.set_u32("general.file_type", ftype.file_type);

  const int n_threads = resolve_threads(opt.n_threads);
  const size_t n_tensors = tensors.size();
  for (size_t i = 0; i < n_tensors; ++i) {
    const gguf::TensorInfo& t = tensors[i];
    const std::string what = in_path + ": tensor '" + t.name + "'";
    const kernels::TypeTraits& from = traits_or_throw(t.type, what);
    const kernels::TypeTraits& to = traits_or_throw(types[i], what);
    writer.add_tensor(t.name, types[i], t.ne,
                      [&opt, &t, &from, &to, i, n_tensors, n_threads](uint8_t* dst, uint64_t) {
                        convert_rows(from, t.data, to, dst, t.ne[0], t.rows(), n_threads);
                        if (opt.progress) opt.progress(i + 1, n_tensors, t.name + " " + to.name);
                      });
  }
  writer.write(out_path);
}

}  // namespace petrel::tools
