// Generation loop: evaluates the prompt, samples tokens, and streams text, holding back
// any tail that could still become a stop string (a stop string is never emitted, even
// when it spans tokens).
#include <algorithm>
#include <chrono>

#include "engine/stop_matcher.h"
#include "petrel/petrel.h"

namespace petrel {
namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

}  // namespace

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kLength: return "length";
    case FinishReason::kEos: return "eos";
    case FinishReason::kStop: return "stop";
    case FinishReason::kCancelled: return "cancelled";
  }
  return "unknown";
}

GenerateResult generate(Model& model, Session& session, const std::vector<TokenId>& prompt,
                        const GenerateOptions& opt,
                        const std::function<bool(const std::string&)>& on_text) {
  GenerateResult r;
  if (prompt.empty()) throw Error("generate: the prompt has no tokens");
  auto t0 = Clock::now();
  // A step needs only the argmax (greedy without penalties) or the largest few logits (top-k
  // sampling, penalties that only lower logits: Sampler::candidates_needed): the session
  // finds them where the logits are (on a GPU only those come back) instead of handing all
  // of them over. Each evaluation draws the next token at once (`next`), in the order the
  // loop below takes them.
  const SamplingParams& sp = opt.sampling;
  const bool argmax = sp.temperature <= 0.0f && sp.repeat_penalty == 1.0f &&
                      sp.presence_penalty == 0.0f && sp.frequency_penalty == 0.0f;
  Sampler sampler(opt.sampling);
  std::vector<TokenId> history(prompt);
  TokenId next = -1;  // -1: sample from the session's logits
  auto eval = [&](const std::vector<TokenId>& toks) {
    if (argmax) {
      next = session.eval_greedy(toks);
      return;
    }
    const int need = sampler.candidates_needed(history);
    if (need > 0) {
      next = sampler.sample_top(session.eval_top_k(toks, need), history);
    } else {
      session.eval(toks);
      next = -1;
    }
  };
  eval(prompt);
  r.timings.n_prompt = static_cast<int>(prompt.size());
  r.timings.prompt_ms = ms_since(t0);

  StopMatcher stops(opt.stop);
  bool stopped_by_user = false;
  auto emit = [&](const std::string& out) {
    if (out.empty()) return;
    r.text += out;
    if (on_text && !on_text(out)) stopped_by_user = true;
  };
  t0 = Clock::now();
  r.finish = FinishReason::kLength;
  for (int i = 0; i < opt.n_predict; ++i) {
    if (opt.cancel && opt.cancel->load()) { r.finish = FinishReason::kCancelled; break; }
    const TokenId id = next >= 0 ? next : sampler.sample(session.logits(), model.n_vocab(), history);
    if (model.is_eog(id)) { r.finish = FinishReason::kEos; break; }
    r.tokens.push_back(id);
    history.push_back(id);
    emit(stops.push(model.token_to_piece(id)));
    if (stops.stopped()) { r.finish = FinishReason::kStop; break; }
    if (stopped_by_user) { r.finish = FinishReason::kCancelled; break; }
    if (i + 1 == opt.n_predict) break;
    if (session.n_past() >= session.n_ctx()) break;  // context full: finish "length"
    eval({id});
  }
  emit(stops.flush());
  r.timings.n_gen = static_cast<int>(r.tokens.size());
  r.timings.gen_ms = ms_since(t0);
  session.idle();
  return r;
}

}  // namespace petrel
