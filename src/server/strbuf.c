/* strbuf.c - growable byte strings (see strbuf.h). */
#include "server/strbuf.h"

#include <stdlib.h>
#include <string.h>

void sb_init(strbuf *b) { memset(b, 0, sizeof *b); }

void sb_free(strbuf *b) {
    free(b->data);
    sb_init(b);
}

void sb_append(strbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1) cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) {
            b->oom = true;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    if (n) memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void sb_puts(strbuf *b, const char *s) { sb_append(b, s, strlen(s)); }

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

void sb_puts_trimmed(strbuf *b, const char *s) {
    size_t n = strlen(s);
    while (n && is_space(*s)) s++, n--;
    while (n && is_space(s[n - 1])) n--;
    sb_append(b, s, n);
}

char *sb_take(strbuf *b) {
    if (b->oom) {
        sb_free(b);
        return NULL;
    }
    if (!b->data) sb_append(b, "", 0);
    char *d = b->data;
    if (b->oom) return NULL;
    sb_init(b);
    return d;
}

void sb_append_token(strbuf *b, slm_detok *d, const slm_vocab *v, slm_token t) {
    char piece[256];
    size_t n = slm_detok_push(d, v, t, piece, sizeof piece);
    if (n <= sizeof piece) {
        sb_append(b, piece, n);
        return;
    }
    char *big = malloc(n); /* a long user-defined token */
    if (!big) {
        b->oom = true;
        return;
    }
    sb_append(b, big, slm_detok_push(d, v, t, big, n));
    free(big);
}
