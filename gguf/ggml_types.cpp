// The ggml type table: block geometry of every type id ggml defines, as stored in GGUF
// files (elements per block, bytes per block), and whether Petrel computes with it.
// Geometry follows ggml's block structs, e.g. Q4_K = { half d, dmin; u8 scales[12];
// u8 qs[128]; } = 144 bytes per 256 elements.
#include "gguf/ggml_types.h"

#include <array>

namespace petrel::gguf {
namespace {

// Ids 4 and 5 (old Q4_2/Q4_3) and 31..33 (removed Q4_0_4_4 etc.) are no longer defined.
constexpr uint32_t kNumIds = 36;

struct Entry {
  bool defined;
  GgmlTypeInfo info;
};

constexpr std::array<Entry, kNumIds> make_table() {
  std::array<Entry, kNumIds> t{};
  auto set = [&t](GgmlType id, const char* name, uint32_t elems, uint32_t bytes, bool sup) {
    t[static_cast<uint32_t>(id)] = Entry{true, GgmlTypeInfo{name, elems, bytes, sup}};
  };
  set(GgmlType::kF32, "F32", 1, 4, true);
  set(GgmlType::kF16, "F16", 1, 2, true);
  set(GgmlType::kQ4_0, "Q4_0", 32, 18, true);
  set(GgmlType::kQ4_1, "Q4_1", 32, 20, true);
  set(GgmlType::kQ5_0, "Q5_0", 32, 22, true);
  set(GgmlType::kQ5_1, "Q5_1", 32, 24, true);
  set(GgmlType::kQ8_0, "Q8_0", 32, 34, true);
  set(GgmlType::kQ8_1, "Q8_1", 32, 36, false);
  set(GgmlType::kQ2_K, "Q2_K", 256, 84, false);
  set(GgmlType::kQ3_K, "Q3_K", 256, 110, false);
  set(GgmlType::kQ4_K, "Q4_K", 256, 144, true);
  set(GgmlType::kQ5_K, "Q5_K", 256, 176, true);
  set(GgmlType::kQ6_K, "Q6_K", 256, 210, true);
  set(GgmlType::kQ8_K, "Q8_K", 256, 292, true);
  set(GgmlType::kIQ2_XXS, "IQ2_XXS", 256, 66, false);
  set(GgmlType::kIQ2_XS, "IQ2_XS", 256, 74, false);
  set(GgmlType::kIQ3_XXS, "IQ3_XXS", 256, 98, false);
  set(GgmlType::kIQ1_S, "IQ1_S", 256, 50, false);
  set(GgmlType::kIQ4_NL, "IQ4_NL", 32, 18, false);
  set(GgmlType::kIQ3_S, "IQ3_S", 256, 110, false);
  set(GgmlType::kIQ2_S, "IQ2_S", 256, 82, false);
  set(GgmlType::kIQ4_XS, "IQ4_XS", 256, 136, false);
  set(GgmlType::kI8, "I8", 1, 1, false);
  set(GgmlType::kI16, "I16", 1, 2, false);
  set(GgmlType::kI32, "I32", 1, 4, false);
  set(GgmlType::kI64, "I64", 1, 8, false);
  set(GgmlType::kF64, "F64", 1, 8, false);
  set(GgmlType::kIQ1_M, "IQ1_M", 256, 56, false);
  set(GgmlType::kBF16, "BF16", 1, 2, true);
  set(GgmlType::kTQ1_0, "TQ1_0", 256, 54, false);
  set(GgmlType::kTQ2_0, "TQ2_0", 256, 66, false);
  return t;
}

constexpr std::array<Entry, kNumIds> kTable = make_table();

}  // namespace

const GgmlTypeInfo* ggml_type_info(uint32_t type_id) {
  if (type_id >= kNumIds || !kTable[type_id].defined) return nullptr;
  return &kTable[type_id].info;
}

std::string ggml_type_name(uint32_t type_id) {
  const GgmlTypeInfo* info = ggml_type_info(type_id);
  if (info == nullptr) return "unknown type " + std::to_string(type_id);
  return info->name;
}

}  // namespace petrel::gguf
