// SPIR-V of every shader variant, compiled from shaders/*.comp at build time and embedded
// by shaders/shaders.cmake (the generated file defines find_spirv).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace petrel::vk {

struct Spirv {
  const char* name;
  const uint32_t* words;
  size_t n_words;
};

// The embedded module named `name` (e.g. "mul_mv_q4_k"), or nullptr.
const Spirv* find_spirv(std::string_view name);

}  // namespace petrel::vk
