/* error.c - status names and error messages. */
#include "runtime/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *slm_status_name(slm_status status) {
    switch (status) {
    case SLM_OK: return "ok";
    case SLM_E_IO: return "io";
    case SLM_E_FORMAT: return "format";
    case SLM_E_NOMEM: return "out of memory";
    case SLM_E_TYPE: return "type";
    case SLM_E_NOT_FOUND: return "not found";
    case SLM_E_UNSUPPORTED: return "unsupported";
    case SLM_E_INVALID: return "invalid argument";
    case SLM_E_CONTEXT: return "context full";
    case SLM_E_CANCELLED: return "cancelled";
    case SLM_E_NETWORK: return "network";
    }
    return "unknown";
}

slm_status slm_fail(slm_error *err, slm_status status, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
        err->status = status;
    }
    return status;
}

void slm_error_prefix(slm_error *err, const char *fmt, ...) {
    if (!err) return;
    char prefix[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[sizeof err->message];
    memcpy(old, err->message, sizeof old);
    old[sizeof old - 1] = '\0';
    snprintf(err->message, sizeof err->message, "%s: %s", prefix, old);
}
