/* tests/support/c_api_smoke.c: the C API driven from C (see there). */
#ifndef PETREL_TESTS_C_API_SMOKE_H
#define PETREL_TESTS_C_API_SMOKE_H
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif
int petrel_c_smoke(const char* path, const char* prompt, int n_predict, char* text, size_t cap);
#ifdef __cplusplus
}
#endif
#endif
