// Benchmark argument helpers: comma-separated lists (llama-bench style: `-p 128,512` or
// `-p 128 -p 512`) and the cross product of models x threads x tests. Header-only.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "gguf/error.h"

namespace petrel::bench {

// Splits each item on ',' and trims spaces; empty pieces are dropped.
inline std::vector<std::string> split_list(const std::vector<std::string>& items) {
  std::vector<std::string> out;
  for (const auto& item : items) {
    size_t start = 0;
    while (start <= item.size()) {
      size_t end = item.find(',', start);
      if (end == std::string::npos) end = item.size();
      std::string piece = item.substr(start, end - start);
      const size_t a = piece.find_first_not_of(" \t");
      const size_t b = piece.find_last_not_of(" \t");
      if (a != std::string::npos) out.push_back(piece.substr(a, b - a + 1));
      start = end + 1;
    }
  }
  return out;
}

// Parses a list of non-negative integers ("512,1024"); throws Error naming `what` and the
// bad piece.
inline std::vector<int> parse_int_list(const std::vector<std::string>& items,
                                       const std::string& what) {
  std::vector<int> out;
  for (const auto& piece : split_list(items)) {
    size_t used = 0;
    long v = -1;
    try {
      v = std::stol(piece, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != piece.size() || v < 0 || v > (1L << 30))
      throw Error(what + ": '" + piece + "' is not a non-negative integer");
    out.push_back(static_cast<int>(v));
  }
  return out;
}

enum class TestKind { kPrompt, kGen };

// One model benchmark case: ppN (N tokens as one batch into an empty cache) or tgN (N
// single-token evals starting from an empty cache).
struct ModelTest {
  std::string model;  // path (or synthetic label)
  int threads = 0;    // 0: all cores
  TestKind kind = TestKind::kPrompt;
  int n_tokens = 0;
  std::string name() const {
    return (kind == TestKind::kPrompt ? "pp" : "tg") + std::to_string(n_tokens);
  }
};

// models x threads x (pp tests then tg tests), in that nesting order; n = 0 entries are
// skipped. Duplicates in a list are kept (the user asked for them).
inline std::vector<ModelTest> cross_product(const std::vector<std::string>& models,
                                            const std::vector<int>& n_prompt,
                                            const std::vector<int>& n_gen,
                                            const std::vector<int>& threads) {
  std::vector<ModelTest> out;
  for (const auto& m : models)
    for (int t : threads) {
      for (int p : n_prompt)
        if (p > 0) out.push_back({m, t, TestKind::kPrompt, p});
      for (int g : n_gen)
        if (g > 0) out.push_back({m, t, TestKind::kGen, g});
    }
  return out;
}

}  // namespace petrel::bench
