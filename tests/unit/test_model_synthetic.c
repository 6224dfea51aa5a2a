/* test_model_synthetic.c - the forward pass against llama.cpp's logits for
 * the random-weight models in ../shared/reference/synthetic (see its
 * README: formats, how the references were made, tolerances). */
#include "test_model_ref.h"

static void report(const char *name, const ref_case_result *r) {
    print_message("[ %-28s ] max abs %.3g, mean abs %.3g, teacher-forced greedy %d/%d\n", name, r->diff.max_abs,
                  r->diff.sum_abs / (double)r->diff.count, r->agree, r->n_greedy);
}

/* F32 models: <= 1e-3 max abs and every greedy id (all gaps are >= 0.05). */
static void check_f32_model(const char *stem) {
    char model[4096], case_path[4096], rel[256];
    snprintf(rel, sizeof rel, "reference/synthetic/%s.gguf", stem);
    SLM_REQUIRE_DATA(model, rel);
    snprintf(rel, sizeof rel, "reference/synthetic/%s.p20.json", stem);
    SLM_REQUIRE_DATA(case_path, rel);
    ref_case_result r = ref_run_case(model, case_path, SLM_CACHE_F32, false);
    report(stem, &r);
    assert_true(r.diff.max_abs <= 1e-3);
    assert_int_equal(r.agree, r.n_greedy);
}

static void test_llama_a(void **state) { (void)state; check_f32_model("llama-a"); }
static void test_qwen2_c(void **state) { (void)state; check_f32_model("qwen2-c"); }
static void test_llama_k_f32(void **state) { (void)state; check_f32_model("llama-k-F32"); }

/* Quantized llama-k: level 1 (dequantization alone, F32 activations, against
 * llama.cpp on the dequantized file: 1e-3) and level 3 (ggml's activation
 * formats emulated: the README measures <= 0.41 max / 0.04 mean with an exact
 * emulation; the rest is chaos from 8-bit rounding boundaries, so 0.5 / 0.05). */
static void check_quantized(const char *type) {
    char model[4096], deq[4096], act[4096], rel[256];
    snprintf(rel, sizeof rel, "reference/synthetic/llama-k-%s.gguf", type);
    SLM_REQUIRE_DATA(model, rel);
    snprintf(rel, sizeof rel, "reference/synthetic/llama-k-%s.p20.dequant-f32.json", type);
    SLM_REQUIRE_DATA(deq, rel);
    snprintf(rel, sizeof rel, "reference/synthetic/llama-k-%s.p20.json", type);
    SLM_REQUIRE_DATA(act, rel);
    char name[64];
    ref_case_result r1 = ref_run_case(model, deq, SLM_CACHE_F32, true);
    snprintf(name, sizeof name, "llama-k-%s dequant-f32", type);
    report(name, &r1);
    ref_case_result r3 = ref_run_case(model, act, SLM_CACHE_F32, false);
    snprintf(name, sizeof name, "llama-k-%s emulated acts", type);
    report(name, &r3);
    assert_true(r1.diff.max_abs <= 1e-3);
    assert_int_equal(r1.agree, r1.n_greedy);
    assert_true(r3.diff.max_abs <= 0.5);
    assert_true(r3.diff.sum_abs / (double)r3.diff.count <= 0.05);
    assert_true(r3.agree >= r3.n_greedy - 2);
}

static void test_llama_k_f16(void **state) { (void)state; check_quantized("F16"); }
static void test_llama_k_bf16(void **state) { (void)state; check_quantized("BF16"); }
static void test_llama_k_q8_0(void **state) { (void)state; check_quantized("Q8_0"); }
static void test_llama_k_q4_0(void **state) { (void)state; check_quantized("Q4_0"); }
static void test_llama_k_q4_1(void **state) { (void)state; check_quantized("Q4_1"); }
static void test_llama_k_q5_0(void **state) { (void)state; check_quantized("Q5_0"); }
static void test_llama_k_q5_1(void **state) { (void)state; check_quantized("Q5_1"); }
static void test_llama_k_q6_k(void **state) { (void)state; check_quantized("Q6_K"); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama_a),      cmocka_unit_test(test_qwen2_c),      cmocka_unit_test(test_llama_k_f32),
        cmocka_unit_test(test_llama_k_f16),  cmocka_unit_test(test_llama_k_bf16), cmocka_unit_test(test_llama_k_q8_0),
        cmocka_unit_test(test_llama_k_q4_0), cmocka_unit_test(test_llama_k_q4_1), cmocka_unit_test(test_llama_k_q5_0),
        cmocka_unit_test(test_llama_k_q5_1), cmocka_unit_test(test_llama_k_q6_k),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
