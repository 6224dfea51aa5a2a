/* strbuf.h - a growable byte string for building prompts, JSON and SSE
 * frames.  An allocation failure sticks (oom) so callers check once at the
 * end instead of after every append. */
#ifndef SLM_SERVER_STRBUF_H
#define SLM_SERVER_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

#include "slm.h"

typedef struct strbuf {
    char *data; /* always NUL-terminated once anything was appended */
    size_t len;
    size_t cap;
    bool oom;
} strbuf;

void sb_init(strbuf *b);
void sb_free(strbuf *b);
void sb_append(strbuf *b, const char *s, size_t n);
void sb_puts(strbuf *b, const char *s);
/* Appends s without leading and trailing ASCII whitespace (Jinja's trim). */
void sb_puts_trimmed(strbuf *b, const char *s);
/* Hands the string over to the caller (NULL after an allocation failure). */
char *sb_take(strbuf *b);
/* Appends the text token t completes (slm_detok_push), however long the
 * token's piece: never cut. */
void sb_append_token(strbuf *b, slm_detok *d, const slm_vocab *v, slm_token t);

#endif
