/* error.h - filling slm_error with a formatted, contextual message. */
#ifndef SLM_RUNTIME_ERROR_H
#define SLM_RUNTIME_ERROR_H

#include "slm.h"

#if defined(__GNUC__) || defined(__clang__)
#define SLM_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SLM_PRINTF(a, b)
#endif

/* Sets err (if not NULL) and returns status, so callers can write
 * `return slm_fail(err, SLM_E_FORMAT, "...", ...);`. */
slm_status slm_fail(slm_error *err, slm_status status, const char *fmt, ...) SLM_PRINTF(3, 4);

/* Prefixes an existing message: "context: old message". */
void slm_error_prefix(slm_error *err, const char *fmt, ...) SLM_PRINTF(2, 3);

#endif
