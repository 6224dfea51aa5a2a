/* test_model_stories.c - stories260K (the real TinyStories model) against the
 * float64 reference logits and greedy ids in ../shared/reference/stories260K. */
#include "test_model_ref.h"

#define N_GREEDY 128

static json_t *load_reference(void) {
    char path[4096];
    SLM_REQUIRE_DATA(path, "reference/stories260K/stories260K-reference.json");
    return ref_load_json(path);
}

static int32_t json_ids(const json_t *arr, slm_token *out, int32_t cap) {
    int32_t n = (int32_t)json_array_size(arr);
    assert_true(n <= cap);
    for (int32_t i = 0; i < n; i++) out[i] = (slm_token)json_integer_value(json_array_get(arr, (size_t)i));
    return n;
}

/* Feeds the prompt in one batch, then generates N_GREEDY tokens greedily one
 * at a time; returns how many equal the reference ids. */
static int greedy_agreement(slm_context *c, const slm_model *m, const slm_token *prompt, int32_t np,
                            const slm_token *want, int *first_diff) {
    slm_error err;
    slm_batch b = {.n_tokens = np, .tokens = prompt};
    SLM_ASSERT_OK(slm_decode(c, &b, &err), &err);
    int agree = 0;
    *first_diff = -1;
    for (int k = 0; k < N_GREEDY; k++) {
        int32_t last = k == 0 ? np - 1 : 0; /* the last token of the previous batch */
        slm_token t = ref_argmax(slm_get_logits(c, last), slm_model_n_vocab(m));
        if (t == want[k]) agree++;
        else if (*first_diff < 0) *first_diff = k;
        slm_batch one = {.n_tokens = 1, .tokens = &t};
        SLM_ASSERT_OK(slm_decode(c, &one, &err), &err);
    }
    return agree;
}

static void test_logits_f32(void **state) {
    (void)state;
    char path[4096];
    SLM_REQUIRE_DATA(path, "models/stories260K.gguf");
    json_t *ref = load_reference();
    slm_token prompt[8];
    int32_t np = json_ids(json_object_get(ref, "prompt_ids_with_bos"), prompt, 8);
    assert_int_equal(np, 5);
    slm_model *m = ref_load_model(path);
    assert_string_equal(slm_model_arch(m), "llama");
    assert_int_equal(slm_model_n_embd(m), 64);
    assert_int_equal(slm_model_n_layer(m), 5);
    assert_int_equal(slm_model_n_vocab(m), 512);
    slm_context *c = ref_new_context(m, SLM_CACHE_F32, false, 1);
    bool all[8] = {true, true, true, true, true};
    slm_batch b = {.n_tokens = np, .tokens = prompt, .logits = all};
    slm_error err;
    SLM_ASSERT_OK(slm_decode(c, &b, &err), &err);
    ref_diff bos = {0, 0, 0}, last = {0, 0, 0};
    ref_diff_row(&bos, slm_get_logits(c, 0), json_object_get(ref, "logits_after_bos"), 512);
    ref_diff_row(&last, slm_get_logits(c, np - 1), json_object_get(ref, "logits_after_prompt"), 512);
    print_message("[ stories260K F32 ] after BOS max abs %.3g, after prompt max abs %.3g\n", bos.max_abs,
                  last.max_abs);
    assert_true(bos.max_abs <= 1e-4);
    assert_true(last.max_abs <= 1e-4);
    slm_context_free(c);
    slm_model_free(m);
    json_decref(ref);
}

/* Greedy ids of one file against the F32 reference ids; exact is asserted
 * for F32 and F16 weights (F32 cache), the others are reported. */
static void check_greedy(const char *rel, bool exact) {
    char path[4096];
    SLM_REQUIRE_DATA(path, rel);
    json_t *ref = load_reference();
    slm_token prompt[8], want[N_GREEDY];
    int32_t np = json_ids(json_object_get(ref, "prompt_ids_with_bos"), prompt, 8);
    assert_int_equal(json_ids(json_object_get(ref, "greedy_ids"), want, N_GREEDY), N_GREEDY);
    slm_model *m = ref_load_model(path);
    slm_context *c = ref_new_context(m, SLM_CACHE_F32, false, 0);
    int first = -1;
    int agree = greedy_agreement(c, m, prompt, np, want, &first);
    print_message("[ %-45s ] %d/%d greedy ids equal the F32 reference (first difference at %d)\n", rel, agree,
                  N_GREEDY, first);
    if (exact) assert_int_equal(agree, N_GREEDY);
    slm_context_free(c);
    slm_model_free(m);
    json_decref(ref);
}

static void test_greedy_f32(void **state) { (void)state; check_greedy("models/stories260K.gguf", true); }
static void test_greedy_f16(void **state) { (void)state; check_greedy("reference/stories260K/stories260K-F16.gguf", true); }
static void test_greedy_q8_0(void **state) { (void)state; check_greedy("reference/stories260K/stories260K-Q8_0.gguf", false); }
static void test_greedy_q4_0(void **state) { (void)state; check_greedy("reference/stories260K/stories260K-Q4_0.gguf", false); }
static void test_greedy_q4_1(void **state) { (void)state; check_greedy("reference/stories260K/stories260K-Q4_1.gguf", false); }
static void test_greedy_q5_0(void **state) { (void)state; check_greedy("reference/stories260K/stories260K-Q5_0.gguf", false); }
static void test_greedy_q5_1(void **state) { (void)state; check_greedy("reference/stories260K/stories260K-Q5_1.gguf", false); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logits_f32),  cmocka_unit_test(test_greedy_f32),  cmocka_unit_test(test_greedy_f16),
        cmocka_unit_test(test_greedy_q8_0), cmocka_unit_test(test_greedy_q4_0), cmocka_unit_test(test_greedy_q4_1),
        cmocka_unit_test(test_greedy_q5_0), cmocka_unit_test(test_greedy_q5_1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
