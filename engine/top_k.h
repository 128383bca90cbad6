// The k largest of n logits with their ids, ranked by logit descending then id ascending
// (the sampler's candidate order), in one pass with a heap of the best k so far.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace petrel {

inline bool ranks_before(const std::pair<float, int32_t>& a, const std::pair<float, int32_t>& b) {
  return a.first > b.first || (a.first == b.first && a.second < b.second);
}

// out = the top min(k, n) of l[0..n), ranked. NaN logits are never taken after the first k.
inline void top_k_of(const float* l, size_t n, size_t k, std::vector<std::pair<float, int32_t>>& out) {
  k = std::min(k, n);
  out.resize(k);
  for (size_t i = 0; i < k; ++i) out[i] = {l[i], int32_t(i)};
  if (k == 0) return;
  // the worst of the best k on top: a later id must beat its logit strictly (on equal
  // logits the earlier id ranks first)
  std::make_heap(out.begin(), out.end(), ranks_before);
  float worst = out.front().first;
  for (size_t i = k; i < n; ++i) {
    if (!(l[i] > worst)) continue;
    std::pop_heap(out.begin(), out.end(), ranks_before);
    out.back() = {l[i], int32_t(i)};
    std::push_heap(out.begin(), out.end(), ranks_before);
    worst = out.front().first;
  }
  std::sort(out.begin(), out.end(), ranks_before);
}

}  // namespace petrel
