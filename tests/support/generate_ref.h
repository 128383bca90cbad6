// What petrel::generate produces, written the plain way for tests to compare against: every
// step evaluates into the session's logits and samples from all of them (no stop strings).
#pragma once
#include <vector>

#include "petrel/petrel.h"

namespace petrel::test {

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

}  // namespace petrel::test
