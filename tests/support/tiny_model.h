// A tiny synthetic model (`petrel synth --shape tiny`: 4 layers, n_embd 256) for engine
// tests that need no ../shared. Header-only: tests/support's library does not link the
// engine, the tests that include this do.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

#include "petrel/tools.h"
#include "tests/support/test_env.h"

namespace petrel::test {

// Path of a tiny model in `ftype` (Q8_0, Q4_K_M, ...) made with `seed`, written once per
// test process into temp_dir().
inline std::string tiny_model(const std::string& ftype, uint64_t seed) {
  const std::string path =
      temp_dir() + "/tiny-" + ftype + "-seed" + std::to_string(seed) + ".gguf";
  if (!std::filesystem::exists(path)) {
    tools::SynthOptions o;
    o.shape = "tiny";
    o.ftype = ftype;
    o.out_path = path;
    o.seed = seed;
    tools::synth_model(o);
  }
  return path;
}

}  // namespace petrel::test
