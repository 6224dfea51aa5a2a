/* test_determinism.c - whole models, bit for bit: the SIMD kernels give the
 * scalar reference's logits, and any thread count with any batch split (one
 * batch, chunks, token by token) gives the same logits, for every weight
 * type with a fast kernel, whether the file is mapped or copied. */
#include <string.h>

#include "test_model_ref.h"

static const slm_token PROMPT[24] = {1,   457, 145, 136, 237, 458, 64,  129, 269, 125, 211, 178,
                                     39,  20,  53,  340, 505, 476, 356, 472, 12,  99,  311, 7};
enum { N_PROMPT = 24 };

/* Logits of every prompt token, evaluated in chunks of `chunk`. */
static void run(const slm_model *m, bool scalar, uint32_t n_threads, int32_t chunk, float *out) {
    slm_context_params p = slm_context_default_params();
    p.n_ctx = 64;
    p.n_threads = n_threads;
    slm_context_options o = {.scalar_kernels = scalar};
    slm_context *c = NULL;
    slm_error err;
    SLM_ASSERT_OK(slm_context_new_ex(m, &p, &o, &c, &err), &err);
    int64_t nv = slm_model_n_vocab(m);
    bool all[N_PROMPT];
    for (int i = 0; i < N_PROMPT; i++) all[i] = true;
    for (int32_t i0 = 0; i0 < N_PROMPT; i0 += chunk) {
        int32_t n = N_PROMPT - i0 < chunk ? N_PROMPT - i0 : chunk;
        slm_batch b = {.n_tokens = n, .tokens = PROMPT + i0, .logits = all};
        SLM_ASSERT_OK(slm_decode(c, &b, &err), &err);
        for (int32_t i = 0; i < n; i++) memcpy(out + (i0 + i) * nv, slm_get_logits(c, i), (size_t)nv * sizeof(float));
    }
    slm_context_free(c);
}

static void check(const char *rel) {
    char path[4096];
    SLM_REQUIRE_DATA(path, rel);
    slm_model *m = ref_load_model(path);
    size_t size = N_PROMPT * (size_t)slm_model_n_vocab(m) * sizeof(float);
    float *want = malloc(size), *got = malloc(size);
    run(m, true, 1, N_PROMPT, want);
    const struct {
        bool scalar;
        uint32_t threads;
        int32_t chunk;
    } runs[] = {{false, 1, N_PROMPT}, {false, 2, N_PROMPT}, {false, 3, 5}, {false, 2, 1}, {false, 4, 9}, {true, 3, 7}};
    for (size_t k = 0; k < sizeof runs / sizeof runs[0]; k++) {
        run(m, runs[k].scalar, runs[k].threads, runs[k].chunk, got);
        if (memcmp(want, got, size) != 0)
            fail_msg("%s: %s kernels, %u threads, chunks of %d differ from scalar, 1 thread, one batch", rel,
                     runs[k].scalar ? "scalar" : "best", runs[k].threads, runs[k].chunk);
    }
    /* The file mapped or copied into private (huge-page) memory: the same logits. */
    const slm_load_mode modes[] = {SLM_LOAD_MMAP, SLM_LOAD_COPY};
    for (size_t k = 0; k < 2; k++) {
        slm_model *m2 = NULL;
        slm_error err;
        SLM_ASSERT_OK(slm_model_load_with(path, modes[k], &m2, &err), &err);
        assert_true(slm_gguf_is_copied(slm_model_gguf(m2)) == (modes[k] == SLM_LOAD_COPY));
        run(m2, false, 2, 5, got);
        if (memcmp(want, got, size) != 0) fail_msg("%s: load mode %d changes the logits", rel, (int)modes[k]);
        slm_model_free(m2);
    }
    free(want);
    free(got);
    slm_model_free(m);
}

#define MODEL_TEST(name, file) \
    static void name(void **state) { (void)state; check("reference/synthetic/" file); }
MODEL_TEST(test_f32, "llama-k-F32.gguf")
MODEL_TEST(test_f16, "llama-k-F16.gguf")
MODEL_TEST(test_bf16, "llama-k-BF16.gguf")
MODEL_TEST(test_q4_0, "llama-k-Q4_0.gguf")
MODEL_TEST(test_q4_1, "llama-k-Q4_1.gguf")
MODEL_TEST(test_q5_0, "llama-k-Q5_0.gguf")
MODEL_TEST(test_q5_1, "llama-k-Q5_1.gguf")
MODEL_TEST(test_q8_0, "llama-k-Q8_0.gguf")
MODEL_TEST(test_q6_K, "llama-k-Q6_K.gguf")
MODEL_TEST(test_qwen2, "qwen2-c.gguf")

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f32),  cmocka_unit_test(test_f16),  cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_q4_0), cmocka_unit_test(test_q4_1), cmocka_unit_test(test_q5_0),
        cmocka_unit_test(test_q5_1), cmocka_unit_test(test_q8_0), cmocka_unit_test(test_q6_K),
        cmocka_unit_test(test_qwen2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
