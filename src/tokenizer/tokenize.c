/* tokenize.c - slm_tokenize: special tokens first, then the vocabulary's
 * own tokenizer on the plain text between them, plus BOS/EOS. */
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"
#include "tokenizer/vocab_internal.h"

bool slm_tokbuf_push(slm_tokbuf *b, slm_token t) {
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        slm_token *grown = realloc(b->ids, cap * sizeof *grown);
        if (!grown) return false;
        b->ids = grown;
        b->cap = cap;
    }
    b->ids[b->n++] = t;
    return true;
}

/* A piece of the input: a special token, or a run of plain text. */
typedef struct fragment {
    slm_token token; /* -1: plain text */
    size_t start, len;
} fragment;

typedef struct fragment_list {
    fragment *items;
    size_t n, cap;
} fragment_list;

static bool frag_push(fragment_list *l, fragment f) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        fragment *grown = realloc(l->items, cap * sizeof *grown);
        if (!grown) return false;
        l->items = grown;
        l->cap = cap;
    }
    l->items[l->n++] = f;
    return true;
}

/* Whether the text may name this special token.  Control and unknown
 * tokens only with parse_special; user-defined tokens are part of the
 * vocabulary's added words (e.g. runs of spaces in NeoX-style vocabularies)
 * and are always matched, as in Hugging Face tokenizers and llama.cpp. */
static bool special_allowed(const slm_vocab *v, slm_token id, bool parse_special) {
    return parse_special || v->types[id] == SLM_TOKEN_USER_DEFINED;
}

/* First occurrence of needle (n >= 1 bytes) in hay[0..len), or NULL
 * (memmem is not standard C). */
static const char *find_bytes(const char *hay, size_t len, const char *needle, size_t n) {
    const char *end = hay + len;
    while ((size_t)(end - hay) >= n) {
        const char *p = memchr(hay, (unsigned char)needle[0], (size_t)(end - hay) - n + 1);
        if (!p) return NULL;
        if (memcmp(p, needle, n) == 0) return p;
        hay = p + 1;
    }
    return NULL;
}

/* Cuts every text fragment of `in` at the occurrences of one token. */
static bool split_on(const char *text, slm_str tok, slm_token id, const fragment_list *in, fragment_list *out) {
    out->n = 0;
    for (size_t i = 0; i < in->n; i++) {
        fragment f = in->items[i];
        if (f.token >= 0 || f.len < tok.len) {
            if (!frag_push(out, f)) return false;
            continue;
        }
        size_t pos = f.start, end = f.start + f.len;
        while (end - pos >= tok.len) {
            const char *hit = find_bytes(text + pos, end - pos, tok.ptr, tok.len);
            if (!hit) break;
            size_t at = (size_t)(hit - text);
            if (at > pos && !frag_push(out, (fragment){-1, pos, at - pos})) return false;
            if (!frag_push(out, (fragment){id, at, tok.len})) return false;
            pos = at + tok.len;
        }
        if (pos < end && !frag_push(out, (fragment){-1, pos, end - pos})) return false;
    }
    return true;
}

/* Finds special tokens in the text, longest tokens first. */
static slm_status partition(const slm_vocab *v, const char *text, size_t len, bool parse_special,
                            fragment_list *out, slm_error *err) {
    fragment_list cur = {0}, next = {0};
    if (len && !frag_push(&cur, (fragment){-1, 0, len})) return slm_fail(err, SLM_E_NOMEM, "out of memory");
    for (size_t k = 0; k < v->n_specials && len; k++) {
        slm_token id = v->specials[k];
        if (!special_allowed(v, id, parse_special)) continue;
        if (!split_on(text, v->text[id], id, &cur, &next)) {
            free(cur.items);
            free(next.items);
            return slm_fail(err, SLM_E_NOMEM, "out of memory");
        }
        fragment_list t = cur;
        cur = next;
        next = t;
    }
    free(next.items);
    *out = cur;
    return SLM_OK;
}

/* SPM text: an optional leading space, and every space written as U+2581. */
static slm_status spm_fragment(const slm_vocab *v, const char *text, size_t len, bool prefix_space,
                               slm_tokbuf *out, slm_error *err) {
    size_t spaces = prefix_space ? 1 : 0;
    for (size_t i = 0; i < len; i++) spaces += text[i] == ' ';
    char *buf = malloc(len + spaces * 2 + 1);
    if (!buf) return slm_fail(err, SLM_E_NOMEM, "out of memory for %zu bytes of text", len);
    size_t n = 0;
    if (prefix_space) memcpy(buf + n, "\xE2\x96\x81", 3), n += 3;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') memcpy(buf + n, "\xE2\x96\x81", 3), n += 3;
        else buf[n++] = text[i];
    }
    slm_status s = slm_spm_tokenize(v, buf, n, out, err);
    free(buf);
    return s;
}

static slm_status tokenize_fragments(const slm_vocab *v, const char *text, const fragment_list *frags,
                                     slm_tokbuf *out, slm_error *err) {
    bool prev_special = true; /* SPM: the text at the start gets the space prefix too */
    for (size_t i = 0; i < frags->n; i++) {
        const fragment *f = &frags->items[i];
        slm_status s = SLM_OK;
        if (f->token >= 0) {
            if (!slm_tokbuf_push(out, f->token)) return slm_fail(err, SLM_E_NOMEM, "out of memory");
            prev_special = true;
            continue;
        }
        if (v->kind == SLM_VOCAB_SPM)
            s = spm_fragment(v, text + f->start, f->len, v->add_space_prefix && prev_special, out, err);
        else
            s = slm_bpe_tokenize(v, text + f->start, f->len, out, err);
        if (s) return s;
        prev_special = false;
    }
    return SLM_OK;
}

slm_status slm_tokenize(const slm_vocab *v, const char *text, size_t len, bool add_special, bool parse_special,
                        slm_token **out, size_t *n_out, slm_error *err) {
    *out = NULL;
    *n_out = 0;
    if (!text && len) return slm_fail(err, SLM_E_INVALID, "slm_tokenize: NULL text");
    if (v->kind != SLM_VOCAB_SPM && v->kind != SLM_VOCAB_BPE)
        return slm_fail(err, SLM_E_UNSUPPORTED, "tokenizing with a %s vocabulary is not supported",
                        v->kind == SLM_VOCAB_WPM ? "WPM (bert)" : "missing");

    fragment_list frags = {0};
    slm_status s = partition(v, text, len, parse_special, &frags, err);
    if (s) return s;
    slm_tokbuf buf = {0};
    if (add_special && slm_vocab_add_bos(v) && !slm_tokbuf_push(&buf, v->bos))
        s = slm_fail(err, SLM_E_NOMEM, "out of memory");
    if (!s) s = tokenize_fragments(v, text, &frags, &buf, err);
    if (!s && add_special && slm_vocab_add_eos(v) && !slm_tokbuf_push(&buf, v->eos))
        s = slm_fail(err, SLM_E_NOMEM, "out of memory");
    free(frags.items);
    if (s) {
        free(buf.ids);
        return s;
    }
    /* An empty result is still a valid (freeable) array. */
    if (!buf.ids && !(buf.ids = malloc(sizeof *buf.ids))) return slm_fail(err, SLM_E_NOMEM, "out of memory");
    *out = buf.ids;
    *n_out = buf.n;
    return SLM_OK;
}
