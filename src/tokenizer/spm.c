/* spm.c - SentencePiece-style BPE (tokenizer.ggml.model = "llama").
 *
 * The text (spaces already turned into U+2581) starts as one symbol per
 * UTF-8 character.  Repeatedly, of all adjacent pairs whose concatenation is
 * a token, the one whose token has the highest score is merged (leftmost on
 * ties).  A heap of candidate pairs keeps this O(n log n).  What is left is
 * looked up; a character that is not a token falls back to its bytes
 * ("<0xNN>" tokens), or to the unknown token. */
#include <stdlib.h>

#include "runtime/error.h"
#include "tokenizer/bigram.h"
#include "tokenizer/utf8.h"
#include "tokenizer/vocab_internal.h"

typedef struct spm_symbol {
    size_t start;  /* byte offset in the text */
    int32_t len;   /* bytes; 0 once merged into its left neighbour */
    int32_t prev, next;
} spm_symbol;

/* Queues (left, right) if their concatenation is a token. */
static bool queue_pair(const slm_vocab *v, const char *text, const spm_symbol *sym, int32_t left, int32_t right,
                       slm_bigram_queue *q) {
    if (left < 0 || right < 0) return true;
    int32_t len = sym[left].len + sym[right].len;
    slm_token id = slm_strmap_get(&v->ids, text + sym[left].start, (size_t)len);
    if (id < 0) return true;
    slm_bigram b = {.key = -(double)v->scores[id], .left = left, .right = right, .check_a = len};
    return slm_bigram_push(q, b);
}

static slm_status emit_bytes(const slm_vocab *v, const char *text, const spm_symbol *s, slm_tokbuf *out,
                             slm_error *err) {
    for (int32_t j = 0; j < s->len; j++) {
        uint8_t byte = (uint8_t)text[s->start + (size_t)j];
        slm_token id = v->byte_token[byte] >= 0 ? v->byte_token[byte] : v->unk;
        if (id < 0)
            return slm_fail(err, SLM_E_UNSUPPORTED,
                            "byte 0x%02X at offset %zu has no token and the vocabulary has no unknown token", byte,
                            s->start + (size_t)j);
        if (!slm_tokbuf_push(out, id)) return slm_fail(err, SLM_E_NOMEM, "out of memory");
    }
    return SLM_OK;
}

static int32_t split_symbols(const char *text, size_t len, spm_symbol *sym) {
    int32_t n = 0;
    for (size_t off = 0; off < len;) {
        size_t clen = slm_utf8_seq_len((unsigned char)text[off]);
        if (clen > len - off) clen = len - off;
        sym[n] = (spm_symbol){off, (int32_t)clen, n - 1, off + clen < len ? n + 1 : -1};
        off += clen;
        n++;
    }
    return n;
}

static slm_status merge_all(const slm_vocab *v, const char *text, spm_symbol *sym, int32_t n, slm_error *err) {
    slm_bigram_queue q = {0};
    bool ok = true;
    for (int32_t i = 1; ok && i < n; i++) ok = queue_pair(v, text, sym, i - 1, i, &q);
    slm_bigram b;
    while (ok && slm_bigram_pop(&q, &b)) {
        spm_symbol *l = &sym[b.left], *r = &sym[b.right];
        /* Stale entry: one side was merged away or grew since it was queued. */
        if (l->len == 0 || r->len == 0 || l->len + r->len != b.check_a) continue;
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0) sym[r->next].prev = b.left;
        ok = queue_pair(v, text, sym, l->prev, b.left, &q) && queue_pair(v, text, sym, b.left, l->next, &q);
    }
    slm_bigram_free(&q);
    return ok ? SLM_OK : slm_fail(err, SLM_E_NOMEM, "out of memory");
}

slm_status slm_spm_tokenize(const slm_vocab *v, const char *text, size_t len, slm_tokbuf *out, slm_error *err) {
    if (len == 0) return SLM_OK;
    if (len > INT32_MAX) return slm_fail(err, SLM_E_INVALID, "text too long (%zu bytes)", len);
    spm_symbol *sym = malloc(len * sizeof *sym);
    if (!sym) return slm_fail(err, SLM_E_NOMEM, "out of memory for %zu bytes of text", len);
    int32_t n = split_symbols(text, len, sym);
    slm_status s = merge_all(v, text, sym, n, err);
    for (int32_t i = 0; !s && i >= 0 && n > 0; i = sym[i].next) {
        slm_token id = slm_strmap_get(&v->ids, text + sym[i].start, (size_t)sym[i].len);
        if (id >= 0) {
            if (!slm_tokbuf_push(out, id)) s = slm_fail(err, SLM_E_NOMEM, "out of memory");
        } else {
            s = emit_bytes(v, text, &sym[i], out, err);
        }
    }
    free(sym);
    return s;
}
