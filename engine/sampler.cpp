// Token sampling: penalties, then top-k, top-p, min-p on the distribution, temperature,
// and a seeded draw (llama.cpp's default order). temperature <= 0 is greedy argmax.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <unordered_map>

#include "engine/top_k.h"
#include "petrel/petrel.h"

namespace petrel {

struct Sampler::Impl {
  SamplingParams p;
  std::mt19937_64 rng;
  std::vector<std::pair<float, TokenId>> cand;  // (logit, id), reused
  std::vector<float> work;
  std::vector<float> pr;  // probabilities of the kept candidates, reused
  std::unordered_map<TokenId, int> count;  // the penalty window's tokens, reused

  bool penalize() const {
    return p.repeat_penalty != 1.0f || p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f;
  }
  // count = the tokens of the last repeat_last_n of history, with how often each occurs
  void window(const std::vector<TokenId>& history) {
    count.clear();
    const size_t n = p.repeat_last_n < 0 ? history.size()
                                         : std::min(history.size(), size_t(p.repeat_last_n));
    for (size_t i = history.size() - n; i < history.size(); ++i) ++count[history[i]];
  }
  // logit l of a token seen c times in the window, penalized
  float penalized(float l, int c) const {
    if (p.repeat_penalty != 1.0f) l = l > 0 ? l / p.repeat_penalty : l * p.repeat_penalty;
    return l - (float(c) * p.frequency_penalty + (c > 0 ? p.presence_penalty : 0.0f));
  }
};

Sampler::Sampler(const SamplingParams& p) : impl_(std::make_unique<Impl>()) {
  impl_->p = p;
  impl_->rng.seed(p.seed);
}
Sampler::~Sampler() = default;

TokenId Sampler::sample(const float* logits, int n_vocab, const std::vector<TokenId>& history) {
  Impl& s = *impl_;
  const SamplingParams& p = s.p;
  // Penalties over the last repeat_last_n tokens, on a copy (without them: the logits as
  // given, never written)
  const float* l = logits;
  if (s.penalize() && !history.empty()) {
    s.work.assign(logits, logits + n_vocab);
    float* w = s.work.data();
    l = w;
    s.window(history);
    for (auto [id, c] : s.count)
      if (id >= 0 && id < n_vocab) w[id] = s.penalized(w[id], c);
  }
  if (p.temperature <= 0.0f)
    return static_cast<TokenId>(std::max_element(l, l + n_vocab) - l);

  // the top k by (logit descending, id ascending), in that order
  auto& c = s.cand;
  const size_t n = size_t(n_vocab);
  top_k_of(l, n, p.top_k > 0 ? size_t(p.top_k) : n, c);
  return draw();
}

int Sampler::candidates_needed(const std::vector<TokenId>& history) {
  Impl& s = *impl_;
  const SamplingParams& p = s.p;
  // penalties that raise a logit could lift a token from anywhere
  if (p.repeat_penalty < 1.0f || p.presence_penalty < 0.0f || p.frequency_penalty < 0.0f) return 0;
  const int k = p.temperature <= 0.0f ? 1 : p.top_k;
  if (k <= 0) return 0;
  if (!s.penalize() || history.empty()) return k;
  s.window(history);
  return k + int(s.count.size());
}

TokenId Sampler::sample_top(const std::vector<std::pair<float, TokenId>>& top,
                            const std::vector<TokenId>& history) {
  Impl& s = *impl_;
  const SamplingParams& p = s.p;
  const int need = candidates_needed(history);  // (also fills s.count when penalizing)
  if (need == 0 || top.empty())
    throw Error("Sampler::sample_top: needs top_k > 0 or greedy, penalties that only lower "
                "logits (repeat penalty >= 1, presence and frequency >= 0) and candidates (got " +
                std::to_string(top.size()) + ")");
  auto& c = s.cand;
  c.assign(top.begin(), top.end());
  if (s.penalize() && !history.empty()) {
    for (auto& [l, id] : c) {
      auto it = s.count.find(id);
      if (it != s.count.end()) l = s.penalized(l, it->second);
    }
    std::sort(c.begin(), c.end(), ranks_before);
  }
  if (p.temperature <= 0.0f) return c[0].second;
  if (c.size() > size_t(p.top_k)) c.resize(size_t(p.top_k));
  return draw();
}

// top-p, min-p, temperature and the draw over the ranked candidates in cand
TokenId Sampler::draw() {
  Impl& s = *impl_;
  const SamplingParams& p = s.p;
  auto& c = s.cand;
  // Probabilities of the kept candidates into s.pr (temperature 1 for top-p/min-p, as
  // llama.cpp's samplers see them).
  auto& pr = s.pr;
  auto probs = [&](float temp) {
    pr.resize(c.size());
    const float mx = c[0].first;
    double sum = 0;
    for (size_t i = 0; i < c.size(); ++i) sum += pr[i] = std::exp((c[i].first - mx) / temp);
    for (auto& x : pr) x = float(x / sum);
  };
  if (p.top_p < 1.0f) {
    probs(1.0f);
    double cum = 0;
    size_t keep = c.size();
    for (size_t i = 0; i < pr.size(); ++i) {
      cum += pr[i];
      if (cum >= p.top_p) { keep = i + 1; break; }
    }
    c.resize(std::max<size_t>(1, keep));
  }
  if (p.min_p > 0.0f) {
    probs(1.0f);
    size_t keep = 0;
    while (keep < pr.size() && pr[keep] >= p.min_p * pr[0]) ++keep;
    c.resize(std::max<size_t>(1, keep));
  }
  probs(p.temperature);
  std::discrete_distribution<size_t> dist(pr.begin(), pr.end());
  return c[dist(s.rng)].second;
}

}  // namespace petrel
