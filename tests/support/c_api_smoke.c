/* Compiled as C (C99): the C API used from C the way an embedder would, for test_c_api.
 * petrel_c_smoke loads `path` on the CPU, tokenizes `prompt`, generates up to n_predict
 * tokens greedily and copies their text into text[cap] (NUL-terminated, cut to fit).
 * Returns the number of generated tokens, or a negative status (petrel_last_error says
 * why). */
#include <string.h>

#include "petrel/petrel_c.h"
#include "tests/support/c_api_smoke.h"

struct sink {
  char* text;
  size_t cap, len;
};

static int collect(const char* piece, size_t n, void* user) {
  struct sink* s = (struct sink*)user;
  size_t room = s->cap - 1 - s->len;
  size_t k = n < room ? n : room;
  memcpy(s->text + s->len, piece, k);
  s->len += k;
  s->text[s->len] = '\0';
  return 1;
}

int petrel_c_smoke(const char* path, const char* prompt, int n_predict, char* text, size_t cap) {
  petrel_model_params mp;
  petrel_session_params sp;
  petrel_generate_params gp;
  petrel_generate_result r;
  petrel_token toks[256];
  struct sink s;
  petrel_model* m;
  petrel_session* ses;
  int n, st;
  if (cap == 0) return PETREL_ERR_ARGUMENT;
  text[0] = '\0';
  petrel_model_params_default(&mp);
  m = petrel_model_load(path, &mp);
  if (!m) return PETREL_ERR_FAILED;
  n = petrel_tokenize(m, prompt, strlen(prompt), 1, toks, 256);
  if (n < 0 || n > 256) {
    petrel_model_free(m);
    return n < 0 ? n : PETREL_ERR_ARGUMENT;
  }
  petrel_session_params_default(&sp);
  sp.n_ctx = 128;
  sp.n_threads = 1;
  ses = petrel_session_new(m, &sp);
  if (!ses) {
    petrel_model_free(m);
    return PETREL_ERR_FAILED;
  }
  petrel_generate_params_default(&gp);
  gp.temperature = 0.0f;
  gp.n_predict = n_predict;
  s.text = text;
  s.cap = cap;
  s.len = 0;
  memset(&r, 0, sizeof r);
  r.struct_size = sizeof r;
  st = petrel_generate(ses, toks, n, &gp, collect, &s, &r);
  petrel_session_free(ses);
  petrel_model_free(m);
  return st == PETREL_OK ? r.n_gen : st;
}
