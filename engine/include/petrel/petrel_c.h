/* Petrel's C API: a stable, C-callable face of petrel.h for embedding (and for other
 * languages' foreign-function interfaces), built into libpetrel.so (CMake target petrel_c).
 *
 * - Opaque handles, created and freed in pairs: petrel_model_load / petrel_model_free,
 *   petrel_session_new / petrel_session_free. A session keeps a pointer to its model: free
 *   the sessions first.
 * - Calls return a status (PETREL_OK, or a negative PETREL_ERR_*), a count, or NULL; the
 *   message of the last failed call on the calling thread is petrel_last_error(). Nothing
 *   is printed, nothing exits, no exception crosses this API.
 * - Parameter structs open with struct_size: fill them with petrel_*_params_default (which
 *   sets it), change fields, pass them; NULL means the defaults. A later version only adds
 *   fields at the end, so a program built against this header keeps working.
 * - One thread at a time per session (and per model for loading and freeing); distinct
 *   sessions may run on distinct threads. petrel_session_cancel may be called from any
 *   thread at any time.
 */
#ifndef PETREL_PETREL_C_H
#define PETREL_PETREL_C_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define PETREL_C_EXPORT __attribute__((visibility("default")))
#else
#define PETREL_C_EXPORT
#endif

/* 1: models, tokenizer, sessions, generate; 2: devices, every token's logits, top-k,
 * samplers. A version only adds to the ones before. */
#define PETREL_C_API_VERSION 2

typedef int32_t petrel_token;
typedef struct petrel_model petrel_model;
typedef struct petrel_session petrel_session;
typedef struct petrel_sampler petrel_sampler;

enum {
  PETREL_OK = 0,
  PETREL_ERR_ARGUMENT = -1, /* a NULL handle, a bad size or count */
  PETREL_ERR_FAILED = -2    /* the engine failed: see petrel_last_error() */
};

/* PETREL_C_API_VERSION of the library (compare with the header's). */
PETREL_C_EXPORT int petrel_c_api_version(void);
/* The last failed call's message on this thread ("" before any failure); valid until that
 * thread's next failing call. */
PETREL_C_EXPORT const char* petrel_last_error(void);

/* ---- devices ------------------------------------------------------------------------ */
typedef struct {
  size_t struct_size;
  int index;              /* gpu_index of petrel_model_params */
  char name[256];
  char type[16];          /* "discrete", "integrated", "virtual", "cpu", "other" */
  char driver[128];
  uint64_t memory_bytes;  /* device-local memory */
  uint64_t budget_bytes;  /* VK_EXT_memory_budget's budget; 0 where the device has none */
  uint32_t subgroup_size;
} petrel_device_info;
/* The number of Vulkan devices; negative where there is no Vulkan loader or driver, or the
 * library was built without Vulkan (petrel_last_error() says which). */
PETREL_C_EXPORT int petrel_device_count(void);
/* Fills *out (set out->struct_size = sizeof *out first) for device `index` (0 <= index <
 * petrel_device_count()); strings are cut to their arrays, always NUL-terminated. */
PETREL_C_EXPORT int petrel_device_get(int index, petrel_device_info* out);

/* ---- models ----------------------------------------------------------------------- */
typedef struct {
  size_t struct_size;
  int use_gpu;      /* 0: CPU; 1: the Vulkan device gpu_index */
  int gpu_index;
  int gpu_layers;   /* layers offloaded (-1: all) */
  int gpu_required; /* 1: fail where the GPU cannot be used (else run on the CPU) */
  int vocab_only;   /* 1: the tokenizer only (no sessions) */
} petrel_model_params;
PETREL_C_EXPORT void petrel_model_params_default(petrel_model_params* p);
/* Loads a GGUF file (memory-mapped); NULL on failure. */
PETREL_C_EXPORT petrel_model* petrel_model_load(const char* path, const petrel_model_params* p);
PETREL_C_EXPORT void petrel_model_free(petrel_model* m);

typedef struct {
  size_t struct_size;
  const char* arch;      /* "llama", "qwen2" (owned by the model) */
  const char* name;      /* general.name, or "" */
  const char* file_type; /* "Q4_K_M" ..., or "" */
  int64_t n_params;
  uint64_t weight_bytes;
  int n_vocab, n_ctx_train, n_embd, n_layer, n_head, n_head_kv, n_ff;
} petrel_model_info;
/* Fills *out (set out->struct_size = sizeof *out first). */
PETREL_C_EXPORT int petrel_model_info_get(const petrel_model* m, petrel_model_info* out);

/* ---- tokenizer ---------------------------------------------------------------------- */
/* Tokenizes text_len bytes of text (add_special: BOS as the model wants it; special token
 * texts are parsed). Returns the number of tokens; where that exceeds capacity, nothing is
 * written (call again with room for that many). Negative on failure. */
PETREL_C_EXPORT int petrel_tokenize(const petrel_model* m, const char* text, size_t text_len,
                                    int add_special, petrel_token* out, int capacity);
/* Writes the text of n tokens into buf, NUL-terminated, where it fits in capacity bytes;
 * returns its length without the NUL (a larger value than capacity - 1: nothing useful
 * written, call again with that length + 1). Negative on failure. */
PETREL_C_EXPORT int64_t petrel_detokenize(const petrel_model* m, const petrel_token* ids, int n,
                                          char* buf, size_t capacity);
PETREL_C_EXPORT int petrel_token_is_eog(const petrel_model* m, petrel_token id);
PETREL_C_EXPORT petrel_token petrel_token_bos(const petrel_model* m);

/* ---- sessions (a KV cache and logits) ------------------------------------------------- */
typedef struct {
  size_t struct_size;
  int n_ctx;     /* 0: min(the model's context, 4096) */
  int n_threads; /* 0: every core */
  int n_batch;   /* prompt tokens per forward call */
} petrel_session_params;
PETREL_C_EXPORT void petrel_session_params_default(petrel_session_params* p);
/* NULL on failure (a vocab-only model, no memory, a GPU that cannot be used when required). */
PETREL_C_EXPORT petrel_session* petrel_session_new(petrel_model* m, const petrel_session_params* p);
PETREL_C_EXPORT void petrel_session_free(petrel_session* s);
PETREL_C_EXPORT int petrel_session_n_ctx(const petrel_session* s);
/* Tokens in the KV cache. */
PETREL_C_EXPORT int petrel_session_n_past(const petrel_session* s);
/* Drops the cache from position n on (0 clears it). */
PETREL_C_EXPORT int petrel_session_truncate(petrel_session* s, int n);
/* "cpu" or "vulkan (device)" (owned by the session). */
PETREL_C_EXPORT const char* petrel_session_backend(const petrel_session* s);

/* Evaluates n tokens at positions n_past.. (appended to the cache) and keeps the last
 * one's logits for petrel_session_logits. */
PETREL_C_EXPORT int petrel_session_eval(petrel_session* s, const petrel_token* tokens, int n);
/* The last eval's logits [n_vocab], valid until the session's next call that evaluates;
 * NULL where none are kept. */
PETREL_C_EXPORT const float* petrel_session_logits(const petrel_session* s);
/* Evaluates as petrel_session_eval and keeps every token's logits (petrel_session_logits_ith). */
PETREL_C_EXPORT int petrel_session_eval_all(petrel_session* s, const petrel_token* tokens, int n);
/* Token i's logits [n_vocab] of the last eval (i < 0: the last token's; eval keeps only
 * that one, eval_all every token's), valid as petrel_session_logits'; NULL where i is out of
 * range or none are kept. */
PETREL_C_EXPORT const float* petrel_session_logits_ith(const petrel_session* s, int i);
/* Evaluates as petrel_session_eval and returns the last token's min(k, n_vocab) largest
 * logits in logits_out and their ids in ids_out (capacity k each), ranked by logit
 * descending then id ascending; on a GPU (k <= 128) only those are read back. Returns the
 * number written; negative on failure. Keeps no logits. */
PETREL_C_EXPORT int petrel_session_eval_top_k(petrel_session* s, const petrel_token* tokens, int n,
                                              int k, float* logits_out, petrel_token* ids_out);
/* Evaluates as petrel_session_eval and returns the id of the last token's largest logit
 * (greedy; on a GPU only the id is read back); negative on failure. Keeps no logits. */
PETREL_C_EXPORT petrel_token petrel_session_eval_greedy(petrel_session* s, const petrel_token* tokens,
                                                        int n);

/* ---- generation ---------------------------------------------------------------------- */
typedef struct {
  size_t struct_size;
  float temperature; /* <= 0: greedy */
  int top_k;         /* <= 0: off */
  float top_p;       /* >= 1: off */
  float min_p;       /* <= 0: off */
  float repeat_penalty;
  int repeat_last_n;
  float presence_penalty;
  float frequency_penalty;
  uint64_t seed;
  int n_predict;          /* tokens to generate at most */
  const char* const* stop; /* n_stop stop strings (never emitted) */
  int n_stop;
} petrel_generate_params;
PETREL_C_EXPORT void petrel_generate_params_default(petrel_generate_params* p);

/* A sampler of its own (the draws of petrel_generate): made from the sampling fields of p
 * (temperature to seed; n_predict and the stop strings are not read; NULL: the defaults). */
PETREL_C_EXPORT petrel_sampler* petrel_sampler_new(const petrel_generate_params* p);
PETREL_C_EXPORT void petrel_sampler_free(petrel_sampler* smp);
/* Draws a token from logits[n_vocab] (not modified); history[n_history], the tokens so
 * far, feeds the penalties. Negative on failure. */
PETREL_C_EXPORT petrel_token petrel_sampler_sample(petrel_sampler* smp, const float* logits, int n_vocab,
                                                   const petrel_token* history, int n_history);

/* Receives generated text as it becomes final (len bytes, not NUL-terminated); return 0 to
 * stop generating. */
typedef int (*petrel_text_fn)(const char* text, size_t len, void* user);

enum { PETREL_FINISH_LENGTH = 0, PETREL_FINISH_EOS = 1, PETREL_FINISH_STOP = 2, PETREL_FINISH_CANCELLED = 3 };
typedef struct {
  size_t struct_size;
  int finish; /* PETREL_FINISH_* */
  int n_prompt, n_gen;
  double prompt_ms, gen_ms;
} petrel_generate_result;

/* Evaluates n_prompt prompt tokens in the session (after what it holds), then samples up to
 * n_predict tokens, passing their text to on_text (may be NULL). A callback's stop, or
 * petrel_session_cancel, ends it with PETREL_FINISH_CANCELLED (and PETREL_OK). result may be
 * NULL (else set result->struct_size first). */
PETREL_C_EXPORT int petrel_generate(petrel_session* s, const petrel_token* prompt, int n_prompt,
                                    const petrel_generate_params* p, petrel_text_fn on_text, void* user,
                                    petrel_generate_result* result);
/* Makes the session's running petrel_generate (or, where none runs, its next one) stop
 * before its next token; cleared when a petrel_generate returns. Any thread. */
PETREL_C_EXPORT void petrel_session_cancel(petrel_session* s);

#ifdef __cplusplus
}
#endif

#endif /* PETREL_PETREL_C_H */
