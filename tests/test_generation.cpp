// Sampler and stop-string streaming: unit tests without any model.
#include <gtest/gtest.h>

#include <numeric>

#include "engine/stop_matcher.h"
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
