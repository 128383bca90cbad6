// References for the generation tests, written the plain way: ranked logits by a full sort,
// and what petrel::generate produces when every step samples from all the logits.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "petrel/petrel.h"

namespace petrel::test {

// The min(k, n) largest of l[0..n) with their ids, ranked by logit descending then id
// ascending, by sorting all of them.
inline std::vector<std::pair<float, TokenId>> ranked_logits(const float* l, int n, size_t k) {
  std::vector<std::pair<float, TokenId>> c;
  for (int i = 0; i < n; ++i) c.push_back({l[i], i});
  std::sort(c.begin(), c.end(), [](const auto& a, const auto& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  });
  c.resize(std::min(c.size(), k));
  return c;
}

inline std::vector<TokenId> reference_generate(Model& model, Session& session,
                                               const std::vector<TokenId>& prompt,
                                               const SamplingParams& sp, int n_predict) {
  Sampler sampler(sp);
  std::vector<TokenId> history(prompt), out;
  session.eval(prompt);
  for (int i = 0; i < n_predict; ++i) {
    const TokenId id = sampler.sample(session.logits(), model.n_vocab(), history);
    if (model.is_eog(id)) break;
    out.push_back(id);
    history.push_back(id);
    if (i + 1 == n_predict || session.n_past() >= session.n_ctx()) break;
    session.eval({id});
  }
  return out;
}

// Sampling settings that take each of generate's paths: greedy (argmax), top-k candidates
// with and without penalties, greedy with penalties, and every logit (a penalty that raises).
inline std::vector<SamplingParams> generate_paths() {
  std::vector<SamplingParams> v(5);
  v[0].temperature = 0;
  v[1].seed = 3;  // the defaults: top-k 40, top-p, min-p
  v[2].seed = 4;
  v[2].temperature = 1.5f;
  v[2].repeat_penalty = 1.3f, v[2].presence_penalty = 0.2f, v[2].frequency_penalty = 0.1f;
  v[3].temperature = 0;
  v[3].repeat_penalty = 1.5f;
  v[4].seed = 5;
  v[4].repeat_penalty = 0.9f;
  return v;
}

// generate on each of its paths (generate_paths) against reference_generate, each from a
// fresh session with options so, prompt {1, 5, 9}.
inline void expect_generate_paths_match(Model& model, const SessionOptions& so, int n_predict) {
  const auto paths = generate_paths();
  for (size_t path = 0; path < paths.size(); ++path) {
    const SamplingParams& sp = paths[path];
    auto s1 = Session::create(model, so), s2 = Session::create(model, so);
    GenerateOptions go;
    go.n_predict = n_predict;
    go.sampling = sp;
    EXPECT_EQ(generate(model, *s1, {1, 5, 9}, go).tokens,
              reference_generate(model, *s2, {1, 5, 9}, sp, n_predict))
        << "sampling settings " << path;
  }
}

}  // namespace petrel::test
