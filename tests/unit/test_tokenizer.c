/* test_tokenizer.c - one test per tokenizer rule, on small vocabularies
 * written for the test (SPM and byte-level BPE) and on stories260K. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define SP "\xE2\x96\x81" /* U+2581, SentencePiece's space */

/* ---- building small vocabularies ------------------------------------------ */

typedef struct tok_def {
    const char *text;
    float score;
    int32_t type;
} tok_def;

typedef struct vocab_file {
    const char *model;             /* "llama" or "gpt2" */
    const char *pre;               /* NULL: no tokenizer.ggml.pre key */
    const tok_def *tokens;
    size_t n_tokens;
    const char *const *merges;     /* gpt2 only */
    size_t n_merges;
    int add_bos, add_space_prefix; /* -1: key absent */
} vocab_file;

static void set_bool_key(slm_gguf_writer *w, const char *key, int value, slm_error *err) {
    if (value >= 0) SLM_ASSERT_OK(slm_gguf_writer_set_bool(w, key, value != 0, err), err);
}

/* Writes the vocabulary as a tensor-less GGUF and loads it.  Returns the
 * load status; on success *out holds the vocabulary. */
static slm_status load_vocab_file(const vocab_file *f, slm_vocab **out, slm_error *err) {
    char *dir = slm_test_tmpdir();
    assert_non_null(dir);
    char path[512];
    snprintf(path, sizeof path, "%s/vocab.gguf", dir);
    slm_gguf_writer *w = NULL;
    SLM_ASSERT_OK(slm_gguf_writer_new(path, &w, err), err);
    SLM_ASSERT_OK(slm_gguf_writer_set_str(w, "tokenizer.ggml.model", f->model, err), err);
    if (f->pre) SLM_ASSERT_OK(slm_gguf_writer_set_str(w, "tokenizer.ggml.pre", f->pre, err), err);
    slm_str *texts = calloc(f->n_tokens, sizeof *texts);
    float *scores = calloc(f->n_tokens, sizeof *scores);
    int32_t *types = calloc(f->n_tokens, sizeof *types);
    for (size_t i = 0; i < f->n_tokens; i++) {
        texts[i] = (slm_str){f->tokens[i].text, strlen(f->tokens[i].text)};
        scores[i] = f->tokens[i].score;
        types[i] = f->tokens[i].type ? f->tokens[i].type : SLM_TOKEN_NORMAL;
    }
    SLM_ASSERT_OK(slm_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", texts, f->n_tokens, err), err);
    SLM_ASSERT_OK(slm_gguf_writer_set_arr(w, "tokenizer.ggml.scores", SLM_GGUF_F32, scores, f->n_tokens, err), err);
    SLM_ASSERT_OK(slm_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", SLM_GGUF_I32, types, f->n_tokens, err),
                  err);
    if (f->merges) {
        slm_str *m = calloc(f->n_merges, sizeof *m);
        for (size_t i = 0; i < f->n_merges; i++) m[i] = (slm_str){f->merges[i], strlen(f->merges[i])};
        SLM_ASSERT_OK(slm_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", m, f->n_merges, err), err);
        free(m);
    }
    set_bool_key(w, "tokenizer.ggml.add_bos_token", f->add_bos, err);
    set_bool_key(w, "tokenizer.ggml.add_space_prefix", f->add_space_prefix, err);
    SLM_ASSERT_OK(slm_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1, err), err);
    SLM_ASSERT_OK(slm_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2, err), err);
    SLM_ASSERT_OK(slm_gguf_writer_finish(w, err), err);
    slm_gguf_writer_free(w);
    free(texts);
    free(scores);
    free(types);

    slm_gguf *g = NULL;
    SLM_ASSERT_OK(slm_gguf_open(path, &g, err), err);
    slm_status s = slm_vocab_load(g, out, err);
    slm_gguf_close(g); /* the vocabulary keeps its own copy of everything */
    slm_test_rmtree(dir);
    free(dir);
    return s;
}

/* An SPM vocabulary over "abc" whose merges are decided by the scores. */
static slm_vocab *spm_vocab(float score_ab, float score_bc, int add_space_prefix) {
    tok_def t[] = {
        {"<unk>", 0, SLM_TOKEN_UNKNOWN}, {"<s>", 0, SLM_TOKEN_CONTROL}, {"</s>", 0, SLM_TOKEN_CONTROL},
        {"<0x61>", 0, SLM_TOKEN_BYTE},   {"<0xC3>", 0, SLM_TOKEN_BYTE}, {"<0xA9>", 0, SLM_TOKEN_BYTE},
        {SP, -1, 0},                     {"a", -2, 0},                  {"b", -2, 0},
        {"c", -2, 0},                    {"ab", score_ab, 0},           {"bc", score_bc, 0},
        {SP "a", -0.5f, 0},              {"<|user|>", 0, SLM_TOKEN_USER_DEFINED},
    };
    vocab_file f = {"llama", NULL, t, sizeof t / sizeof t[0], NULL, 0, -1, add_space_prefix};
    slm_vocab *v = NULL;
    slm_error err = {0};
    SLM_ASSERT_OK(load_vocab_file(&f, &v, &err), &err);
    return v;
}

/* Byte-level BPE over "abc": merges "b c" (rank 0) before "a b" (rank 1). */
static const tok_def BPE_TOKENS[] = {
    {"<unk>", 0, SLM_TOKEN_UNKNOWN}, {"<|bos|>", 0, SLM_TOKEN_CONTROL}, {"<|eos|>", 0, SLM_TOKEN_CONTROL},
    {"a", 0, 0}, {"b", 0, 0}, {"c", 0, 0}, {"ab", 0, 0}, {"bc", 0, 0}, {"\xC4\xA0", 0, 0} /* "Ġ" = space */,
    {"\xC4\xA0" "a", 0, 0},
};
static const char *const BPE_MERGES[] = {"b c", "a b", "\xC4\xA0 a"};

static slm_status bpe_vocab(const char *pre, int add_bos, slm_vocab **v, slm_error *err) {
    vocab_file f = {"gpt2", pre, BPE_TOKENS, sizeof BPE_TOKENS / sizeof BPE_TOKENS[0], BPE_MERGES,
                    sizeof BPE_MERGES / sizeof BPE_MERGES[0], add_bos, -1};
    return load_vocab_file(&f, v, err);
}

static size_t tokenize(const slm_vocab *v, const char *text, bool add_special, bool parse_special,
                       slm_token *ids, size_t cap) {
    slm_error err = {0};
    slm_token *out = NULL;
    size_t n = 0;
    SLM_ASSERT_OK(slm_tokenize(v, text, strlen(text), add_special, parse_special, &out, &n, &err), &err);
    assert_true(n <= cap);
    memcpy(ids, out, n * sizeof *ids);
    free(out);
    return n;
}

#define ASSERT_IDS(got, n, ...)                                                 \
    do {                                                                        \
        const slm_token want__[] = {__VA_ARGS__};                               \
        assert_int_equal((n), sizeof want__ / sizeof want__[0]);                \
        for (size_t i__ = 0; i__ < (n); i__++) assert_int_equal((got)[i__], want__[i__]); \
    } while (0)

/* ---- SPM -------------------------------------------------------------------- */

static void test_spm_merge_priority(void **state) {
    (void)state;
    slm_token ids[16];
    slm_vocab *v = spm_vocab(-1.0f, -0.1f, 0); /* "bc" scores higher: a + bc */
    ASSERT_IDS(ids, tokenize(v, "abc", false, false, ids, 16), 7, 11);
    slm_vocab_free(v);
    v = spm_vocab(-0.1f, -1.0f, 0); /* "ab" scores higher: ab + c */
    ASSERT_IDS(ids, tokenize(v, "abc", false, false, ids, 16), 10, 9);
    slm_vocab_free(v);
}

static void test_spm_space_prefix(void **state) {
    (void)state;
    slm_token ids[16];
    slm_vocab *v = spm_vocab(-1.0f, -0.1f, -1); /* key absent: SPM default is on */
    ASSERT_IDS(ids, tokenize(v, "a b", false, false, ids, 16), 12, 6, 8);
    /* add_special adds BOS (the SPM default) and still the space prefix. */
    ASSERT_IDS(ids, tokenize(v, "a", true, false, ids, 16), 1, 12);
    slm_vocab_free(v);
    v = spm_vocab(-1.0f, -0.1f, 0); /* tokenizer.ggml.add_space_prefix = false */
    ASSERT_IDS(ids, tokenize(v, "a b", false, false, ids, 16), 7, 6, 8);
    slm_vocab_free(v);
}

static void test_spm_byte_fallback_and_unknown(void **state) {
    (void)state;
    slm_token ids[16];
    slm_vocab *v = spm_vocab(-1.0f, -0.1f, 0);
    /* "é" (C3 A9) is no token: its bytes are.  "z" has neither: <unk>. */
    ASSERT_IDS(ids, tokenize(v, "\xC3\xA9z", false, false, ids, 16), 4, 5, 0);
    slm_vocab_free(v);
}

static void test_spm_stories_byte_fallback(void **state) {
    (void)state;
    char path[1024];
    SLM_REQUIRE_DATA(path, "models/stories260K.gguf");
    slm_error err = {0};
    slm_gguf *g = NULL;
    slm_vocab *v = NULL;
    SLM_ASSERT_OK(slm_gguf_open(path, &g, &err), &err);
    SLM_ASSERT_OK(slm_vocab_load(g, &v, &err), &err);
    slm_token ids[32];
    /* U+1F600 is F0 9F 98 80: four byte tokens <0xF0>.. (id = 3 + byte). */
    size_t n = tokenize(v, "\xF0\x9F\x98\x80", false, false, ids, 32);
    assert_true(n >= 4);
    ASSERT_IDS(ids + n - 4, 4, 3 + 0xF0, 3 + 0x9F, 3 + 0x98, 3 + 0x80);
    assert_true(slm_vocab_add_bos(v));
    assert_false(slm_vocab_add_eos(v));
    assert_true(slm_vocab_is_eog(v, slm_vocab_eos(v)));
    assert_false(slm_vocab_is_eog(v, 100));
    slm_vocab_free(v);
    slm_gguf_close(g);
}

/* ---- special tokens ----------------------------------------------------------- */

static void test_special_tokens_only_when_asked(void **state) {
    (void)state;
    slm_token ids[64];
    slm_vocab *v = spm_vocab(-1.0f, -0.1f, 0);
    /* Without parse_special, control texts are plain text (here: bytes/unk). */
    size_t n = tokenize(v, "<s>a</s>", false, false, ids, 64);
    for (size_t i = 0; i < n; i++) {
        assert_int_not_equal(ids[i], 1);
        assert_int_not_equal(ids[i], 2);
    }
    ASSERT_IDS(ids, tokenize(v, "<s>a</s>", false, true, ids, 64), 1, 7, 2);
    /* A user-defined token is an added word: matched either way. */
    ASSERT_IDS(ids, tokenize(v, "a<|user|>a", false, false, ids, 64), 7, 13, 7);
    slm_vocab_free(v);
}

static void test_special_longest_first(void **state) {
    (void)state;
    tok_def t[] = {
        {"<unk>", 0, SLM_TOKEN_UNKNOWN}, {"<s>", 0, SLM_TOKEN_CONTROL}, {"</s>", 0, SLM_TOKEN_CONTROL},
        {"<|a|>", 0, SLM_TOKEN_CONTROL}, {"<|a|><|a|>", 0, SLM_TOKEN_CONTROL}, {"x", 0, 0},
    };
    vocab_file f = {"llama", NULL, t, sizeof t / sizeof t[0], NULL, 0, 0, 0};
    slm_vocab *v = NULL;
    slm_error err = {0};
    SLM_ASSERT_OK(load_vocab_file(&f, &v, &err), &err);
    slm_token ids[16];
    ASSERT_IDS(ids, tokenize(v, "<|a|><|a|><|a|>x", false, true, ids, 16), 4, 3, 5);
    slm_vocab_free(v);
}

/* ---- BPE ---------------------------------------------------------------------- */

static void test_bpe_merge_ranks(void **state) {
    (void)state;
    slm_vocab *v = NULL;
    slm_error err = {0};
    SLM_ASSERT_OK(bpe_vocab("gpt-2", -1, &v, &err), &err);
    slm_token ids[16];
    /* "b c" has the better rank: a + bc, never ab + c. */
    ASSERT_IDS(ids, tokenize(v, "abc", false, false, ids, 16), 3, 7);
    ASSERT_IDS(ids, tokenize(v, "ab a", false, false, ids, 16), 6, 9);
    /* gpt-2 adds no BOS by default. */
    ASSERT_IDS(ids, tokenize(v, "ab", true, false, ids, 16), 6);
    slm_vocab_free(v);
}

static void test_bpe_pre_names(void **state) {
    (void)state;
    slm_vocab *v = NULL;
    slm_error err = {0};
    assert_int_equal(bpe_vocab("no-such-pre", -1, &v, &err), SLM_E_UNSUPPORTED);
    assert_null(v);
    assert_non_null(strstr(err.message, "'no-such-pre'"));
    /* No tokenizer.ggml.pre: the "default" regexes. */
    SLM_ASSERT_OK(bpe_vocab(NULL, -1, &v, &err), &err);
    slm_token ids[16];
    ASSERT_IDS(ids, tokenize(v, "abc", false, false, ids, 16), 3, 7);
    slm_vocab_free(v);
    /* llama-bpe: BOS by default, unless the file says otherwise. */
    SLM_ASSERT_OK(bpe_vocab("llama-bpe", -1, &v, &err), &err);
    assert_true(slm_vocab_add_bos(v));
    ASSERT_IDS(ids, tokenize(v, "ab", true, false, ids, 16), 1, 6);
    slm_vocab_free(v);
    SLM_ASSERT_OK(bpe_vocab("llama-bpe", 0, &v, &err), &err);
    assert_false(slm_vocab_add_bos(v));
    slm_vocab_free(v);
    /* Every supported name compiles. */
    const char *names[] = {"default", "llama3", "qwen2", "smollm", "starcoder", "falcon", "deepseek-llm",
                           "deepseek-coder", "deepseek-v3", "mpt", "refact", "phi-2", "olmo", "command-r",
                           "poro-chat", "viking", "tekken", "gpt-4o", "stablelm2", "dbrx"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (bpe_vocab(names[i], -1, &v, &err)) fail_msg("%s: %s", names[i], err.message);
        slm_vocab_free(v);
    }
}

/* ---- robustness ----------------------------------------------------------------- */

static void test_invalid_utf8_input(void **state) {
    (void)state;
    static const char bad[] = "a\xFF\xFE b\xC3 \xE2\x82 \xED\xA0\x80 \xC0\xAF c\x80";
    slm_error err = {0};
    slm_vocab *v = NULL;
    SLM_ASSERT_OK(bpe_vocab("gpt-2", -1, &v, &err), &err);
    slm_token *ids = NULL;
    size_t n = 0;
    SLM_ASSERT_OK(slm_tokenize(v, bad, sizeof bad - 1, false, false, &ids, &n, &err), &err);
    assert_true(n > 0);
    free(ids);
    slm_vocab_free(v);

    v = spm_vocab(-1.0f, -0.1f, 0);
    SLM_ASSERT_OK(slm_tokenize(v, bad, sizeof bad - 1, false, true, &ids, &n, &err), &err);
    assert_true(n > 0);
    free(ids);
    /* Empty text: no tokens, and a freeable array. */
    SLM_ASSERT_OK(slm_tokenize(v, "", 0, false, false, &ids, &n, &err), &err);
    assert_int_equal(n, 0);
    free(ids);
    slm_vocab_free(v);
}

static void test_bad_vocab_files(void **state) {
    (void)state;
    slm_error err = {0};
    slm_vocab *v = NULL;
    vocab_file f = {"gpt2", "gpt-2", BPE_TOKENS, sizeof BPE_TOKENS / sizeof BPE_TOKENS[0], NULL, 0, -1, -1};
    assert_int_equal(load_vocab_file(&f, &v, &err), SLM_E_FORMAT); /* BPE without merges */
    assert_non_null(strstr(err.message, "tokenizer.ggml.merges"));
    f.model = "klingon";
    assert_int_equal(load_vocab_file(&f, &v, &err), SLM_E_UNSUPPORTED);
    assert_non_null(strstr(err.message, "klingon"));
    assert_null(v);
}

/* ---- detokenization --------------------------------------------------------------- */

static void test_token_to_piece(void **state) {
    (void)state;
    slm_vocab *v = spm_vocab(-1.0f, -0.1f, 0);
    char buf[32];
    assert_int_equal(slm_token_to_piece(v, 12, false, buf, sizeof buf), 2); /* "▁a" -> " a" */
    assert_memory_equal(buf, " a", 2);
    assert_int_equal(slm_token_to_piece(v, 1, false, buf, sizeof buf), 0); /* control: hidden */
    assert_int_equal(slm_token_to_piece(v, 1, true, buf, sizeof buf), 3);
    assert_memory_equal(buf, "<s>", 3);
    assert_int_equal(slm_token_to_piece(v, 4, false, buf, sizeof buf), 1); /* <0xC3> */
    assert_int_equal((unsigned char)buf[0], 0xC3);
    /* Too small a buffer: the full length comes back, nothing overflows. */
    buf[1] = 'X';
    assert_int_equal(slm_token_to_piece(v, 12, false, buf, 1), 2);
    assert_int_equal(buf[1], 'X');
    assert_int_equal(slm_token_to_piece(v, 999, false, buf, sizeof buf), 0);
    slm_vocab_free(v);

    slm_error err = {0};
    SLM_ASSERT_OK(bpe_vocab("gpt-2", -1, &v, &err), &err);
    assert_int_equal(slm_token_to_piece(v, 9, false, buf, sizeof buf), 2); /* "Ġa" -> " a" */
    assert_memory_equal(buf, " a", 2);
    slm_vocab_free(v);
}

static void test_detok_holds_back_partial_utf8(void **state) {
    (void)state;
    char path[1024];
    SLM_REQUIRE_DATA(path, "models/stories260K.gguf");
    slm_error err = {0};
    slm_gguf *g = NULL;
    slm_vocab *v = NULL;
    SLM_ASSERT_OK(slm_gguf_open(path, &g, &err), &err);
    SLM_ASSERT_OK(slm_vocab_load(g, &v, &err), &err);
    slm_token ids[64];
    size_t n = tokenize(v, "Hi \xF0\x9F\x98\x80!", true, false, ids, 64);
    slm_detok d;
    slm_detok_init(&d, true);
    char out[256], chunk[64];
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = slm_detok_push(&d, v, ids[i], chunk, sizeof chunk);
        /* Whatever comes out is whole characters: never a cut emoji. */
        if (k) assert_true(memchr(chunk, 0xF0, k) == NULL || (k >= 4 && chunk[k - 1] != (char)0xF0));
        memcpy(out + used, chunk, k);
        used += k;
    }
    used += slm_detok_flush(&d, out + used, sizeof out - used);
    assert_int_equal(used, strlen("Hi \xF0\x9F\x98\x80!"));
    assert_memory_equal(out, "Hi \xF0\x9F\x98\x80!", used);

    /* The bytes one by one: three pushes give nothing, the fourth all four. */
    slm_detok_init(&d, false);
    const uint8_t emoji[4] = {0xF0, 0x9F, 0x98, 0x80};
    for (int i = 0; i < 4; i++) {
        size_t k = slm_detok_push(&d, v, 3 + emoji[i], chunk, sizeof chunk);
        assert_int_equal(k, i < 3 ? 0 : 4);
    }
    assert_memory_equal(chunk, emoji, 4);
    /* A cut sequence comes out at the flush. */
    assert_int_equal(slm_detok_push(&d, v, 3 + 0xE2, chunk, sizeof chunk), 0);
    assert_int_equal(slm_detok_flush(&d, chunk, sizeof chunk), 1);
    assert_int_equal((unsigned char)chunk[0], 0xE2);
    slm_vocab_free(v);
    slm_gguf_close(g);
}

static void test_detok_strips_one_leading_space(void **state) {
    (void)state;
    slm_vocab *v = spm_vocab(-1.0f, -0.1f, 0);
    slm_detok d;
    char chunk[32];
    slm_detok_init(&d, true);
    assert_int_equal(slm_detok_push(&d, v, 1, chunk, sizeof chunk), 0);  /* <s>: nothing */
    assert_int_equal(slm_detok_push(&d, v, 12, chunk, sizeof chunk), 1); /* "▁a" -> "a" */
    assert_memory_equal(chunk, "a", 1);
    assert_int_equal(slm_detok_push(&d, v, 12, chunk, sizeof chunk), 2); /* later: " a" */
    slm_detok_init(&d, false);
    assert_int_equal(slm_detok_push(&d, v, 12, chunk, sizeof chunk), 2);
    slm_vocab_free(v);
}

/* A buffer too small is reported with the size it needs, and changes
 * nothing: the same token pushed again with that size gives the whole text. */
static void test_detok_never_cuts_a_small_buffer(void **state) {
    (void)state;
    slm_vocab *v = spm_vocab(-1.0f, -0.1f, 0);
    slm_detok d;
    char chunk[32];
    slm_detok_init(&d, false);
    assert_int_equal(slm_detok_push(&d, v, 4, chunk, sizeof chunk), 0); /* <0xC3>: held back */
    memset(chunk, 'x', sizeof chunk);
    /* "<|user|>" after the pending byte needs 9 bytes */
    assert_int_equal(slm_detok_push(&d, v, 13, chunk, 4), 9);
    assert_int_equal(chunk[0], 'x'); /* nothing written */
    assert_int_equal(d.n_pending, 1);
    assert_int_equal(slm_detok_push(&d, v, 13, chunk, 9), 9);
    assert_memory_equal(chunk, "\xC3<|user|>", 9);

    /* A completed character: too small, then right. */
    assert_int_equal(slm_detok_push(&d, v, 4, chunk, sizeof chunk), 0);
    assert_int_equal(slm_detok_push(&d, v, 5, chunk, 1), 2);
    assert_int_equal(slm_detok_push(&d, v, 5, chunk, 2), 2);
    assert_memory_equal(chunk, "\xC3\xA9", 2);

    /* The leading space is still stripped after a failed push. */
    slm_detok_init(&d, true);
    assert_int_equal(slm_detok_push(&d, v, 12, chunk, 1), 2); /* " a" laid out before stripping */
    assert_true(d.at_start);
    assert_int_equal(slm_detok_push(&d, v, 12, chunk, 2), 1);
    assert_memory_equal(chunk, "a", 1);

    /* flush: the same contract */
    assert_int_equal(slm_detok_push(&d, v, 4, chunk, sizeof chunk), 0);
    assert_int_equal(slm_detok_flush(&d, chunk, 0), 1);
    assert_int_equal(d.n_pending, 1);
    assert_int_equal(slm_detok_flush(&d, chunk, 1), 1);
    assert_int_equal((unsigned char)chunk[0], 0xC3);
    assert_int_equal(slm_detok_flush(&d, chunk, 1), 0);
    slm_vocab_free(v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spm_merge_priority),
        cmocka_unit_test(test_spm_space_prefix),
        cmocka_unit_test(test_spm_byte_fallback_and_unknown),
        cmocka_unit_test(test_spm_stories_byte_fallback),
        cmocka_unit_test(test_special_tokens_only_when_asked),
        cmocka_unit_test(test_special_longest_first),
        cmocka_unit_test(test_bpe_merge_ranks),
        cmocka_unit_test(test_bpe_pre_names),
        cmocka_unit_test(test_invalid_utf8_input),
        cmocka_unit_test(test_bad_vocab_files),
        cmocka_unit_test(test_token_to_piece),
        cmocka_unit_test(test_detok_holds_back_partial_utf8),
        cmocka_unit_test(test_detok_strips_one_leading_space),
        cmocka_unit_test(test_detok_never_cuts_a_small_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
