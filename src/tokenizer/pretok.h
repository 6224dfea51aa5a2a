/* pretok.h - BPE pre-tokenizers: the regex lists that cut text into words
 * before byte-level BPE, chosen by tokenizer.ggml.pre, run with PCRE2. */
#ifndef SLM_TOKENIZER_PRETOK_H
#define SLM_TOKENIZER_PRETOK_H

#include <stdbool.h>
#include <stddef.h>

#include "slm.h"

#define SLM_PRETOK_MAX_REGEX 6

/* What a pre-tokenizer name selects. */
typedef struct slm_pretok_spec {
    const char *const *regexes; /* applied in order, each splitting the pieces of the last */
    size_t n_regexes;
    bool ignore_merges;
    bool add_bos;
} slm_pretok_spec;

/* False when the name is unknown.  "" (no tokenizer.ggml.pre key) selects
 * the "default" list. */
bool slm_pretok_find(const char *name, slm_pretok_spec *out);

typedef struct slm_pretok {
    void *codes[SLM_PRETOK_MAX_REGEX]; /* pcre2_code_8 * */
    size_t n;
} slm_pretok;

slm_status slm_pretok_compile(slm_pretok *p, const slm_pretok_spec *spec, slm_error *err);
void slm_pretok_free(slm_pretok *p);

/* A word: text[start, start + len). */
typedef struct slm_span {
    size_t start, len;
} slm_span;

/* Cuts valid UTF-8 text into words; *words is malloc'ed.  Every byte of the
 * text lands in exactly one word, in order. */
slm_status slm_pretok_split(const slm_pretok *p, const char *text, size_t len, slm_span **words,
                            size_t *n_words, slm_error *err);

#endif
