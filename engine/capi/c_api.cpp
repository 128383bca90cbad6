// The C API (include/petrel/petrel_c.h) over petrel.h: handles that own the C++ objects,
// parameter structs read by their struct_size, and every exception turned into a status
// and a thread-local message. Built into libpetrel.so only (engine/CMakeLists.txt).
#include <algorithm>
#include <atomic>
#include <climits>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "petrel/petrel.h"
#include "petrel/petrel_c.h"

struct petrel_model {
  std::unique_ptr<petrel::Model> m;
};

struct petrel_session {
  petrel_model* model = nullptr;
  std::unique_ptr<petrel::Session> s;
  std::string backend;
  std::atomic<bool> cancel{false};
};

struct petrel_sampler {
  std::unique_ptr<petrel::Sampler> s;
};

namespace {

thread_local std::string g_error;

// An argument error: the message, then PETREL_ERR_ARGUMENT.
struct ArgError : std::exception {
  explicit ArgError(std::string m) : msg(std::move(m)) {}
  const char* what() const noexcept override { return msg.c_str(); }
  std::string msg;
};

template <typename T>
void need(const T* p, const char* what) {
  if (!p) throw ArgError(std::string(what) + " is NULL");
}

// A caller's struct must be at least this header's (its struct_size says how large it is).
template <typename T>
void need_size(const T& v, const char* what) {
  if (v.struct_size < sizeof(T))
    throw ArgError(std::string(what) + ": struct_size " + std::to_string(v.struct_size) +
                   " is below this library's " + std::to_string(sizeof(T)) +
                   " (set it to sizeof, or fill the struct with its _default function)");
}

// *p where given (need_size), else the defaults that fill_default (a petrel_*_params_default)
// writes.
template <typename T>
T params_or(const T* p, void (*fill_default)(T*), const char* what) {
  if (!p) {
    T d;
    fill_default(&d);
    return d;
  }
  need_size(*p, what);
  T out;
  std::memcpy(&out, p, sizeof(T));
  return out;
}

// A status call: PETREL_OK, PETREL_ERR_ARGUMENT for ArgError, PETREL_ERR_FAILED otherwise.
template <typename F>
int status(F&& f) {
  try {
    f();
    return PETREL_OK;
  } catch (const ArgError& e) {
    g_error = e.what();
    return PETREL_ERR_ARGUMENT;
  } catch (const std::exception& e) {
    g_error = e.what();
  } catch (...) {
    g_error = "unknown error";
  }
  return PETREL_ERR_FAILED;
}

// Runs f, returning its value; an exception sets the thread's message (as status()) and
// returns `fail`.
template <typename R, typename F>
R guard(R fail, F&& f) {
  R v = fail;
  return status([&] { v = f(); }) == PETREL_OK ? v : fail;
}

// A call that returns a count or an id: f's value, or the negative status of its failure
// (as status()).
template <typename R, typename F>
R value_or_status(F&& f) {
  R v{};
  const int st = status([&] { v = f(); });
  return st == PETREL_OK ? v : R(st);
}

std::vector<petrel::TokenId> tokens_of(const petrel_token* t, int n, const char* what) {
  if (n < 0) throw ArgError(std::string(what) + ": negative token count " + std::to_string(n));
  if (n > 0 && !t) throw ArgError(std::string(what) + ": tokens is NULL");
  return std::vector<petrel::TokenId>(t, t + n);
}

// The sampling fields of p.
petrel::SamplingParams sampling_of(const petrel_generate_params& q) {
  petrel::SamplingParams sp;
  sp.temperature = q.temperature;
  sp.top_k = q.top_k;
  sp.top_p = q.top_p;
  sp.min_p = q.min_p;
  sp.repeat_penalty = q.repeat_penalty;
  sp.repeat_last_n = q.repeat_last_n;
  sp.presence_penalty = q.presence_penalty;
  sp.frequency_penalty = q.frequency_penalty;
  sp.seed = q.seed;
  return sp;
}

}  // namespace

extern "C" {

int petrel_c_api_version(void) { return PETREL_C_API_VERSION; }

const char* petrel_last_error(void) { return g_error.c_str(); }

int petrel_device_count(void) {
  return guard<int>(PETREL_ERR_FAILED, [] { return int(petrel::list_devices().size()); });
}

int petrel_device_get(int index, petrel_device_info* out) {
  return status([&] {
    need(out, "petrel_device_get: out");
    need_size(*out, "petrel_device_get: out");
    const std::vector<petrel::DeviceInfo> all = petrel::list_devices();
    if (index < 0 || size_t(index) >= all.size())
      throw ArgError("petrel_device_get: no device " + std::to_string(index) + " (there are " +
                     std::to_string(all.size()) + ")");
    const petrel::DeviceInfo& d = all[size_t(index)];
    auto copy = [](char* dst, size_t cap, const std::string& s) {
      const size_t n = std::min(cap - 1, s.size());
      std::memcpy(dst, s.data(), n);
      dst[n] = '\0';
    };
    out->index = d.index;
    copy(out->name, sizeof out->name, d.name);
    copy(out->type, sizeof out->type, d.type);
    copy(out->driver, sizeof out->driver, d.driver);
    out->memory_bytes = d.memory_bytes;
    out->budget_bytes = d.budget_bytes;
    out->subgroup_size = d.subgroup_size;
  });
}

void petrel_model_params_default(petrel_model_params* p) {
  if (!p) return;
  *p = petrel_model_params{};
  p->struct_size = sizeof *p;
  p->gpu_layers = -1;
}

petrel_model* petrel_model_load(const char* path, const petrel_model_params* p) {
  return guard<petrel_model*>(nullptr, [&] {
    need(path, "petrel_model_load: path");
    const petrel_model_params q =
        params_or(p, petrel_model_params_default, "petrel_model_load: params");
    petrel::ModelOptions mo;
    mo.device = q.use_gpu ? petrel::Device::kVulkan : petrel::Device::kCpu;
    mo.device_index = q.gpu_index;
    mo.device_explicit = q.use_gpu && q.gpu_required;
    mo.gpu_layers = q.gpu_layers;
    mo.vocab_only = q.vocab_only != 0;
    auto m = std::make_unique<petrel_model>();
    m->m = petrel::Model::load(path, mo);
    return m.release();
  });
}

void petrel_model_free(petrel_model* m) { delete m; }

int petrel_model_info_get(const petrel_model* m, petrel_model_info* out) {
  return status([&] {
    need(m, "petrel_model_info_get: model");
    need(out, "petrel_model_info_get: out");
    need_size(*out, "petrel_model_info_get: out");
    const petrel::ModelInfo& i = m->m->info();
    out->arch = i.arch.c_str();
    out->name = i.name.c_str();
    out->file_type = i.file_type.c_str();
    out->n_params = i.n_params;
    out->weight_bytes = i.weight_bytes;
    out->n_vocab = i.n_vocab;
    out->n_ctx_train = i.n_ctx_train;
    out->n_embd = i.n_embd;
    out->n_layer = i.n_layer;
    out->n_head = i.n_head;
    out->n_head_kv = i.n_head_kv;
    out->n_ff = i.n_ff;
  });
}

int petrel_tokenize(const petrel_model* m, const char* text, size_t text_len, int add_special,
                    petrel_token* out, int capacity) {
  return value_or_status<int>([&] {
    need(m, "petrel_tokenize: model");
    if (text_len > 0) need(text, "petrel_tokenize: text");
    if (capacity < 0 || (capacity > 0 && !out))
      throw ArgError("petrel_tokenize: capacity " + std::to_string(capacity) + " with out " +
                     (out ? "set" : "NULL"));
    const auto t = m->m->tokenize(std::string(text ? text : "", text_len), add_special != 0, true);
    if (t.size() > size_t(INT_MAX)) throw ArgError("petrel_tokenize: more than INT_MAX tokens");
    const int n = int(t.size());
    if (n <= capacity) std::copy(t.begin(), t.end(), out);
    return n;
  });
}

int64_t petrel_detokenize(const petrel_model* m, const petrel_token* ids, int n, char* buf,
                          size_t capacity) {
  return value_or_status<int64_t>([&] {
    need(m, "petrel_detokenize: model");
    if (capacity > 0) need(buf, "petrel_detokenize: buf");
    const std::string s = m->m->detokenize(tokens_of(ids, n, "petrel_detokenize"));
    if (s.size() < capacity) std::memcpy(buf, s.c_str(), s.size() + 1);
    return int64_t(s.size());
  });
}

int petrel_token_is_eog(const petrel_model* m, petrel_token id) {
  return m && guard<int>(0, [&] { return m->m->is_eog(id) ? 1 : 0; });
}

petrel_token petrel_token_bos(const petrel_model* m) {
  if (!m) {
    g_error = "petrel_token_bos: model is NULL";
    return PETREL_ERR_ARGUMENT;
  }
  return guard<petrel_token>(PETREL_ERR_FAILED, [&] { return m->m->bos(); });
}

void petrel_session_params_default(petrel_session_params* p) {
  if (!p) return;
  const petrel::SessionOptions o;
  *p = petrel_session_params{};
  p->struct_size = sizeof *p;
  p->n_ctx = o.n_ctx;
  p->n_threads = o.n_threads;
  p->n_batch = o.n_batch;
}

petrel_session* petrel_session_new(petrel_model* m, const petrel_session_params* p) {
  return guard<petrel_session*>(nullptr, [&] {
    need(m, "petrel_session_new: model");
    const petrel_session_params q =
        params_or(p, petrel_session_params_default, "petrel_session_new: params");
    petrel::SessionOptions so;
    so.n_ctx = q.n_ctx;
    so.n_threads = q.n_threads;
    so.n_batch = q.n_batch;
    auto s = std::make_unique<petrel_session>();
    s->model = m;
    s->s = petrel::Session::create(*m->m, so);
    s->backend = s->s->backend_name();
    return s.release();
  });
}

void petrel_session_free(petrel_session* s) { delete s; }

int petrel_session_n_ctx(const petrel_session* s) { return s ? s->s->n_ctx() : PETREL_ERR_ARGUMENT; }

int petrel_session_n_past(const petrel_session* s) { return s ? s->s->n_past() : PETREL_ERR_ARGUMENT; }

int petrel_session_truncate(petrel_session* s, int n) {
  return status([&] {
    need(s, "petrel_session_truncate: session");
    if (n < 0) throw ArgError("petrel_session_truncate: negative position " + std::to_string(n));
    s->s->truncate(n);
  });
}

const char* petrel_session_backend(const petrel_session* s) { return s ? s->backend.c_str() : ""; }

int petrel_session_eval(petrel_session* s, const petrel_token* tokens, int n) {
  return status([&] {
    need(s, "petrel_session_eval: session");
    s->s->eval(tokens_of(tokens, n, "petrel_session_eval"), false);
  });
}

const float* petrel_session_logits(const petrel_session* s) {
  return guard<const float*>(nullptr, [&] {
    need(s, "petrel_session_logits: session");
    return s->s->logits(-1);
  });
}

int petrel_session_eval_all(petrel_session* s, const petrel_token* tokens, int n) {
  return status([&] {
    need(s, "petrel_session_eval_all: session");
    s->s->eval(tokens_of(tokens, n, "petrel_session_eval_all"), true);
  });
}

const float* petrel_session_logits_ith(const petrel_session* s, int i) {
  return guard<const float*>(nullptr, [&] {
    need(s, "petrel_session_logits_ith: session");
    return s->s->logits(i);
  });
}

int petrel_session_eval_top_k(petrel_session* s, const petrel_token* tokens, int n, int k,
                              float* logits_out, petrel_token* ids_out) {
  return value_or_status<int>([&] {
    need(s, "petrel_session_eval_top_k: session");
    if (k <= 0) throw ArgError("petrel_session_eval_top_k: k is " + std::to_string(k));
    need(logits_out, "petrel_session_eval_top_k: logits_out");
    need(ids_out, "petrel_session_eval_top_k: ids_out");
    const auto top = s->s->eval_top_k(tokens_of(tokens, n, "petrel_session_eval_top_k"), k);
    int written = 0;
    for (const auto& [logit, id] : top) {
      logits_out[written] = logit;
      ids_out[written++] = id;
    }
    return written;
  });
}

petrel_token petrel_session_eval_greedy(petrel_session* s, const petrel_token* tokens, int n) {
  return value_or_status<petrel_token>([&] {
    need(s, "petrel_session_eval_greedy: session");
    return s->s->eval_greedy(tokens_of(tokens, n, "petrel_session_eval_greedy"));
  });
}

void petrel_generate_params_default(petrel_generate_params* p) {
  if (!p) return;
  const petrel::GenerateOptions o;
  const petrel::SamplingParams& sp = o.sampling;
  *p = petrel_generate_params{};
  p->struct_size = sizeof *p;
  p->temperature = sp.temperature;
  p->top_k = sp.top_k;
  p->top_p = sp.top_p;
  p->min_p = sp.min_p;
  p->repeat_penalty = sp.repeat_penalty;
  p->repeat_last_n = sp.repeat_last_n;
  p->presence_penalty = sp.presence_penalty;
  p->frequency_penalty = sp.frequency_penalty;
  p->seed = sp.seed;
  p->n_predict = o.n_predict;
}

int petrel_generate(petrel_session* s, const petrel_token* prompt, int n_prompt,
                    const petrel_generate_params* p, petrel_text_fn on_text, void* user,
                    petrel_generate_result* result) {
  const int st = status([&] {
    need(s, "petrel_generate: session");
    if (result) need_size(*result, "petrel_generate: result");
    const petrel_generate_params q =
        params_or(p, petrel_generate_params_default, "petrel_generate: params");
    if (q.n_stop < 0 || (q.n_stop > 0 && !q.stop))
      throw ArgError("petrel_generate: " + std::to_string(q.n_stop) + " stop strings at " +
                     (q.stop ? "an array" : "NULL"));
    petrel::GenerateOptions go;
    go.n_predict = q.n_predict;
    for (int i = 0; i < q.n_stop; ++i) {
      if (!q.stop[i]) throw ArgError("petrel_generate: stop string " + std::to_string(i) + " is NULL");
      go.stop.emplace_back(q.stop[i]);
    }
    go.sampling = sampling_of(q);
    go.cancel = &s->cancel;
    const petrel::GenerateResult r = petrel::generate(
        *s->model->m, *s->s, tokens_of(prompt, n_prompt, "petrel_generate"), go,
        [&](const std::string& text) { return !on_text || on_text(text.data(), text.size(), user) != 0; });
    if (result) {
      result->finish = int(r.finish);
      result->n_prompt = r.timings.n_prompt;
      result->n_gen = r.timings.n_gen;
      result->prompt_ms = r.timings.prompt_ms;
      result->gen_ms = r.timings.gen_ms;
    }
  });
  if (s) s->cancel.store(false);
  return st;
}

petrel_sampler* petrel_sampler_new(const petrel_generate_params* p) {
  return guard<petrel_sampler*>(nullptr, [&] {
    auto smp = std::make_unique<petrel_sampler>();
    const petrel_generate_params q =
        params_or(p, petrel_generate_params_default, "petrel_sampler_new: params");
    smp->s = std::make_unique<petrel::Sampler>(sampling_of(q));
    return smp.release();
  });
}

void petrel_sampler_free(petrel_sampler* smp) { delete smp; }

petrel_token petrel_sampler_sample(petrel_sampler* smp, const float* logits, int n_vocab,
                                   const petrel_token* history, int n_history) {
  return value_or_status<petrel_token>([&] {
    need(smp, "petrel_sampler_sample: sampler");
    need(logits, "petrel_sampler_sample: logits");
    if (n_vocab <= 0) throw ArgError("petrel_sampler_sample: n_vocab is " + std::to_string(n_vocab));
    return smp->s->sample(logits, n_vocab, tokens_of(history, n_history, "petrel_sampler_sample"));
  });
}

void petrel_session_cancel(petrel_session* s) {
  if (s) s->cancel.store(true);
}

}  // extern "C"

static_assert(int(petrel::FinishReason::kLength) == PETREL_FINISH_LENGTH &&
              int(petrel::FinishReason::kEos) == PETREL_FINISH_EOS &&
              int(petrel::FinishReason::kStop) == PETREL_FINISH_STOP &&
              int(petrel::FinishReason::kCancelled) == PETREL_FINISH_CANCELLED);
