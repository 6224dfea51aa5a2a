/* detok.c - tokens back to text: slm_token_to_piece and the streaming
 * detokenizer that never cuts a UTF-8 character in two. */
#include <string.h>

#include "tokenizer/utf8.h"
#include "tokenizer/vocab_internal.h"

/* Appends to a caller buffer, counting what did not fit. */
typedef struct piece_writer {
    char *buf;
    size_t cap, n;
} piece_writer;

static void put(piece_writer *w, const char *s, size_t n) {
    if (w->n < w->cap) {
        size_t room = w->cap - w->n;
        memcpy(w->buf + w->n, s, n < room ? n : room);
    }
    w->n += n;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* "<0xNN>" -> NN, or -1. */
static int byte_token_value(slm_str t) {
    if (t.len != 6 || memcmp(t.ptr, "<0x", 3) != 0 || t.ptr[5] != '>') return -1;
    int hi = hex_digit(t.ptr[3]), lo = hex_digit(t.ptr[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

/* SPM: U+2581 stands for a space. */
static void put_spm(piece_writer *w, slm_str t) {
    size_t i = 0, run = 0;
    for (; i < t.len; i++) {
        if (i + 3 <= t.len && memcmp(t.ptr + i, "\xE2\x96\x81", 3) == 0) {
            put(w, t.ptr + run, i - run);
            put(w, " ", 1);
            i += 2;
            run = i + 1;
        }
    }
    put(w, t.ptr + run, t.len - run);
}

/* Byte-level BPE: each character of the GPT-2 alphabet is one byte; a
 * character outside it (a broken vocabulary) is kept as it is. */
static void put_bpe(const slm_vocab *v, piece_writer *w, slm_str t) {
    uint32_t cp = 0;
    for (size_t i = 0; i < t.len;) {
        size_t k = slm_utf8_decode(t.ptr + i, t.len - i, &cp);
        if (!k) k = 1, cp = 0xFFFFFFFF;
        if (cp < 324 && v->cp_byte[cp] >= 0) {
            char b = (char)v->cp_byte[cp];
            put(w, &b, 1);
        } else {
            put(w, t.ptr + i, k);
        }
        i += k;
    }
}

size_t slm_token_to_piece(const slm_vocab *v, slm_token t, bool special, char *buf, size_t cap) {
    if (t < 0 || t >= v->n_tokens) return 0;
    piece_writer w = {buf, cap, 0};
    slm_str text = v->text[t];
    switch ((slm_token_type)v->types[t]) {
    case SLM_TOKEN_CONTROL:
    case SLM_TOKEN_UNKNOWN:
        if (special) put(&w, text.ptr, text.len);
        break;
    case SLM_TOKEN_USER_DEFINED: put(&w, text.ptr, text.len); break;
    case SLM_TOKEN_NORMAL:
        if (v->kind == SLM_VOCAB_BPE) put_bpe(v, &w, text);
        else put_spm(&w, text);
        break;
    case SLM_TOKEN_BYTE: {
        int b = byte_token_value(text);
        if (b >= 0) {
            char c = (char)b;
            put(&w, &c, 1);
        }
        break;
    }
    case SLM_TOKEN_UNDEFINED:
    case SLM_TOKEN_UNUSED: break;
    }
    return w.n;
}

void slm_detok_init(slm_detok *d, bool strip_leading_space) {
    memset(d, 0, sizeof *d);
    d->at_start = strip_leading_space;
}

size_t slm_detok_push(slm_detok *d, const slm_vocab *v, slm_token t, char *out, size_t cap) {
    /* Pending bytes + the new piece are laid out in out before the tail is
     * kept back, so out must hold both.  Measuring first means a buffer too
     * small changes nothing: the caller can retry the same token. */
    size_t need = d->n_pending + slm_token_to_piece(v, t, false, NULL, 0);
    if (need > cap) return need;
    if (need == 0) return 0; /* e.g. a control token: nothing to lay out */
    if (d->n_pending) memcpy(out, d->pending, d->n_pending);
    size_t n_piece = slm_token_to_piece(v, t, false, out + d->n_pending, cap - d->n_pending);
    char *piece = out + d->n_pending;
    if (d->at_start && n_piece > 0) {
        d->at_start = false;
        if (piece[0] == ' ') {
            memmove(piece, piece + 1, n_piece - 1);
            n_piece--;
        }
    }
    size_t total = d->n_pending + n_piece;
    size_t ready = slm_utf8_complete_prefix(out, total);
    d->n_pending = total - ready;
    memcpy(d->pending, out + ready, d->n_pending);
    return ready;
}

size_t slm_detok_flush(slm_detok *d, char *out, size_t cap) {
    size_t n = d->n_pending;
    if (n > cap) return n; /* kept: the caller retries with n bytes */
    if (n) memcpy(out, d->pending, n);
    d->n_pending = 0;
    return n;
}
