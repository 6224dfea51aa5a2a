/* bpe.c - byte-level BPE (tokenizer.ggml.model = "gpt2").
 *
 * The pre-tokenizer cuts the text into words; each word's bytes are written
 * in the GPT-2 byte alphabet, one symbol per byte, and adjacent symbols are
 * merged by the rank of their pair in tokenizer.ggml.merges (lowest first,
 * leftmost on ties) until no ranked pair is left. */
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"
#include "tokenizer/bigram.h"
#include "tokenizer/utf8.h"
#include "tokenizer/vocab_internal.h"

typedef struct bpe_symbol {
    slm_token id; /* -1: a byte whose character is not a token */
    uint8_t byte; /* the source byte, for the fallback */
    bool alive;
    int32_t prev, next;
} bpe_symbol;

typedef struct bpe_work {
    bpe_symbol *sym;
    size_t cap;
    slm_bigram_queue q;
    char *encoded; /* a word in the byte alphabet, for ignore_merges */
    size_t enc_cap;
} bpe_work;

static bool queue_pair(const slm_vocab *v, bpe_work *w, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return true;
    slm_token a = w->sym[left].id, b = w->sym[right].id;
    if (a < 0 || b < 0) return true;
    const slm_pairmap_slot *m = slm_pairmap_get(&v->merges, a, b);
    if (!m) return true;
    slm_bigram bg = {.key = m->rank, .left = left, .right = right, .check_a = a, .check_b = b};
    return slm_bigram_push(&w->q, bg);
}

static bool merge_word(const slm_vocab *v, bpe_work *w, int32_t n) {
    w->q.n = 0;
    for (int32_t i = 1; i < n; i++)
        if (!queue_pair(v, w, i - 1, i)) return false;
    slm_bigram b;
    while (slm_bigram_pop(&w->q, &b)) {
        bpe_symbol *l = &w->sym[b.left], *r = &w->sym[b.right];
        /* Stale: a side was merged away or is now another token. */
        if (!l->alive || !r->alive || l->next != b.right || l->id != b.check_a || r->id != b.check_b) continue;
        l->id = slm_pairmap_get(&v->merges, l->id, r->id)->result;
        r->alive = false;
        l->next = r->next;
        if (r->next >= 0) w->sym[r->next].prev = b.left;
        if (!queue_pair(v, w, l->prev, b.left) || !queue_pair(v, w, b.left, l->next)) return false;
    }
    return true;
}

/* A byte whose alphabet character is not a token: try the raw byte as a
 * one-character token, then the unknown token (llama.cpp drops it). */
static bool emit_fallback(const slm_vocab *v, uint8_t byte, slm_tokbuf *out) {
    char c = (char)byte;
    slm_token id = slm_strmap_get(&v->ids, &c, 1);
    if (id < 0) id = v->unk;
    return id < 0 || slm_tokbuf_push(out, id);
}

/* Whole-word lookup for vocabularies that skip merges when a word is a token. */
static slm_token whole_word(const slm_vocab *v, bpe_work *w, const char *word, size_t len) {
    if (w->enc_cap < len * 2) {
        char *grown = realloc(w->encoded, len * 2);
        if (!grown) return -2;
        w->encoded = grown;
        w->enc_cap = len * 2;
    }
    size_t n = 0;
    for (size_t i = 0; i < len; i++) n += slm_utf8_encode(v->byte_cp[(uint8_t)word[i]], w->encoded + n);
    return slm_strmap_get(&v->ids, w->encoded, n);
}

static slm_status tokenize_word(const slm_vocab *v, bpe_work *w, const char *word, size_t len, slm_tokbuf *out,
                                slm_error *err) {
    if (v->ignore_merges) {
        slm_token id = whole_word(v, w, word, len);
        if (id == -2) return slm_fail(err, SLM_E_NOMEM, "out of memory");
        if (id >= 0) return slm_tokbuf_push(out, id) ? SLM_OK : slm_fail(err, SLM_E_NOMEM, "out of memory");
    }
    if (len > w->cap) {
        bpe_symbol *grown = realloc(w->sym, len * sizeof *grown);
        if (!grown) return slm_fail(err, SLM_E_NOMEM, "out of memory");
        w->sym = grown;
        w->cap = len;
    }
    int32_t n = (int32_t)len;
    for (int32_t i = 0; i < n; i++) {
        uint8_t byte = (uint8_t)word[i];
        w->sym[i] = (bpe_symbol){v->byte_token[byte], byte, true, i - 1, i + 1 < n ? i + 1 : -1};
    }
    if (!merge_word(v, w, n)) return slm_fail(err, SLM_E_NOMEM, "out of memory");
    for (int32_t i = 0; i >= 0 && n > 0; i = w->sym[i].next) {
        bool ok = w->sym[i].id >= 0 ? slm_tokbuf_push(out, w->sym[i].id) : emit_fallback(v, w->sym[i].byte, out);
        if (!ok) return slm_fail(err, SLM_E_NOMEM, "out of memory");
    }
    return SLM_OK;
}

/* Invalid UTF-8 cannot go through the regexes: each bad byte becomes
 * U+FFFD, as llama.cpp does.  Returns NULL when out of memory. */
static char *replace_invalid_utf8(const char *text, size_t len, size_t *out_len) {
    char *buf = malloc(len * 3 + 1);
    if (!buf) return NULL;
    size_t n = 0;
    uint32_t cp = 0;
    for (size_t i = 0; i < len;) {
        size_t k = slm_utf8_decode(text + i, len - i, &cp);
        if (k) {
            memcpy(buf + n, text + i, k);
            n += k;
            i += k;
        } else {
            n += slm_utf8_encode(0xFFFD, buf + n);
            i++;
        }
    }
    *out_len = n;
    return buf;
}

slm_status slm_bpe_tokenize(const slm_vocab *v, const char *text, size_t len, slm_tokbuf *out, slm_error *err) {
    if (len == 0) return SLM_OK;
    if (len > INT32_MAX) return slm_fail(err, SLM_E_INVALID, "text too long (%zu bytes)", len);
    char *clean = NULL;
    if (!slm_utf8_valid(text, len)) {
        clean = replace_invalid_utf8(text, len, &len);
        if (!clean) return slm_fail(err, SLM_E_NOMEM, "out of memory");
        text = clean;
    }
    slm_span *words = NULL;
    size_t n_words = 0;
    slm_status s = slm_pretok_split(&v->pretok, text, len, &words, &n_words, err);
    bpe_work w = {0};
    for (size_t i = 0; !s && i < n_words; i++) s = tokenize_word(v, &w, text + words[i].start, words[i].len, out, err);
    free(w.sym);
    free(w.encoded);
    slm_bigram_free(&w.q);
    free(words);
    free(clean);
    return s;
}
