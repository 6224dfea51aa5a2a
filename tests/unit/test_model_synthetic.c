/* test_model_synthetic.c - the forward pass against llama.cpp's logits for
 * the random-weight models in ../shared/reference/synthetic (see its
 * README: formats, how the references were made, tolerances). */
#include "test_model_ref.h"

/* F32 models: <= 1e-3 max abs and every greedy id (all gaps are >= 0.05). */
static void check_f32_model(const char *stem) {
    char model[4096], case_path[4096], rel[256];
    snprintf(rel, sizeof rel, "reference/synthetic/%s.gguf", stem);
    SLM_REQUIRE_DATA(model, rel);
    snprintf(rel, sizeof rel, "reference/synthetic/%s.p20.json", stem);
    SLM_REQUIRE_DATA(case_path, rel);
    ref_case_result r = ref_run_case(model, case_path, SLM_CACHE_F32, false);
    ref_report(stem, &r);
    assert_true(r.diff.max_abs <= 1e-3);
    assert_int_equal(r.agree, r.n_greedy);
}

static void test_llama_a(void **state) { (void)state; check_f32_model("llama-a"); }
static void test_qwen2_c(void **state) { (void)state; check_f32_model("qwen2-c"); }
static void test_llama_k_f32(void **state) { (void)state; check_f32_model("llama-k-F32"); }

static void test_llama_k_f16(void **state) { (void)state; ref_check_llama_k("F16", 2); }
static void test_llama_k_bf16(void **state) { (void)state; ref_check_llama_k("BF16", 2); }
static void test_llama_k_q8_0(void **state) { (void)state; ref_check_llama_k("Q8_0", 2); }
static void test_llama_k_q4_0(void **state) { (void)state; ref_check_llama_k("Q4_0", 2); }
static void test_llama_k_q4_1(void **state) { (void)state; ref_check_llama_k("Q4_1", 2); }
static void test_llama_k_q5_0(void **state) { (void)state; ref_check_llama_k("Q5_0", 2); }
static void test_llama_k_q5_1(void **state) { (void)state; ref_check_llama_k("Q5_1", 2); }
static void test_llama_k_q6_k(void **state) { (void)state; ref_check_llama_k("Q6_K", 2); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama_a),      cmocka_unit_test(test_qwen2_c),      cmocka_unit_test(test_llama_k_f32),
        cmocka_unit_test(test_llama_k_f16),  cmocka_unit_test(test_llama_k_bf16), cmocka_unit_test(test_llama_k_q8_0),
        cmocka_unit_test(test_llama_k_q4_0), cmocka_unit_test(test_llama_k_q4_1), cmocka_unit_test(test_llama_k_q5_0),
        cmocka_unit_test(test_llama_k_q5_1), cmocka_unit_test(test_llama_k_q6_k),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
