// Sampler and stop-string streaming: unit tests without any model.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>

#include "engine/stop_matcher.h"
#include "tests/support/generate_ref.h"
#include "petrel/petrel.h"

namespace {

std::vector<float> ramp(int n) {  // logits increasing with the id: argmax is n-1
  std::vector<float> l(n);
  for (int i = 0; i < n; ++i) l[i] = 0.01f * float(i);
  return l;
}

TEST(Sampler, GreedyIsArgmax) {
  petrel::SamplingParams p;
  p.temperature = 0;
  petrel::Sampler s(p);
  auto l = ramp(100);
  l[37] = 5;
  EXPECT_EQ(s.sample(l.data(), 100, {}), 37);
}

TEST(Sampler, TopKOneIsArgmax) {
  petrel::SamplingParams p;
  p.temperature = 1.5f;
  p.top_k = 1;
  petrel::Sampler s(p);
  auto l = ramp(50);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(s.sample(l.data(), 50, {}), 49);
}

TEST(Sampler, SameSeedSameSequence) {
  petrel::SamplingParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0;
  auto l = ramp(64);
  auto draw = [&](uint64_t seed) {
    p.seed = seed;
    petrel::Sampler s(p);
    std::vector<int> out;
    for (int i = 0; i < 32; ++i) out.push_back(s.sample(l.data(), 64, {}));
    return out;
  };
  EXPECT_EQ(draw(7), draw(7));
  EXPECT_NE(draw(7), draw(8));
}

TEST(Sampler, MinPKeepsOnlyLikelyTokens) {
  petrel::SamplingParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.5f;  // keeps tokens with prob >= half the best one's
  std::vector<float> l(10, -10.f);
  l[3] = 2.0f;
  l[4] = 2.0f - 0.1f;  // close to the best: kept
  petrel::Sampler s(p);
  for (int i = 0; i < 50; ++i) {
    int t = s.sample(l.data(), 10, {});
    EXPECT_TRUE(t == 3 || t == 4) << t;
  }
}

TEST(Sampler, TopPCutsTail) {
  petrel::SamplingParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.min_p = 0;
  p.top_p = 0.5f;  // the best token alone holds > 50%
  std::vector<float> l(10, 0.f);
  l[6] = 5.0f;
  petrel::Sampler s(p);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(s.sample(l.data(), 10, {}), 6);
}

TEST(Sampler, RepeatPenaltyDemotesSeenTokens) {
  petrel::SamplingParams p;
  p.temperature = 0;
  p.repeat_penalty = 2.0f;
  std::vector<float> l = {1.0f, 1.5f, 0.2f};
  petrel::Sampler s(p);
  EXPECT_EQ(s.sample(l.data(), 3, {}), 1);
  EXPECT_EQ(s.sample(l.data(), 3, {1}), 0);  // 1.5 / 2 = 0.75 < 1.0
}

TEST(Sampler, PresenceAndFrequencyPenalties) {
  petrel::SamplingParams p;
  p.temperature = 0;
  p.frequency_penalty = 0.3f;
  std::vector<float> l = {1.0f, 1.5f};
  petrel::Sampler s(p);
  EXPECT_EQ(s.sample(l.data(), 2, {1}), 1);     // 1.5 - 0.3 = 1.2 > 1.0
  EXPECT_EQ(s.sample(l.data(), 2, {1, 1}), 0);  // 1.5 - 0.6 = 0.9 < 1.0
  p.frequency_penalty = 0;
  p.presence_penalty = 0.6f;
  petrel::Sampler s2(p);
  EXPECT_EQ(s2.sample(l.data(), 2, {1}), 0);
}

// The candidate selection written out plainly (penalties on a copy, every (logit, id) pair
// sorted by logit descending, id ascending, the first top_k kept), then the same top-p,
// min-p, temperature and draw as the sampler: its one-pass top-k must pick the same token.
petrel::TokenId reference_sample(const petrel::SamplingParams& p, std::mt19937_64& rng,
                                 std::vector<float> l, const std::vector<petrel::TokenId>& hist) {
  const int n = int(l.size());
  if (p.repeat_penalty != 1.0f || p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f) {
    const size_t w = p.repeat_last_n < 0 ? hist.size() : std::min(hist.size(), size_t(p.repeat_last_n));
    std::map<petrel::TokenId, int> count;
    for (size_t i = hist.size() - w; i < hist.size(); ++i) ++count[hist[i]];
    for (auto [id, c] : count) {
      if (p.repeat_penalty != 1.0f) l[id] = l[id] > 0 ? l[id] / p.repeat_penalty : l[id] * p.repeat_penalty;
      l[id] -= float(c) * p.frequency_penalty + (c > 0 ? p.presence_penalty : 0.0f);
    }
  }
  if (p.temperature <= 0.0f) return petrel::TokenId(std::max_element(l.begin(), l.end()) - l.begin());
  auto c = petrel::test::ranked_logits(l.data(), n, p.top_k > 0 ? size_t(p.top_k) : size_t(n));
  std::vector<float> pr;
  auto probs = [&](float temp) {
    pr.resize(c.size());
    double sum = 0;
    for (size_t i = 0; i < c.size(); ++i) sum += pr[i] = std::exp((c[i].first - c[0].first) / temp);
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
  return c[dist(rng)].second;
}

TEST(Sampler, OnePassTopKPicksWhatAFullSortPicks) {
  std::mt19937 gen(5);
  for (const int top_k : {1, 2, 40, 999, 1000, 1500, 0}) {
    for (const bool penalties : {false, true}) {
      SCOPED_TRACE("top_k " + std::to_string(top_k) + (penalties ? " with penalties" : ""));
      petrel::SamplingParams p;
      p.top_k = top_k;
      p.temperature = 1.3f;
      p.top_p = 0.99f;
      p.min_p = 0.001f;
      p.seed = 77;
      if (penalties) p.repeat_penalty = 1.3f, p.presence_penalty = 0.2f, p.frequency_penalty = 0.1f;
      petrel::Sampler s(p);
      std::mt19937_64 rng(p.seed);
      std::vector<petrel::TokenId> hist;
      for (int step = 0; step < 30; ++step) {
        // 1000 logits on a coarse grid: many equal values, so the id order of ties matters
        std::vector<float> l(1000);
        for (auto& v : l) v = float(int(gen() % 24)) * 0.25f;
        const petrel::TokenId want = reference_sample(p, rng, l, hist);
        ASSERT_EQ(s.sample(l.data(), 1000, hist), want) << "step " << step;
        hist.push_back(want);
      }
    }
  }
}

TEST(Sampler, SampleTopDrawsWhatSampleDraws) {
  std::mt19937 gen(9);
  petrel::SamplingParams plain;  // the defaults: top-k 40, top-p, min-p, temperature 0.8
  plain.seed = 5;
  petrel::SamplingParams pen = plain;  // penalties that only lower logits
  pen.repeat_penalty = 1.4f, pen.presence_penalty = 0.3f, pen.frequency_penalty = 0.2f;
  pen.repeat_last_n = 16;
  petrel::SamplingParams greedy_pen = pen;
  greedy_pen.temperature = 0;
  for (const auto& p : {plain, pen, greedy_pen}) {
    petrel::Sampler a(p), b(p);
    std::vector<petrel::TokenId> hist;
    for (int step = 0; step < 50; ++step) {
      std::vector<float> l(3000);
      for (auto& v : l) v = float(int(gen() % 40)) * 0.3f;
      // recent tokens near the top, so the penalties reorder the candidates
      for (size_t i = hist.size() > 8 ? hist.size() - 8 : 0; i < hist.size(); ++i) l[size_t(hist[i])] += 12.f;
      const int need = b.candidates_needed(hist);
      ASSERT_GT(need, 0);
      const auto all = petrel::test::ranked_logits(l.data(), 3000, size_t(need));
      const petrel::TokenId want = a.sample(l.data(), 3000, hist);
      ASSERT_EQ(b.sample_top(all, hist), want) << "step " << step;
      hist.push_back(want);
    }
  }
  petrel::SamplingParams raise = plain;
  raise.repeat_penalty = 0.9f;  // raises logits: every one is needed
  petrel::Sampler c(raise);
  EXPECT_EQ(c.candidates_needed({1, 2}), 0);
  EXPECT_THROW(c.sample_top({{1.f, 0}}, {1, 2}), petrel::Error);
}

TEST(StopMatcher, StopSpanningPiecesIsNeverEmitted) {
  petrel::StopMatcher m({"</end>"});
  std::string out;
  for (const char* piece : {"Hello ", "wor", "ld</", "en", "d> tail"}) {
    out += m.push(piece);
    if (m.stopped()) break;
  }
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(out, "Hello world");
  EXPECT_EQ(m.flush(), "");
}

TEST(StopMatcher, HeldBackTextIsReleasedWhenItDiverges) {
  petrel::StopMatcher m({"STOP"});
  EXPECT_EQ(m.push("abc ST"), "abc ");
  EXPECT_EQ(m.push("OP"), "");
  EXPECT_TRUE(m.stopped());
  petrel::StopMatcher m2({"STOP"});
  EXPECT_EQ(m2.push("x ST"), "x ");
  EXPECT_EQ(m2.push("ART"), "START");
  EXPECT_EQ(m2.push("S"), "");
  EXPECT_EQ(m2.flush(), "S");
  EXPECT_FALSE(m2.stopped());
}

TEST(StopMatcher, EarliestOfSeveralStops) {
  petrel::StopMatcher m({"bbb", "b"});
  EXPECT_EQ(m.push("aab bbb"), "aa");
  EXPECT_TRUE(m.stopped());
}

TEST(StopMatcher, NoStopsPassesEverything) {
  petrel::StopMatcher m({});
  EXPECT_EQ(m.push("abc"), "abc");
  EXPECT_EQ(m.flush(), "");
}

}  // namespace
