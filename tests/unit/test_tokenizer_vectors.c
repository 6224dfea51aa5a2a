/* test_tokenizer_vectors.c - conformance with llama.cpp's tokenizer test
 * vectors (models/vocab/X.gguf.inp/.out and the stories260K pair): every
 * case must give exactly the expected ids with add_special = false and
 * parse_special = false, and detokenize back to its text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define SEPARATOR "\n__ggml_vocab_test__\n"

typedef struct vectors {
    char *inp, *out; /* whole files */
    char **cases;    /* into inp, NUL-terminated in place */
    size_t *case_len;
    char **lines;    /* into out */
    size_t n;
} vectors;

static void vectors_free(vectors *t) {
    free(t->inp);
    free(t->out);
    free(t->cases);
    free(t->case_len);
    free(t->lines);
}

/* Splits .inp on the separator (the file ends with one) and .out on lines. */
static void vectors_load(vectors *t, const char *inp_path, const char *out_path) {
    memset(t, 0, sizeof *t);
    size_t inp_len = 0, out_len = 0;
    t->inp = slm_test_read_file(inp_path, &inp_len);
    t->out = slm_test_read_file(out_path, &out_len);
    assert_non_null(t->inp);
    assert_non_null(t->out);
    size_t cap = 1;
    for (const char *p = t->inp; (p = strstr(p, SEPARATOR)); p += strlen(SEPARATOR)) cap++;
    t->cases = calloc(cap, sizeof *t->cases);
    t->case_len = calloc(cap, sizeof *t->case_len);
    t->lines = calloc(cap, sizeof *t->lines);
    char *p = t->inp;
    for (char *sep; (sep = strstr(p, SEPARATOR)); p = sep + strlen(SEPARATOR)) {
        *sep = '\0';
        t->cases[t->n] = p;
        t->case_len[t->n++] = (size_t)(sep - p);
    }
    assert_int_equal(*p, '\0'); /* nothing after the last separator */
    size_t n_lines = 0;
    for (char *line = t->out; *line && n_lines < cap;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        t->lines[n_lines++] = line;
        if (!nl) break;
        line = nl + 1;
    }
    assert_int_equal(n_lines, t->n);
}

/* Parses one .out line (ids separated by spaces) into ids[]. */
static size_t parse_ids(const char *line, slm_token *ids, size_t cap) {
    size_t n = 0;
    const char *p = line;
    while (*p) {
        char *end = NULL;
        long v = strtol(p, &end, 10);
        if (end == p) {
            p++;
            continue;
        }
        if (n < cap) ids[n] = (slm_token)v;
        n++;
        p = end;
    }
    return n;
}

static bool has_token_type(const slm_vocab *v, const slm_token *ids, size_t n, slm_token_type type) {
    for (size_t i = 0; i < n; i++)
        if (slm_vocab_token_type(v, ids[i]) == type) return true;
    return false;
}

/* Concatenated pieces; SPM loses the space its tokenizer put in front. */
static char *detokenize(const slm_vocab *v, const slm_token *ids, size_t n, size_t *len) {
    size_t cap = 64, used = 0;
    char *buf = malloc(cap);
    for (size_t i = 0; i < n; i++) {
        size_t k = slm_token_to_piece(v, ids[i], false, NULL, 0);
        while (used + k + 1 > cap) buf = realloc(buf, cap *= 2);
        slm_token_to_piece(v, ids[i], false, buf + used, k);
        used += k;
    }
    if (slm_vocab_type(v) == SLM_VOCAB_SPM && used && buf[0] == ' ') memmove(buf, buf + 1, --used);
    *len = used;
    return buf;
}

static bool utf8_ok(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = u[i] < 0x80 ? 1 : (u[i] & 0xE0) == 0xC0 ? 2 : (u[i] & 0xF0) == 0xE0 ? 3 : (u[i] & 0xF8) == 0xF0 ? 4 : 0;
        if (!k || i + k > n) return false;
        for (size_t j = 1; j < k; j++)
            if ((u[i + j] & 0xC0) != 0x80) return false;
        i += k;
    }
    return true;
}

/* Runs every case of one vocabulary; returns the number of failures. */
static int run_vectors(const char *label, const char *gguf_path, const char *inp_path, const char *out_path) {
    slm_error err = {0};
    slm_gguf *g = NULL;
    slm_vocab *v = NULL;
    SLM_ASSERT_OK(slm_gguf_open(gguf_path, &g, &err), &err);
    SLM_ASSERT_OK(slm_vocab_load(g, &v, &err), &err);
    vectors t;
    vectors_load(&t, inp_path, out_path);

    int failures = 0, passed = 0, round_trips = 0;
    for (size_t i = 0; i < t.n; i++) {
        slm_token want[512];
        size_t n_want = parse_ids(t.lines[i], want, 512);
        slm_token *got = NULL;
        size_t n_got = 0;
        SLM_ASSERT_OK(slm_tokenize(v, t.cases[i], t.case_len[i], false, false, &got, &n_got, &err), &err);
        bool same = n_got == n_want && memcmp(got, want, n_got * sizeof *got) == 0;
        if (same) {
            passed++;
        } else {
            failures++;
            print_message("%s: case %zu '%s'\n  want:", label, i, t.cases[i]);
            for (size_t k = 0; k < n_want; k++) print_message(" %d", want[k]);
            print_message("\n  got: ");
            for (size_t k = 0; k < n_got; k++) print_message(" %d", got[k]);
            print_message("\n");
        }
        /* Round trip, where text survives tokenization: valid UTF-8 and no
         * unknown token in the way. */
        if (utf8_ok(t.cases[i], t.case_len[i]) && !has_token_type(v, got, n_got, SLM_TOKEN_UNKNOWN)) {
            size_t len = 0;
            char *back = detokenize(v, got, n_got, &len);
            if (len != t.case_len[i] || memcmp(back, t.cases[i], len) != 0) {
                failures++;
                print_message("%s: case %zu does not round-trip: '%.*s'\n", label, i, (int)len, back);
            } else {
                round_trips++;
            }
            free(back);
        }
        free(got);
    }
    print_message("%s: %d/%zu (round trips %d)\n", label, passed, t.n, round_trips);
    vectors_free(&t);
    slm_vocab_free(v);
    slm_gguf_close(g);
    return failures;
}

static void check_vocab(const char *name) {
    char gguf[1024], inp[1100], out[1100], rel[256];
    snprintf(rel, sizeof rel, "models/vocab/ggml-vocab-%s.gguf", name);
    /* gpt-2 and llama-spm must be there; the others are checked when present. */
    if (!strcmp(name, "gpt-2") || !strcmp(name, "llama-spm")) {
        SLM_REQUIRE_DATA(gguf, rel);
    } else if (!slm_test_find(gguf, sizeof gguf, rel)) {
        print_message("[  SKIP    ] %s: %s not found\n", name, gguf);
        skip();
    }
    snprintf(inp, sizeof inp, "%s.inp", gguf);
    snprintf(out, sizeof out, "%s.out", gguf);
    assert_int_equal(run_vectors(name, gguf, inp, out), 0);
}

#define VOCAB_TEST(fn, name) \
    static void fn(void **state) { (void)state; check_vocab(name); }

VOCAB_TEST(test_llama_spm, "llama-spm")
VOCAB_TEST(test_phi_3, "phi-3")
VOCAB_TEST(test_gpt_2, "gpt-2")
VOCAB_TEST(test_mpt, "mpt")
VOCAB_TEST(test_starcoder, "starcoder")
VOCAB_TEST(test_falcon, "falcon")
VOCAB_TEST(test_deepseek_llm, "deepseek-llm")
VOCAB_TEST(test_deepseek_coder, "deepseek-coder")
VOCAB_TEST(test_refact, "refact")
VOCAB_TEST(test_command_r, "command-r")
VOCAB_TEST(test_qwen2, "qwen2")
VOCAB_TEST(test_llama_bpe, "llama-bpe")

static void test_bert_bge_skipped(void **state) {
    (void)state;
    print_message("[  SKIP    ] bert-bge: the WPM (bert) tokenizer is not implemented\n");
    skip();
}

static void test_stories260k(void **state) {
    (void)state;
    char gguf[1024], inp[1024], out[1024];
    SLM_REQUIRE_DATA(gguf, "models/stories260K.gguf");
    SLM_REQUIRE_DATA(inp, "reference/stories260K/stories260K.gguf.inp");
    SLM_REQUIRE_DATA(out, "reference/stories260K/stories260K.gguf.out");
    assert_int_equal(run_vectors("stories260K", gguf, inp, out), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama_spm),      cmocka_unit_test(test_phi_3),
        cmocka_unit_test(test_gpt_2),          cmocka_unit_test(test_mpt),
        cmocka_unit_test(test_starcoder),      cmocka_unit_test(test_falcon),
        cmocka_unit_test(test_deepseek_llm),   cmocka_unit_test(test_deepseek_coder),
        cmocka_unit_test(test_refact),         cmocka_unit_test(test_command_r),
        cmocka_unit_test(test_qwen2),          cmocka_unit_test(test_llama_bpe),
        cmocka_unit_test(test_bert_bge_skipped), cmocka_unit_test(test_stories260k),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
