/* test_attention.c - the chunked attention (src/model/attention.c) on a
 * whole model with grouped-query attention (llama-a: 8 query heads, 2 KV
 * heads) and a prompt long enough for many chunks of positions: every way of
 * evaluating it -- kernel set, thread count, batch split (token blocks, one
 * token at a time), sequences interleaved in a batch -- gives the same logits
 * bit for bit, with both cache types. */
#include <string.h>

#include "test_model_ref.h"

enum { N_PROMPT = 150 };

static slm_token prompt[N_PROMPT];

static void make_prompt(int64_t n_vocab) {
    uint32_t x = 12345;
    prompt[0] = 1;
    for (int i = 1; i < N_PROMPT; i++) {
        x = x * 1664525u + 1013904223u;
        prompt[i] = (slm_token)((x >> 8) % (uint32_t)n_vocab);
    }
}

static slm_context *new_context(const slm_model *m, bool scalar, uint32_t n_threads, slm_cache_type cache,
                                uint32_t n_seq) {
    slm_context_params p = slm_context_default_params();
    p.n_ctx = 160;
    p.n_seq = n_seq;
    p.n_threads = n_threads;
    p.cache_type_k = p.cache_type_v = cache;
    slm_context_options o = {.scalar_kernels = scalar};
    slm_context *c = NULL;
    slm_error err;
    SLM_ASSERT_OK(slm_context_new_ex(m, &p, &o, &c, &err), &err);
    return c;
}

/* Logits of every prompt token, evaluated in batches of `chunk`. */
static void run(const slm_model *m, bool scalar, uint32_t n_threads, int32_t chunk, slm_cache_type cache,
                float *out) {
    slm_context *c = new_context(m, scalar, n_threads, cache, 1);
    int64_t nv = slm_model_n_vocab(m);
    bool all[N_PROMPT];
    for (int i = 0; i < N_PROMPT; i++) all[i] = true;
    slm_error err;
    for (int32_t i0 = 0; i0 < N_PROMPT; i0 += chunk) {
        int32_t n = N_PROMPT - i0 < chunk ? N_PROMPT - i0 : chunk;
        slm_batch b = {.n_tokens = n, .tokens = prompt + i0, .logits = all};
        SLM_ASSERT_OK(slm_decode(c, &b, &err), &err);
        for (int32_t i = 0; i < n; i++) memcpy(out + (i0 + i) * nv, slm_get_logits(c, i), (size_t)nv * sizeof(float));
    }
    slm_context_free(c);
}

/* The prompt in two sequences at once, their tokens alternating in one
 * batch (so token blocks mix sequences): sequence 0 has a head start of 40
 * tokens, sequence 1 starts from nothing.  Both must match `want`. */
static void check_two_sequences(const slm_model *m, uint32_t n_threads, slm_cache_type cache, const float *want) {
    slm_context *c = new_context(m, false, n_threads, cache, 2);
    int64_t nv = slm_model_n_vocab(m);
    slm_error err;
    enum { HEAD = 40, N = 2 * (N_PROMPT - HEAD) };
    slm_batch first = {.n_tokens = HEAD, .tokens = prompt};
    SLM_ASSERT_OK(slm_decode(c, &first, &err), &err);
    slm_token tok[N];
    int32_t pos[N], seq[N];
    bool all[N];
    for (int i = 0; i < N; i++) {
        seq[i] = i % 2;
        pos[i] = i / 2 + (seq[i] == 0 ? HEAD : 0);
        tok[i] = prompt[pos[i]];
        all[i] = true;
    }
    slm_batch b = {.n_tokens = N, .tokens = tok, .pos = pos, .seq = seq, .logits = all};
    SLM_ASSERT_OK(slm_decode(c, &b, &err), &err);
    for (int i = 0; i < N; i++)
        if (memcmp(slm_get_logits(c, i), want + pos[i] * nv, (size_t)nv * sizeof(float)) != 0)
            fail_msg("sequence %d, position %d: interleaved sequences differ from one alone", seq[i], pos[i]);
    slm_context_free(c);
}

static void check(slm_cache_type cache) {
    char path[4096];
    SLM_REQUIRE_DATA(path, "reference/synthetic/llama-a.gguf");
    slm_model *m = ref_load_model(path);
    int64_t nv = slm_model_n_vocab(m);
    make_prompt(nv);
    size_t size = N_PROMPT * (size_t)nv * sizeof(float);
    float *want = malloc(size), *got = malloc(size);
    run(m, true, 1, N_PROMPT, cache, want);
    const struct {
        bool scalar;
        uint32_t threads;
        int32_t chunk;
    } runs[] = {{false, 1, N_PROMPT}, {false, 2, N_PROMPT}, {false, 3, 37}, {false, 2, 1}, {false, 4, 16}, {true, 3, 61}};
    for (size_t k = 0; k < sizeof runs / sizeof runs[0]; k++) {
        run(m, runs[k].scalar, runs[k].threads, runs[k].chunk, cache, got);
        if (memcmp(want, got, size) != 0)
            fail_msg("%s kernels, %u threads, batches of %d differ from scalar, 1 thread, one batch",
                     runs[k].scalar ? "scalar" : "best", runs[k].threads, runs[k].chunk);
    }
    check_two_sequences(m, 2, cache, want);
    free(want);
    free(got);
    slm_model_free(m);
}

static void test_f16_cache(void **state) {
    (void)state;
    check(SLM_CACHE_F16);
}

static void test_f32_cache(void **state) {
    (void)state;
    check(SLM_CACHE_F32);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f16_cache),
        cmocka_unit_test(test_f32_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
