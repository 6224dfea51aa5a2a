/* vocab.c - loading the vocabulary (tokenizer.ggml.*) from a GGUF file, and
 * the accessors of the public API. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"
#include "tokenizer/utf8.h"
#include "tokenizer/vocab_internal.h"

#define KEY_MODEL "tokenizer.ggml.model"
#define KEY_PRE "tokenizer.ggml.pre"
#define KEY_TOKENS "tokenizer.ggml.tokens"
#define KEY_SCORES "tokenizer.ggml.scores"
#define KEY_TYPES "tokenizer.ggml.token_type"
#define KEY_MERGES "tokenizer.ggml.merges"

/* Texts that mark a token as an end of generation (chat turn ends), for
 * files that do not name their EOT token. */
static const char *const EOG_TEXTS[] = {
    "<|eot_id|>",  "<|im_end|>", "<|end|>",          "<|return|>",        "<|call|>",
    "<end_of_turn>", "<|endoftext|>", "<|eom_id|>",   "<EOT>",             "_<EOT>",
    "<|end_of_text|>", "<end_of_utterance>",
};

static slm_status load_kind(slm_vocab *v, const slm_gguf *g, slm_error *err) {
    slm_str model = {0};
    slm_status s = slm_gguf_get_str(g, KEY_MODEL, &model, err);
    if (s) return s;
    if (slm_str_eq(model, "llama")) v->kind = SLM_VOCAB_SPM;
    else if (slm_str_eq(model, "gpt2")) v->kind = SLM_VOCAB_BPE;
    else if (slm_str_eq(model, "bert")) v->kind = SLM_VOCAB_WPM;
    else
        return slm_fail(err, SLM_E_UNSUPPORTED, "%s: %s = '%.*s' is not a supported tokenizer (llama, gpt2, bert)",
                        slm_gguf_path(g), KEY_MODEL, (int)(model.len > 64 ? 64 : model.len), model.ptr);

    slm_str pre = {0};
    if (slm_gguf_get(g, KEY_PRE)) {
        s = slm_gguf_get_str(g, KEY_PRE, &pre, err);
        if (s) return s;
        if (pre.len >= sizeof v->pre)
            return slm_fail(err, SLM_E_UNSUPPORTED, "%s: %s is too long (%llu bytes)", slm_gguf_path(g), KEY_PRE,
                            (unsigned long long)pre.len);
        memcpy(v->pre, pre.ptr, pre.len);
        v->pre[pre.len] = '\0';
    }
    return SLM_OK;
}

/* Copies the token texts into one arena and fills the text -> id map. */
static slm_status load_tokens(slm_vocab *v, const slm_gguf *g, slm_error *err) {
    const slm_gguf_value *arr = NULL;
    slm_status s = slm_gguf_get_arr(g, KEY_TOKENS, SLM_GGUF_STRING, &arr, err);
    if (s) return s;
    uint64_t n = arr->v.arr.n;
    if (n == 0 || n > INT32_MAX)
        return slm_fail(err, SLM_E_FORMAT, "%s: %s has %llu tokens", slm_gguf_path(g), KEY_TOKENS,
                        (unsigned long long)n);
    v->n_tokens = (int32_t)n;

    uint64_t total = 0;
    for (uint64_t i = 0; i < n; i++) total += arr->v.arr.strs[i].len;
    v->arena = malloc(total ? total : 1);
    v->text = calloc(n, sizeof *v->text);
    v->scores = calloc(n, sizeof *v->scores);
    v->types = malloc(n);
    if (!v->arena || !v->text || !v->scores || !v->types || !slm_strmap_init(&v->ids, n))
        return slm_fail(err, SLM_E_NOMEM, "%s: out of memory for %llu tokens", slm_gguf_path(g),
                        (unsigned long long)n);

    char *p = v->arena;
    for (uint64_t i = 0; i < n; i++) {
        slm_str t = arr->v.arr.strs[i];
        if (t.len) memcpy(p, t.ptr, t.len);
        v->text[i].ptr = p;
        v->text[i].len = t.len;
        v->types[i] = SLM_TOKEN_NORMAL;
        p += t.len;
    }
    /* Walk backwards so that the last of duplicate texts wins, as in llama.cpp. */
    for (uint64_t i = n; i-- > 0;) {
        if (v->text[i].len == 0) continue;
        if (!slm_strmap_put(&v->ids, v->text[i].ptr, v->text[i].len, (int32_t)i))
            return slm_fail(err, SLM_E_NOMEM, "%s: token map is full", slm_gguf_path(g));
    }
    return SLM_OK;
}

static slm_status load_scores_and_types(slm_vocab *v, const slm_gguf *g, slm_error *err) {
    const slm_gguf_value *arr = NULL;
    slm_status s;
    if (slm_gguf_get(g, KEY_SCORES)) {
        s = slm_gguf_get_arr(g, KEY_SCORES, SLM_GGUF_F32, &arr, err);
        if (s) return s;
        if (arr->v.arr.n != (uint64_t)v->n_tokens)
            return slm_fail(err, SLM_E_FORMAT, "%s: %s has %llu entries for %d tokens", slm_gguf_path(g),
                            KEY_SCORES, (unsigned long long)arr->v.arr.n, v->n_tokens);
        memcpy(v->scores, arr->v.arr.data, (size_t)v->n_tokens * sizeof(float));
    }
    const slm_gguf_value *tv = slm_gguf_get(g, KEY_TYPES);
    if (!tv) return SLM_OK;
    if (tv->type != SLM_GGUF_ARRAY || (tv->v.arr.type != SLM_GGUF_I32 && tv->v.arr.type != SLM_GGUF_U32))
        return slm_fail(err, SLM_E_TYPE, "%s: %s must be an array of i32", slm_gguf_path(g), KEY_TYPES);
    if (tv->v.arr.n != (uint64_t)v->n_tokens)
        return slm_fail(err, SLM_E_FORMAT, "%s: %s has %llu entries for %d tokens", slm_gguf_path(g), KEY_TYPES,
                        (unsigned long long)tv->v.arr.n, v->n_tokens);
    const int32_t *types = tv->v.arr.data;
    for (int32_t i = 0; i < v->n_tokens; i++)
        v->types[i] = (types[i] >= SLM_TOKEN_NORMAL && types[i] <= SLM_TOKEN_BYTE) ? (uint8_t)types[i]
                                                                                  : SLM_TOKEN_UNDEFINED;
    return SLM_OK;
}

/* A special token id from key, keeping *id when the key is absent or holds
 * an id outside the vocabulary (files write 0xFFFFFFFF for "none"). */
static slm_status load_special_id(const slm_vocab *v, const slm_gguf *g, const char *key, slm_token *id,
                                  slm_error *err) {
    if (!slm_gguf_get(g, key)) return SLM_OK;
    int64_t value = 0;
    slm_status s = slm_gguf_get_int(g, key, &value, err);
    if (s == SLM_E_FORMAT) return SLM_OK; /* u64/u32 too large for int64: means "none" */
    if (s) return s;
    if (value >= 0 && value < v->n_tokens) *id = (slm_token)value;
    return SLM_OK;
}

static slm_status load_bool(const slm_gguf *g, const char *key, bool *out, slm_error *err) {
    if (!slm_gguf_get(g, key)) return SLM_OK;
    return slm_gguf_get_bool(g, key, out, err);
}

static slm_status load_specials(slm_vocab *v, const slm_gguf *g, slm_error *err) {
    bool spm = v->kind == SLM_VOCAB_SPM;
    v->bos = spm && v->n_tokens > 1 ? 1 : -1;
    v->eos = spm && v->n_tokens > 2 ? 2 : -1;
    v->unk = spm ? 0 : -1;
    v->eot = v->eom = v->pad = v->sep = -1;
    static const struct {
        const char *key;
        size_t offset;
    } KEYS[] = {
        {"tokenizer.ggml.bos_token_id", offsetof(slm_vocab, bos)},
        {"tokenizer.ggml.eos_token_id", offsetof(slm_vocab, eos)},
        {"tokenizer.ggml.eot_token_id", offsetof(slm_vocab, eot)},
        {"tokenizer.ggml.eom_token_id", offsetof(slm_vocab, eom)},
        {"tokenizer.ggml.unknown_token_id", offsetof(slm_vocab, unk)},
        {"tokenizer.ggml.padding_token_id", offsetof(slm_vocab, pad)},
        {"tokenizer.ggml.seperator_token_id", offsetof(slm_vocab, sep)},
    };
    for (size_t i = 0; i < sizeof KEYS / sizeof KEYS[0]; i++) {
        slm_status s = load_special_id(v, g, KEYS[i].key, (slm_token *)((char *)v + KEYS[i].offset), err);
        if (s) return s;
    }
    slm_status s = load_bool(g, "tokenizer.ggml.add_bos_token", &v->add_bos, err);
    if (!s) s = load_bool(g, "tokenizer.ggml.add_eos_token", &v->add_eos, err);
    if (!s) s = load_bool(g, "tokenizer.ggml.add_space_prefix", &v->add_space_prefix, err);
    return s;
}

static bool is_eog_text(slm_str t) {
    for (size_t i = 0; i < sizeof EOG_TEXTS / sizeof EOG_TEXTS[0]; i++)
        if (slm_str_eq(t, EOG_TEXTS[i])) return true;
    return false;
}

static int cmp_token(const void *a, const void *b) {
    slm_token x = *(const slm_token *)a, y = *(const slm_token *)b;
    return (x > y) - (x < y);
}

static bool eog_add(slm_vocab *v, slm_token t) {
    if (t < 0) return true;
    for (size_t i = 0; i < v->n_eog; i++)
        if (v->eog[i] == t) return true;
    slm_token *grown = realloc(v->eog, (v->n_eog + 1) * sizeof *grown);
    if (!grown) return false;
    v->eog = grown;
    v->eog[v->n_eog++] = t;
    return true;
}

/* The end-of-generation set: EOS, EOT, EOM and the tokens whose text says
 * "end of turn".  Those are control tokens whatever the file says, so that
 * they never print and user text cannot produce them. */
static slm_status find_eog(slm_vocab *v, const slm_gguf *g, slm_error *err) {
    for (int32_t i = 0; i < v->n_tokens; i++) {
        if (!is_eog_text(v->text[i])) continue;
        if (v->eot < 0 && !slm_str_eq(v->text[i], "<|eom_id|>") && !slm_str_eq(v->text[i], "<|return|>") &&
            !slm_str_eq(v->text[i], "<|call|>"))
            v->eot = i;
        if (v->eom < 0 && slm_str_eq(v->text[i], "<|eom_id|>")) v->eom = i;
        v->types[i] = SLM_TOKEN_CONTROL;
        if (!eog_add(v, i)) return slm_fail(err, SLM_E_NOMEM, "%s: out of memory", slm_gguf_path(g));
    }
    if (!eog_add(v, v->eos) || !eog_add(v, v->eot) || !eog_add(v, v->eom))
        return slm_fail(err, SLM_E_NOMEM, "%s: out of memory", slm_gguf_path(g));
    if (v->n_eog) qsort(v->eog, v->n_eog, sizeof *v->eog, cmp_token);
    return SLM_OK;
}

/* Sorting context for the special-token list (qsort has no user pointer). */
typedef struct special_entry {
    slm_token id;
    uint64_t len;
} special_entry;

static int cmp_special(const void *a, const void *b) {
    const special_entry *x = a, *y = b;
    if (x->len != y->len) return x->len < y->len ? 1 : -1;
    return (x->id > y->id) - (x->id < y->id);
}

static slm_status collect_specials(slm_vocab *v, const slm_gguf *g, slm_error *err) {
    size_t n = 0;
    for (int32_t i = 0; i < v->n_tokens; i++) {
        uint8_t t = v->types[i];
        if ((t == SLM_TOKEN_CONTROL || t == SLM_TOKEN_USER_DEFINED || t == SLM_TOKEN_UNKNOWN) && v->text[i].len) n++;
    }
    if (!n) return SLM_OK;
    special_entry *e = malloc(n * sizeof *e);
    v->specials = malloc(n * sizeof *v->specials);
    if (!e || !v->specials) {
        free(e);
        return slm_fail(err, SLM_E_NOMEM, "%s: out of memory", slm_gguf_path(g));
    }
    n = 0;
    for (int32_t i = 0; i < v->n_tokens; i++) {
        uint8_t t = v->types[i];
        if ((t == SLM_TOKEN_CONTROL || t == SLM_TOKEN_USER_DEFINED || t == SLM_TOKEN_UNKNOWN) && v->text[i].len)
            e[n++] = (special_entry){i, v->text[i].len};
    }
    qsort(e, n, sizeof *e, cmp_special);
    for (size_t i = 0; i < n; i++) v->specials[i] = e[i].id;
    v->n_specials = n;
    free(e);
    return SLM_OK;
}

static void find_byte_tokens(slm_vocab *v) {
    static const char HEX[] = "0123456789ABCDEF";
    for (int cp = 0; cp < 324; cp++) v->cp_byte[cp] = (int16_t)slm_cp_to_byte((uint32_t)cp);
    for (int b = 0; b < 256; b++) {
        v->byte_cp[b] = (uint16_t)slm_byte_to_cp((uint8_t)b);
        slm_token id = -1;
        if (v->kind == SLM_VOCAB_BPE) {
            char utf8[4];
            size_t n = slm_utf8_encode(v->byte_cp[b], utf8);
            id = slm_strmap_get(&v->ids, utf8, n);
        } else {
            char name[6] = {'<', '0', 'x', HEX[b >> 4], HEX[b & 15], '>'};
            id = slm_strmap_get(&v->ids, name, sizeof name);
            if (id < 0) {
                char c = (char)b;
                id = slm_strmap_get(&v->ids, &c, 1);
            }
        }
        v->byte_token[b] = id;
    }
}

/* BPE merges "left right", ranked by their order.  A merge whose parts or
 * result are not tokens can never fire, so it is left out. */
static slm_status load_merges(slm_vocab *v, const slm_gguf *g, slm_error *err) {
    const slm_gguf_value *arr = NULL;
    slm_status s = slm_gguf_get_arr(g, KEY_MERGES, SLM_GGUF_STRING, &arr, err);
    if (s == SLM_E_NOT_FOUND)
        return slm_fail(err, SLM_E_FORMAT, "%s: BPE vocabulary without %s", slm_gguf_path(g), KEY_MERGES);
    if (s) return s;
    uint64_t n = arr->v.arr.n;
    if (n > INT32_MAX)
        return slm_fail(err, SLM_E_FORMAT, "%s: %s has %llu entries", slm_gguf_path(g), KEY_MERGES,
                        (unsigned long long)n);
    if (!slm_pairmap_init(&v->merges, n))
        return slm_fail(err, SLM_E_NOMEM, "%s: out of memory for %llu merges", slm_gguf_path(g),
                        (unsigned long long)n);
    char stack_buf[256];
    for (uint64_t i = 0; i < n; i++) {
        slm_str m = arr->v.arr.strs[i];
        /* The separator is the first space after the first byte (a part may
         * itself start with a space-like byte in exotic vocabularies). */
        const char *sp = m.len > 1 ? memchr(m.ptr + 1, ' ', m.len - 1) : NULL;
        if (!sp) continue;
        size_t llen = (size_t)(sp - m.ptr), rlen = m.len - llen - 1;
        slm_token left = slm_strmap_get(&v->ids, m.ptr, llen);
        slm_token right = slm_strmap_get(&v->ids, sp + 1, rlen);
        if (left < 0 || right < 0) continue;
        char *joined = llen + rlen <= sizeof stack_buf ? stack_buf : malloc(llen + rlen);
        if (!joined) return slm_fail(err, SLM_E_NOMEM, "%s: out of memory", slm_gguf_path(g));
        memcpy(joined, m.ptr, llen);
        memcpy(joined + llen, sp + 1, rlen);
        slm_token result = slm_strmap_get(&v->ids, joined, llen + rlen);
        if (joined != stack_buf) free(joined);
        if (result < 0) continue;
        slm_pairmap_put(&v->merges, left, right, (int32_t)i, result);
    }
    return SLM_OK;
}

static slm_status load_bpe(slm_vocab *v, const slm_gguf *g, slm_error *err) {
    slm_pretok_spec spec;
    if (!slm_pretok_find(v->pre, &spec))
        return slm_fail(err, SLM_E_UNSUPPORTED, "%s: unknown pre-tokenizer '%s' (%s)", slm_gguf_path(g), v->pre,
                        KEY_PRE);
    v->ignore_merges = spec.ignore_merges;
    v->add_bos = spec.add_bos;
    v->add_eos = false;
    v->add_space_prefix = false;
    slm_status s = slm_pretok_compile(&v->pretok, &spec, err);
    if (s) {
        slm_error_prefix(err, "%s: pre-tokenizer '%s'", slm_gguf_path(g), v->pre[0] ? v->pre : "default");
        return s;
    }
    return load_merges(v, g, err);
}

slm_status slm_vocab_load(const slm_gguf *g, slm_vocab **out, slm_error *err) {
    *out = NULL;
    slm_vocab *v = calloc(1, sizeof *v);
    if (!v) return slm_fail(err, SLM_E_NOMEM, "out of memory");
    slm_status s = load_kind(v, g, err);
    if (!s) s = load_tokens(v, g, err);
    if (!s) s = load_scores_and_types(v, g, err);
    if (!s && v->kind == SLM_VOCAB_SPM) {
        v->add_bos = true;
        v->add_space_prefix = true;
    }
    if (!s && v->kind == SLM_VOCAB_WPM) v->add_bos = true;
    if (!s && v->kind == SLM_VOCAB_BPE) s = load_bpe(v, g, err);
    if (!s) s = load_specials(v, g, err);
    if (!s) s = find_eog(v, g, err);
    if (!s) s = collect_specials(v, g, err);
    if (s) {
        slm_vocab_free(v);
        return s;
    }
    find_byte_tokens(v);
    *out = v;
    return SLM_OK;
}

void slm_vocab_free(slm_vocab *v) {
    if (!v) return;
    slm_pretok_free(&v->pretok);
    slm_strmap_free(&v->ids);
    slm_pairmap_free(&v->merges);
    free(v->text);
    free(v->scores);
    free(v->types);
    free(v->arena);
    free(v->specials);
    free(v->eog);
    free(v);
}

slm_vocab_kind slm_vocab_type(const slm_vocab *v) { return v->kind; }
int32_t slm_vocab_n_tokens(const slm_vocab *v) { return v->n_tokens; }
slm_token slm_vocab_bos(const slm_vocab *v) { return v->bos; }
slm_token slm_vocab_eos(const slm_vocab *v) { return v->eos; }
slm_token slm_vocab_eot(const slm_vocab *v) { return v->eot; }
bool slm_vocab_add_bos(const slm_vocab *v) { return v->add_bos && v->bos >= 0; }
bool slm_vocab_add_eos(const slm_vocab *v) { return v->add_eos && v->eos >= 0; }

bool slm_vocab_is_eog(const slm_vocab *v, slm_token t) {
    if (t < 0 || v->n_eog == 0) return false;
    return bsearch(&t, v->eog, v->n_eog, sizeof *v->eog, cmp_token) != NULL;
}

slm_str slm_vocab_token_text(const slm_vocab *v, slm_token t) {
    if (t < 0 || t >= v->n_tokens) return (slm_str){"", 0};
    return v->text[t];
}

slm_token_type slm_vocab_token_type(const slm_vocab *v, slm_token t) {
    if (t < 0 || t >= v->n_tokens) return SLM_TOKEN_UNDEFINED;
    return (slm_token_type)v->types[t];
}
