// Runtime ISA selection and the (block type x ISA) kernel table. Resolved once from
// CPUID; PETREL_ISA=scalar|avx2|avx512 forces a path (never one the CPU lacks). A missing
// entry falls back to the scalar reference, and kernel_table_report() says so.
#pragma once
#include <string>

#include "kernels/types.h"

namespace petrel::kernels {

enum class Isa { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };
const char* isa_name(Isa isa);

// Best ISA this CPU supports (ignores PETREL_ISA).
Isa detect_isa();
// ISA in use: PETREL_ISA if set and supported, else detect_isa(). Cached after first call.
Isa active_isa();
// Overrides the active ISA (tests use this to run every path); returns false if the CPU
// cannot run it.
bool set_active_isa(Isa isa);

// Kernels for one weight type on one ISA.
struct KernelSet {
  VecDotFn vec_dot;           // weight row . activation row (vec_dot_type)
  QuantizeRowFn quantize_act; // f32 activations -> vec_dot_type (nullptr: take f32 as is)
  bool is_reference;          // true if these are the scalar fallbacks
};
// Kernels for `type` on `isa` (falls back to the reference, visibly via is_reference).
KernelSet kernels_for(Type type, Isa isa);
inline KernelSet kernels_for(Type type) { return kernels_for(type, active_isa()); }

// One line per (type, ISA): which entries are SIMD and which fall back.
std::string kernel_table_report();

}  // namespace petrel::kernels
