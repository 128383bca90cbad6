// Runtime ISA detection (CPUID + XGETBV) and the (block type x ISA) kernel table.
// Block layouts: see blocks.h; each table entry names a vec_dot of one weight type against
// its activation format (Q8_0, Q8_1, Q8_K, F16, BF16 or F32) and that format's quantizer.
#include "kernels/isa.h"

#include <cpuid.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "kernels/ref.h"
#include "kernels/simd_kernels.h"

namespace petrel::kernels {
namespace {

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
  bool avx512vnni = false, avx512bf16 = false;
  bool os_avx = false, os_avx512 = false;
};

uint64_t read_xcr0() {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

CpuFeatures query_cpu() {
  CpuFeatures f;
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = (c >> 27) & 1;
  f.fma = (c >> 12) & 1;
  f.f16c = (c >> 29) & 1;
  const bool avx = (c >> 28) & 1;
  if (osxsave && avx) {
    const uint64_t xcr0 = read_xcr0();
    f.os_avx = (xcr0 & 0x6) == 0x6;
    f.os_avx512 = (xcr0 & 0xe6) == 0xe6;
  }
  if (__get_cpuid_max(0, nullptr) >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    f.avx2 = (b >> 5) & 1;
    f.avx512f = (b >> 16) & 1;
    f.avx512dq = (b >> 17) & 1;
    f.avx512bw = (b >> 30) & 1;
    f.avx512vl = (b >> 31) & 1;
    f.avx512vnni = (c >> 11) & 1;
    const unsigned max_sub = a;
    if (max_sub >= 1) {
      __cpuid_count(7, 1, a, b, c, d);
      f.avx512bf16 = (a >> 5) & 1;
    }
  }
  return f;
}

const CpuFeatures& cpu() {
  static const CpuFeatures f = query_cpu();
  return f;
}

bool supports(Isa isa) {
  const CpuFeatures& f = cpu();
  const bool avx2 = f.os_avx && f.avx2 && f.fma && f.f16c;
  switch (isa) {
    case Isa::kScalar: return true;
    case Isa::kAvx2: return avx2;
    case Isa::kAvx512:
      return avx2 && f.os_avx512 && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.avx512vnni;
  }
  return false;
}

Isa isa_from_env(Isa best) {
  const char* env = std::getenv("PETREL_ISA");
  if (env == nullptr) return best;
  Isa want = best;
  if (std::strcmp(env, "scalar") == 0) want = Isa::kScalar;
  else if (std::strcmp(env, "avx2") == 0) want = Isa::kAvx2;
  else if (std::strcmp(env, "avx512") == 0) want = Isa::kAvx512;
  // A request the CPU cannot honour falls back to the best available.
  return supports(want) ? want : best;
}

std::atomic<int>& active_slot() {
  static std::atomic<int> slot{static_cast<int>(isa_from_env(detect_isa()))};
  return slot;
}

KernelSet ref_set(Type type) {
  const TypeTraits* t = type_traits(type);
  if (t == nullptr || t->vec_dot_ref == nullptr) return {nullptr, nullptr, true};
  const TypeTraits* act = type_traits(t->vec_dot_type);
  QuantizeRowFn q = (t->vec_dot_type == Type::kF32 || act == nullptr) ? nullptr : act->quantize_row_ref;
  return {t->vec_dot_ref, q, true};
}

KernelSet avx2_set(Type type) {
  const KernelSet r = ref_set(type);
  VecDotFn dot = nullptr;
  switch (type) {
    case Type::kF32: dot = vec_dot_f32_f32_avx2; break;
    case Type::kF16: dot = vec_dot_f16_f16_avx2; break;
    case Type::kBF16: dot = vec_dot_bf16_bf16_avx2; break;
    case Type::kQ4_0: dot = vec_dot_q4_0_q8_0_avx2; break;
    case Type::kQ4_1: dot = vec_dot_q4_1_q8_1_avx2; break;
    case Type::kQ5_0: dot = vec_dot_q5_0_q8_0_avx2; break;
    case Type::kQ5_1: dot = vec_dot_q5_1_q8_1_avx2; break;
    case Type::kQ8_0: dot = vec_dot_q8_0_q8_0_avx2; break;
    case Type::kQ4_K: dot = vec_dot_q4_k_q8_k_avx2; break;
    case Type::kQ5_K: dot = vec_dot_q5_k_q8_k_avx2; break;
    case Type::kQ6_K: dot = vec_dot_q6_k_q8_k_avx2; break;
    default: return r;
  }
  return {dot, r.quantize_act, false};
}

QuantizeRowFn avx512_quantizer(Type act, QuantizeRowFn fallback) {
  switch (act) {
    case Type::kQ8_0: return quantize_row_q8_0_avx512;
    case Type::kQ8_1: return quantize_row_q8_1_avx512;
    case Type::kQ8_K: return quantize_row_q8_k_avx512;
    case Type::kF16: return quantize_row_f16_avx512;
    default: return fallback;
  }
}

KernelSet avx512_set(Type type) {
  const KernelSet r = ref_set(type);
  VecDotFn dot = nullptr;
  switch (type) {
    case Type::kF32: dot = vec_dot_f32_f32_avx512; break;
    case Type::kF16: dot = vec_dot_f16_f16_avx512; break;
    case Type::kBF16:
      dot = cpu().avx512bf16 ? vec_dot_bf16_bf16_avx512 : vec_dot_bf16_bf16_avx512_nobf16;
      break;
    case Type::kQ4_0: dot = vec_dot_q4_0_q8_0_avx512; break;
    case Type::kQ4_1: dot = vec_dot_q4_1_q8_1_avx512; break;
    case Type::kQ5_0: dot = vec_dot_q5_0_q8_0_avx512; break;
    case Type::kQ5_1: dot = vec_dot_q5_1_q8_1_avx512; break;
    case Type::kQ8_0: dot = vec_dot_q8_0_q8_0_avx512; break;
    case Type::kQ4_K: dot = vec_dot_q4_k_q8_k_avx512; break;
    case Type::kQ5_K: dot = vec_dot_q5_k_q8_k_avx512; break;
    case Type::kQ6_K: dot = vec_dot_q6_k_q8_k_avx512; break;
    default: return r;
  }
  const TypeTraits* t = type_traits(type);
  const QuantizeRowFn q = r.quantize_act == nullptr ? nullptr : avx512_quantizer(t->vec_dot_type, r.quantize_act);
  return {dot, q, false};
}

constexpr Type kWeightTypes[] = {Type::kF32,  Type::kF16,  Type::kBF16, Type::kQ4_0,
                                 Type::kQ4_1, Type::kQ5_0, Type::kQ5_1, Type::kQ8_0,
                                 Type::kQ4_K, Type::kQ5_K, Type::kQ6_K};

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
  }
  return "?";
}

Isa detect_isa() {
  if (supports(Isa::kAvx512)) return Isa::kAvx512;
  if (supports(Isa::kAvx2)) return Isa::kAvx2;
  return Isa::kScalar;
}

Isa active_isa() { return static_cast<Isa>(active_slot().load(std::memory_order_relaxed)); }

bool set_active_isa(Isa isa) {
  if (!supports(isa)) return false;
  active_slot().store(static_cast<int>(isa), std::memory_order_relaxed);
  return true;
}

KernelSet kernels_for(Type type, Isa isa) {
  if (!supports(isa)) isa = detect_isa();
  switch (isa) {
    case Isa::kAvx512: return avx512_set(type);
    case Isa::kAvx2: return avx2_set(type);
    case Isa::kScalar: break;
  }
  return ref_set(type);
}

std::string kernel_table_report() {
  std::string out = "cpu kernels: detected " + std::string(isa_name(detect_isa())) + ", active " +
                    isa_name(active_isa()) + (cpu().avx512bf16 ? " (avx512_bf16)" : "") + "\n";
  for (Type type : kWeightTypes) {
    const TypeTraits* t = type_traits(type);
    const TypeTraits* act = t ? type_traits(t->vec_dot_type) : nullptr;
    out += "  ";
    out += t ? t->name : "?";
    out += " x ";
    out += act ? act->name : "?";
    out += ":";
    for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
      out += " ";
      out += isa_name(isa);
      if (!supports(isa)) {
        out += "=unavailable";
        continue;
      }
      const KernelSet k = kernels_for(type, isa);
      out += k.vec_dot == nullptr ? "=missing" : (k.is_reference ? "=reference" : "=simd");
    }
    out += "\n";
  }
  return out;
}

}  // namespace petrel::kernels
