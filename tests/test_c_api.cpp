// The C API (petrel/petrel_c.h, libpetrel.so) against the C++ API it wraps, on a tiny
// synthetic model on the CPU: the same tokens, logits (bit for bit: one thread, the same
// engine code) and generated text; buffers too small, bad arguments and failures as status
// values with messages; cancelling; and the API driven from C (support/c_api_smoke.c).
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "petrel/petrel.h"
#include "petrel/petrel_c.h"
#include "petrel/tools.h"
#include "tests/support/c_api_smoke.h"
#include "tests/support/test_env.h"

namespace {

// One tiny model file for the whole suite (the built-in 512-token tokenizer).
const std::string& tiny_model() {
  static const std::string path = [] {
    petrel::tools::SynthOptions o;
    o.shape = "tiny";
    o.ftype = "Q8_0";
    o.out_path = petrel::test::temp_dir() + "/c_api_tiny_q8_0.gguf";
    o.seed = 3;
    o.n_threads = 1;
    petrel::tools::synth_model(o);
    return o.out_path;
  }();
  return path;
}

struct CModel {
  petrel_model* m = nullptr;
  explicit CModel(const std::string& path, const petrel_model_params* p = nullptr)
      : m(petrel_model_load(path.c_str(), p)) {}
  ~CModel() { petrel_model_free(m); }
};

struct CSession {
  petrel_session* s = nullptr;
  explicit CSession(petrel_model* m) {
    petrel_session_params p;
    petrel_session_params_default(&p);
    p.n_ctx = 128;
    p.n_threads = 1;
    s = petrel_session_new(m, &p);
  }
  ~CSession() { petrel_session_free(s); }
};

std::vector<petrel_token> c_tokens(petrel_model* m, const std::string& text) {
  const int n = petrel_tokenize(m, text.data(), text.size(), 1, nullptr, 0);
  EXPECT_GT(n, 0) << petrel_last_error();
  std::vector<petrel_token> t(size_t(n > 0 ? n : 0));
  EXPECT_EQ(petrel_tokenize(m, text.data(), text.size(), 1, t.data(), n), n);
  return t;
}

TEST(CApi, VersionAndModelInfo) {
  EXPECT_EQ(petrel_c_api_version(), PETREL_C_API_VERSION);
  CModel m(tiny_model());
  ASSERT_NE(m.m, nullptr) << petrel_last_error();
  petrel_model_info i{};
  i.struct_size = sizeof i;
  ASSERT_EQ(petrel_model_info_get(m.m, &i), PETREL_OK);
  const auto cpp = petrel::Model::load(tiny_model());
  EXPECT_STREQ(i.arch, cpp->info().arch.c_str());
  EXPECT_EQ(i.n_vocab, cpp->info().n_vocab);
  EXPECT_EQ(i.n_layer, cpp->info().n_layer);
  EXPECT_EQ(i.n_embd, cpp->info().n_embd);
  EXPECT_EQ(i.n_params, cpp->info().n_params);
  EXPECT_EQ(petrel_token_bos(m.m), cpp->bos());
  i.struct_size = sizeof i - 1;
  EXPECT_EQ(petrel_model_info_get(m.m, &i), PETREL_ERR_ARGUMENT);
  EXPECT_NE(std::string(petrel_last_error()).find("struct_size"), std::string::npos);
}

TEST(CApi, TokenizerMatchesTheCppApi) {
  CModel m(tiny_model());
  ASSERT_NE(m.m, nullptr) << petrel_last_error();
  const auto cpp = petrel::Model::load(tiny_model());
  const std::string text = "Hello world, the quick brown fox";
  const std::vector<petrel_token> t = c_tokens(m.m, text);
  EXPECT_EQ(t, cpp->tokenize(text, true, true));
  // too small: the count comes back, nothing is written
  std::vector<petrel_token> small(2, -7);
  EXPECT_EQ(petrel_tokenize(m.m, text.data(), text.size(), 1, small.data(), 2), int(t.size()));
  EXPECT_EQ(small, std::vector<petrel_token>(2, -7));
  const std::string want = cpp->detokenize(t);
  EXPECT_EQ(petrel_detokenize(m.m, t.data(), int(t.size()), nullptr, 0), int64_t(want.size()));
  std::vector<char> buf(want.size() + 1, 'x');
  EXPECT_EQ(petrel_detokenize(m.m, t.data(), int(t.size()), buf.data(), buf.size()), int64_t(want.size()));
  EXPECT_EQ(std::string(buf.data()), want);
  EXPECT_EQ(petrel_tokenize(nullptr, "a", 1, 1, nullptr, 0), PETREL_ERR_ARGUMENT);
  EXPECT_EQ(petrel_detokenize(m.m, nullptr, 3, nullptr, 0), PETREL_ERR_ARGUMENT);
  EXPECT_NE(std::string(petrel_last_error()).find("tokens is NULL"), std::string::npos);
}

TEST(CApi, EvalGivesTheCppSessionsLogits) {
  CModel m(tiny_model());
  ASSERT_NE(m.m, nullptr) << petrel_last_error();
  CSession s(m.m);
  ASSERT_NE(s.s, nullptr) << petrel_last_error();
  EXPECT_STREQ(petrel_session_backend(s.s), "cpu");
  EXPECT_EQ(petrel_session_n_ctx(s.s), 128);
  EXPECT_EQ(petrel_session_logits(s.s), nullptr);  // nothing evaluated yet
  const std::vector<petrel_token> t = c_tokens(m.m, "Once upon a time");
  ASSERT_EQ(petrel_session_eval(s.s, t.data(), int(t.size())), PETREL_OK) << petrel_last_error();
  EXPECT_EQ(petrel_session_n_past(s.s), int(t.size()));
  const float* got = petrel_session_logits(s.s);
  ASSERT_NE(got, nullptr) << petrel_last_error();

  const auto cm = petrel::Model::load(tiny_model());
  const auto cs = petrel::Session::create(*cm, {128, 1, 512});
  cs->eval(t);
  const int n_vocab = cm->n_vocab();
  EXPECT_EQ(std::memcmp(got, cs->logits(), size_t(n_vocab) * sizeof(float)), 0);
  int best = 0;
  for (int i = 1; i < n_vocab; ++i)
    if (got[i] > got[best]) best = i;

  // greedy over the same tokens in a fresh session: the id of that largest logit
  CSession g(m.m);
  EXPECT_EQ(petrel_session_eval_greedy(g.s, t.data(), int(t.size())), best);
  EXPECT_EQ(petrel_session_logits(g.s), nullptr);  // greedy keeps none
  ASSERT_EQ(petrel_session_truncate(s.s, 2), PETREL_OK);
  EXPECT_EQ(petrel_session_n_past(s.s), 2);
  EXPECT_EQ(petrel_session_truncate(s.s, -1), PETREL_ERR_ARGUMENT);
  EXPECT_EQ(petrel_session_eval(s.s, t.data(), -2), PETREL_ERR_ARGUMENT);
  // past the context: the engine's error, as a status and a message
  std::vector<petrel_token> many(200, t[0]);
  EXPECT_EQ(petrel_session_eval(s.s, many.data(), int(many.size())), PETREL_ERR_FAILED);
  EXPECT_NE(std::string(petrel_last_error()).find("context"), std::string::npos) << petrel_last_error();
}

// eval_all keeps every token's logits and eval_top_k hands back the largest: bit for bit
// what the C++ session gives.
TEST(CApi, EvalAllAndTopKGiveTheCppSessions) {
  CModel m(tiny_model());
  ASSERT_NE(m.m, nullptr) << petrel_last_error();
  CSession s(m.m);
  const std::vector<petrel_token> t = c_tokens(m.m, "Once upon a time");
  ASSERT_EQ(petrel_session_eval_all(s.s, t.data(), int(t.size())), PETREL_OK) << petrel_last_error();
  const auto cm = petrel::Model::load(tiny_model());
  const auto cs = petrel::Session::create(*cm, {128, 1, 512});
  cs->eval(t, true);
  const size_t bytes = size_t(cm->n_vocab()) * sizeof(float);
  for (int i = 0; i < int(t.size()); ++i) {
    const float* got = petrel_session_logits_ith(s.s, i);
    ASSERT_NE(got, nullptr) << petrel_last_error();
    EXPECT_EQ(std::memcmp(got, cs->logits(i), bytes), 0) << "token " << i;
  }
  EXPECT_EQ(petrel_session_logits_ith(s.s, -1), petrel_session_logits(s.s));
  EXPECT_EQ(petrel_session_logits_ith(s.s, int(t.size())), nullptr);
  EXPECT_NE(std::string(petrel_last_error()).find("out of range"), std::string::npos) << petrel_last_error();

  // the same tokens, then one more through top-k in both
  CSession k(m.m);
  const auto want = cs->eval_top_k({t[0]}, 5);
  ASSERT_EQ(petrel_session_eval_all(k.s, t.data(), int(t.size())), PETREL_OK);
  float logits[5];
  petrel_token ids[5];
  ASSERT_EQ(petrel_session_eval_top_k(k.s, &t[0], 1, 5, logits, ids), 5) << petrel_last_error();
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(logits[i], want[size_t(i)].first) << i;
    EXPECT_EQ(ids[i], want[size_t(i)].second) << i;
  }
  EXPECT_EQ(petrel_session_logits(k.s), nullptr);  // top-k keeps none
  EXPECT_EQ(petrel_session_eval_top_k(k.s, &t[0], 1, 0, logits, ids), PETREL_ERR_ARGUMENT);
  EXPECT_EQ(petrel_session_eval_top_k(k.s, &t[0], 1, 5, nullptr, ids), PETREL_ERR_ARGUMENT);
}

// A C sampler draws what a C++ sampler with the same parameters draws, penalties included.
TEST(CApi, SamplerDrawsAsTheCppSampler) {
  petrel_generate_params p;
  petrel_generate_params_default(&p);
  p.temperature = 0.9f;
  p.top_k = 20;
  p.repeat_penalty = 1.3f;
  p.seed = 11;
  petrel_sampler* smp = petrel_sampler_new(&p);
  ASSERT_NE(smp, nullptr) << petrel_last_error();
  petrel::SamplingParams sp;
  sp.temperature = 0.9f;
  sp.top_k = 20;
  sp.repeat_penalty = 1.3f;
  sp.seed = 11;
  petrel::Sampler want(sp);
  std::vector<float> logits(300);
  std::vector<petrel_token> history;
  for (int step = 0; step < 40; ++step) {
    for (size_t i = 0; i < logits.size(); ++i) logits[i] = float((i * 37 + size_t(step) * 11) % 101) / 17.f;
    const petrel_token got = petrel_sampler_sample(smp, logits.data(), int(logits.size()),
                                                   history.data(), int(history.size()));
    ASSERT_GE(got, 0) << petrel_last_error();
    EXPECT_EQ(got, want.sample(logits.data(), int(logits.size()), history)) << "step " << step;
    history.push_back(got);
  }
  EXPECT_EQ(petrel_sampler_sample(smp, nullptr, 300, nullptr, 0), PETREL_ERR_ARGUMENT);
  EXPECT_EQ(petrel_sampler_sample(smp, logits.data(), 0, nullptr, 0), PETREL_ERR_ARGUMENT);
  EXPECT_EQ(petrel_sampler_sample(nullptr, logits.data(), 300, nullptr, 0), PETREL_ERR_ARGUMENT);
  petrel_sampler_free(smp);
  petrel_sampler_free(nullptr);  // (a no-op)
  p.struct_size = 4;
  EXPECT_EQ(petrel_sampler_new(&p), nullptr);
  petrel_sampler* d = petrel_sampler_new(nullptr);  // the defaults
  EXPECT_NE(d, nullptr);
  petrel_sampler_free(d);
}

TEST(CApi, GenerateMatchesTheCppApiAndStops) {
  CModel m(tiny_model());
  ASSERT_NE(m.m, nullptr) << petrel_last_error();
  const std::vector<petrel_token> prompt = c_tokens(m.m, "The cat sat");
  petrel_generate_params gp;
  petrel_generate_params_default(&gp);
  gp.temperature = 0;
  gp.n_predict = 12;
  std::string text;
  auto append = [](const char* piece, size_t n, void* user) {
    static_cast<std::string*>(user)->append(piece, n);
    return 1;
  };
  petrel_generate_result r{};
  r.struct_size = sizeof r;
  {
    CSession s(m.m);
    ASSERT_EQ(petrel_generate(s.s, prompt.data(), int(prompt.size()), &gp, append, &text, &r), PETREL_OK)
        << petrel_last_error();
  }
  const auto cm = petrel::Model::load(tiny_model());
  const auto cs = petrel::Session::create(*cm, {128, 1, 512});
  petrel::GenerateOptions go;
  go.n_predict = 12;
  go.sampling.temperature = 0;
  const petrel::GenerateResult want = petrel::generate(*cm, *cs, prompt, go);
  EXPECT_EQ(text, want.text);
  EXPECT_GT(r.n_gen, 0);
  EXPECT_EQ(r.n_gen, int(want.tokens.size()));
  EXPECT_EQ(r.n_prompt, int(prompt.size()));
  EXPECT_EQ(r.finish, int(want.finish));

  // the callback stops it after its first piece
  CSession s(m.m);
  int pieces = 0;
  auto once = [](const char*, size_t, void* user) {
    ++*static_cast<int*>(user);
    return 0;
  };
  ASSERT_EQ(petrel_generate(s.s, prompt.data(), int(prompt.size()), &gp, once, &pieces, &r), PETREL_OK);
  EXPECT_EQ(pieces, 1);
  EXPECT_EQ(r.finish, PETREL_FINISH_CANCELLED);
  // a cancel before the call stops the next one before its first token, then is cleared
  petrel_session_truncate(s.s, 0);
  petrel_session_cancel(s.s);
  ASSERT_EQ(petrel_generate(s.s, prompt.data(), int(prompt.size()), &gp, nullptr, nullptr, &r), PETREL_OK);
  EXPECT_EQ(r.finish, PETREL_FINISH_CANCELLED);
  EXPECT_EQ(r.n_gen, 0);
  petrel_session_truncate(s.s, 0);
  ASSERT_EQ(petrel_generate(s.s, prompt.data(), int(prompt.size()), &gp, nullptr, nullptr, &r), PETREL_OK);
  EXPECT_EQ(r.n_gen, int(want.tokens.size()));
  // bad parameters
  petrel_generate_params bad = gp;
  bad.struct_size = 8;
  EXPECT_EQ(petrel_generate(s.s, prompt.data(), int(prompt.size()), &bad, nullptr, nullptr, nullptr),
            PETREL_ERR_ARGUMENT);
  bad = gp;
  bad.n_stop = 1;
  EXPECT_EQ(petrel_generate(s.s, prompt.data(), int(prompt.size()), &bad, nullptr, nullptr, nullptr),
            PETREL_ERR_ARGUMENT);
  EXPECT_NE(std::string(petrel_last_error()).find("stop strings"), std::string::npos);
}

TEST(CApi, FailuresAreStatusesWithMessages) {
  const std::string missing = petrel::test::temp_dir() + "/no_such_model.gguf";
  EXPECT_EQ(petrel_model_load(missing.c_str(), nullptr), nullptr);
  EXPECT_NE(std::string(petrel_last_error()).find("no_such_model.gguf"), std::string::npos)
      << petrel_last_error();
  EXPECT_EQ(petrel_model_load(nullptr, nullptr), nullptr);
  petrel_model_params mp;
  petrel_model_params_default(&mp);
  mp.vocab_only = 1;
  CModel vocab(tiny_model(), &mp);
  ASSERT_NE(vocab.m, nullptr) << petrel_last_error();
  EXPECT_EQ(petrel_session_new(vocab.m, nullptr), nullptr);
  EXPECT_NE(std::string(petrel_last_error()).find("vocab-only"), std::string::npos) << petrel_last_error();
  mp.struct_size = 4;
  EXPECT_EQ(petrel_model_load(tiny_model().c_str(), &mp), nullptr);
  EXPECT_EQ(petrel_session_eval(nullptr, nullptr, 0), PETREL_ERR_ARGUMENT);
  petrel_model_free(nullptr);  // (no-ops)
  petrel_session_free(nullptr);
}

// petrel_device_count / petrel_device_get give what petrel::list_devices does (or a
// negative count and a message where it throws), and refuse bad indices and structs.
TEST(CApi, DevicesMatchTheCppList) {
  std::vector<petrel::DeviceInfo> want;
  try {
    want = petrel::list_devices();
  } catch (const std::exception& e) {
    EXPECT_LT(petrel_device_count(), 0);
    EXPECT_EQ(std::string(petrel_last_error()), e.what());
    GTEST_SKIP() << "no Vulkan devices: " << e.what();
  }
  ASSERT_EQ(petrel_device_count(), int(want.size()));
  for (size_t i = 0; i < want.size(); ++i) {
    petrel_device_info d{};
    d.struct_size = sizeof d;
    ASSERT_EQ(petrel_device_get(int(i), &d), PETREL_OK) << petrel_last_error();
    EXPECT_EQ(d.index, want[i].index);
    EXPECT_EQ(std::string(d.name), want[i].name.substr(0, sizeof d.name - 1));
    EXPECT_EQ(std::string(d.type), want[i].type);
    EXPECT_EQ(std::string(d.driver), want[i].driver.substr(0, sizeof d.driver - 1));
    EXPECT_EQ(d.memory_bytes, want[i].memory_bytes);
    EXPECT_EQ(d.budget_bytes, want[i].budget_bytes);
    EXPECT_EQ(d.subgroup_size, want[i].subgroup_size);
  }
  petrel_device_info d{};
  d.struct_size = sizeof d;
  EXPECT_EQ(petrel_device_get(int(want.size()), &d), PETREL_ERR_ARGUMENT);
  EXPECT_NE(std::string(petrel_last_error()).find("no device"), std::string::npos) << petrel_last_error();
  EXPECT_EQ(petrel_device_get(-1, &d), PETREL_ERR_ARGUMENT);
  EXPECT_EQ(petrel_device_get(0, nullptr), PETREL_ERR_ARGUMENT);
  d.struct_size = 8;
  EXPECT_EQ(petrel_device_get(0, &d), PETREL_ERR_ARGUMENT);
  EXPECT_NE(std::string(petrel_last_error()).find("struct_size"), std::string::npos) << petrel_last_error();
}

TEST(CApi, UsableFromC) {
  char text[512];
  const int n = petrel_c_smoke(tiny_model().c_str(), "The cat sat", 12, text, sizeof text);
  ASSERT_GE(n, 0) << petrel_last_error();
  const auto cm = petrel::Model::load(tiny_model());
  const auto cs = petrel::Session::create(*cm, {128, 1, 512});
  petrel::GenerateOptions go;
  go.n_predict = 12;
  go.sampling.temperature = 0;
  const petrel::GenerateResult want = petrel::generate(*cm, *cs, cm->tokenize("The cat sat"), go);
  EXPECT_GT(n, 0);
  EXPECT_EQ(n, int(want.tokens.size()));
  EXPECT_EQ(std::string(text), want.text);
}

}  // namespace
