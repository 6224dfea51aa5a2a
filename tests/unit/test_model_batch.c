/* test_model_batch.c - decode semantics: one batch, chunks and token by token
 * give bitwise identical logits (for any thread count), sequences do not see
 * each other, the F16 cache stays close to F32, a full context is refused
 * before anything is evaluated. */
#include <string.h>

#include "test_model_ref.h"

static const slm_token P20[20] = {1, 457, 145, 136, 237, 458, 64, 129, 269, 125,
                                  211, 178, 39, 20, 53, 340, 505, 476, 356, 472};

/* Evaluates P20 in chunks of `chunk` tokens (logits for every token) and
 * copies the 20 rows of logits into out. */
static void run_chunked(const slm_model *m, slm_cache_type cache, uint32_t n_threads, int32_t chunk, float *out) {
    slm_context *c = ref_new_context(m, cache, false, n_threads);
    int64_t nv = slm_model_n_vocab(m);
    bool all[20];
    for (int i = 0; i < 20; i++) all[i] = true;
    slm_error err;
    for (int32_t i0 = 0; i0 < 20; i0 += chunk) {
        int32_t n = 20 - i0 < chunk ? 20 - i0 : chunk;
        slm_batch b = {.n_tokens = n, .tokens = P20 + i0, .logits = all};
        SLM_ASSERT_OK(slm_decode(c, &b, &err), &err);
        for (int32_t i = 0; i < n; i++) memcpy(out + (i0 + i) * nv, slm_get_logits(c, i), (size_t)nv * sizeof(float));
    }
    assert_int_equal(slm_kv_seq_len(c, 0), 20);
    slm_context_free(c);
}

/* Loads a shared model and the logits of P20 in one batch, every token
 * asking for them: the reference the tests below compare with.  Skips the
 * test (cmocka's skip() leaves through a long jump) without the data. */
static float *load_with_logits(const char *rel, slm_model **m) {
    char path[4096];
    SLM_REQUIRE_DATA(path, rel);
    *m = ref_load_model(path);
    float *all = malloc(20 * (size_t)slm_model_n_vocab(*m) * sizeof(float));
    run_chunked(*m, SLM_CACHE_F16, 1, 20, all);
    return all;
}

static void check_invariance(const char *rel) {
    slm_model *m = NULL;
    float *one = load_with_logits(rel, &m);
    size_t size = 20 * (size_t)slm_model_n_vocab(m) * sizeof(float);
    float *other = malloc(size);
    const int32_t chunks[] = {7, 1, 20, 3};
    const uint32_t threads[] = {1, 1, 3, 2};
    for (int k = 0; k < 4; k++) {
        run_chunked(m, SLM_CACHE_F16, threads[k], chunks[k], other);
        if (memcmp(one, other, size) != 0)
            fail_msg("%s: chunks of %d with %u threads differ from one batch", rel, chunks[k], threads[k]);
    }
    free(one);
    free(other);
    slm_model_free(m);
}

static void test_invariance_f32(void **state) { (void)state; check_invariance("reference/synthetic/llama-a.gguf"); }
static void test_invariance_qwen2(void **state) { (void)state; check_invariance("reference/synthetic/qwen2-c.gguf"); }
static void test_invariance_q4_1(void **state) { (void)state; check_invariance("reference/synthetic/llama-k-Q4_1.gguf"); }
static void test_invariance_f16(void **state) { (void)state; check_invariance("reference/stories260K/stories260K-F16.gguf"); }

/* Logits for a few tokens only: the last layer then runs just those rows
 * past the cache (forward.c).  The asked rows, and every later token, get
 * the bits of the run that asks for all. */
static void test_sparse_logits(void **state) {
    (void)state;
    slm_model *m = NULL;
    float *alone = load_with_logits("reference/synthetic/qwen2-c.gguf", &m);
    int64_t nv = slm_model_n_vocab(m);
    slm_context *c = ref_new_context(m, SLM_CACHE_F16, false, 2);
    slm_error err;
    bool some[15] = {false};
    some[3] = some[4] = some[11] = true;
    slm_batch first = {.n_tokens = 15, .tokens = P20, .logits = some};
    SLM_ASSERT_OK(slm_decode(c, &first, &err), &err);
    assert_null(slm_get_logits(c, 0));
    const int asked[] = {3, 4, 11};
    for (int k = 0; k < 3; k++)
        assert_memory_equal(slm_get_logits(c, asked[k]), alone + asked[k] * nv, nv * sizeof(float));
    slm_batch none = {.n_tokens = 4, .tokens = P20 + 15, .logits = (const bool[4]){false, false, false, false}};
    SLM_ASSERT_OK(slm_decode(c, &none, &err), &err);
    slm_batch last = {.n_tokens = 1, .tokens = P20 + 19};
    SLM_ASSERT_OK(slm_decode(c, &last, &err), &err);
    assert_memory_equal(slm_get_logits(c, 0), alone + 19 * nv, nv * sizeof(float));
    slm_context_free(c);
    free(alone);
    slm_model_free(m);
}

/* The default F16 cache against the F32 cache and against llama.cpp (whose
 * references use an F32 cache; its own F16 default moves them by 0.01-0.05). */
static void test_f16_cache(void **state) {
    (void)state;
    char model[4096], case_path[4096];
    SLM_REQUIRE_DATA(model, "reference/synthetic/llama-a.gguf");
    SLM_REQUIRE_DATA(case_path, "reference/synthetic/llama-a.p20.json");
    ref_case_result r = ref_run_case(model, case_path, SLM_CACHE_F16, false);
    print_message("[ llama-a, F16 cache ] max abs %.3g, mean abs %.3g, teacher-forced greedy %d/%d\n", r.diff.max_abs,
                  r.diff.sum_abs / (double)r.diff.count, r.agree, r.n_greedy);
    assert_true(r.diff.max_abs <= 0.05);
    assert_int_equal(r.agree, r.n_greedy);
}

/* Two sequences in one interleaved batch give the logits each gets alone. */
static void test_sequences(void **state) {
    (void)state;
    slm_model *m = NULL;
    float *alone = load_with_logits("reference/synthetic/llama-a.gguf", &m);
    int64_t nv = slm_model_n_vocab(m);

    slm_context_params p = slm_context_default_params();
    p.n_ctx = 64;
    p.n_seq = 3;
    slm_context *c;
    slm_error err;
    SLM_ASSERT_OK(slm_context_new(m, &p, &c, &err), &err);
    /* sequence 2 gets P20[0..9] first, then both run interleaved */
    slm_batch first = {.n_tokens = 10, .tokens = P20, .seq = (const int32_t[10]){2, 2, 2, 2, 2, 2, 2, 2, 2, 2}};
    SLM_ASSERT_OK(slm_decode(c, &first, &err), &err);
    slm_token tok[30];
    int32_t seq[30], pos[30];
    bool want[30];
    for (int i = 0; i < 20; i++) {
        tok[i] = P20[i];
        seq[i] = 1;
        pos[i] = i;
        want[i] = true;
    }
    for (int i = 0; i < 10; i++) {
        tok[20 + i] = P20[10 + i];
        seq[20 + i] = 2;
        pos[20 + i] = 10 + i;
        want[20 + i] = true;
    }
    slm_batch b = {.n_tokens = 30, .tokens = tok, .pos = pos, .seq = seq, .logits = want};
    SLM_ASSERT_OK(slm_decode(c, &b, &err), &err);
    for (int i = 0; i < 20; i++) assert_memory_equal(slm_get_logits(c, i), alone + i * nv, nv * sizeof(float));
    for (int i = 0; i < 10; i++)
        assert_memory_equal(slm_get_logits(c, 20 + i), alone + (10 + i) * nv, nv * sizeof(float));
    assert_int_equal(slm_kv_seq_len(c, 0), 0);
    assert_int_equal(slm_kv_seq_len(c, 1), 20);
    assert_int_equal(slm_kv_seq_len(c, 2), 20);

    /* truncate and re-evaluate: the same logits again */
    slm_kv_truncate(c, 1, 15);
    assert_int_equal(slm_kv_seq_len(c, 1), 15);
    int32_t s1[5] = {1, 1, 1, 1, 1};
    slm_batch again = {.n_tokens = 5, .tokens = P20 + 15, .seq = s1};
    SLM_ASSERT_OK(slm_decode(c, &again, &err), &err);
    assert_null(slm_get_logits(c, 0));
    assert_memory_equal(slm_get_logits(c, 4), alone + 19 * nv, nv * sizeof(float));

    /* a position that does not continue the sequence is refused */
    int32_t bad_pos = 3;
    slm_batch bad = {.n_tokens = 1, .tokens = P20, .pos = &bad_pos};
    assert_int_equal(slm_decode(c, &bad, &err), SLM_E_INVALID);
    print_message("[ bad position ] %s\n", err.message);
    slm_context_free(c);
    free(alone);
    slm_model_free(m);
}

static void test_context_full(void **state) {
    (void)state;
    char path[4096];
    SLM_REQUIRE_DATA(path, "models/stories260K.gguf");
    slm_model *m = ref_load_model(path);
    slm_context_params p = slm_context_default_params();
    p.n_ctx = 8;
    slm_context *c;
    slm_error err;
    SLM_ASSERT_OK(slm_context_new(m, &p, &c, &err), &err);
    assert_int_equal(slm_context_n_ctx(c), 8);
    slm_batch six = {.n_tokens = 6, .tokens = P20};
    SLM_ASSERT_OK(slm_decode(c, &six, &err), &err);
    float before[512];
    memcpy(before, slm_get_logits(c, 5), sizeof before);
    slm_batch three = {.n_tokens = 3, .tokens = P20 + 6};
    assert_int_equal(slm_decode(c, &three, &err), SLM_E_CONTEXT);
    print_message("[ context full ] %s\n", err.message);
    assert_non_null(strstr(err.message, "9 positions"));
    assert_non_null(strstr(err.message, "n_ctx = 8"));
    /* nothing was evaluated: the cache and the last logits are untouched */
    assert_int_equal(slm_kv_seq_len(c, 0), 6);
    assert_memory_equal(slm_get_logits(c, 5), before, sizeof before);
    slm_batch two = {.n_tokens = 2, .tokens = P20 + 6};
    SLM_ASSERT_OK(slm_decode(c, &two, &err), &err);
    assert_int_equal(slm_kv_seq_len(c, 0), 8);

    slm_token out_of_vocab = 512;
    slm_kv_truncate(c, 0, 0);
    slm_batch oov = {.n_tokens = 1, .tokens = &out_of_vocab};
    assert_int_equal(slm_decode(c, &oov, &err), SLM_E_INVALID);
    slm_batch empty = {.n_tokens = 0, .tokens = P20};
    assert_int_equal(slm_decode(c, &empty, &err), SLM_E_INVALID);
    slm_context_free(c);

    /* default n_ctx: min(context_length, 4096) = 2048 for stories260K */
    SLM_ASSERT_OK(slm_context_new(m, NULL, &c, &err), &err);
    assert_int_equal(slm_context_n_ctx(c), 2048);
    slm_context_free(c);
    slm_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invariance_f32), cmocka_unit_test(test_invariance_qwen2),
        cmocka_unit_test(test_invariance_q4_1), cmocka_unit_test(test_invariance_f16),
        cmocka_unit_test(test_f16_cache),      cmocka_unit_test(test_sequences),
        cmocka_unit_test(test_sparse_logits),
        cmocka_unit_test(test_context_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
