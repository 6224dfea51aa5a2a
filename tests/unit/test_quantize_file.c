/* test_quantize_file.c - slm_quantize_file through its library API: an
 * importance matrix (llama.cpp's imatrix GGUF layout) moves the rounding
 * error away from the important columns of the matrix it names; a file
 * without imatrix tensors is refused; cancelling leaves no output. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "quant/imatrix.h"
#include "quant/quantize.h"
#include "testutil.h"
#include "types/types.h"

static const char *TARGET = "blk.0.ffn_down.weight"; /* [512 in, 256 out] in llama-k-F32 */

static float importance(int col) { return col % 8 == 0 ? 100.0f : 1.0f; }

static void write_imatrix(const char *path, int64_t n_in) {
    slm_gguf_writer *w = NULL;
    slm_error err;
    SLM_ASSERT_OK(slm_gguf_writer_new(path, &w, &err), &err);
    SLM_ASSERT_OK(slm_gguf_writer_set_str(w, "general.type", "imatrix", &err), &err);
    char name[128];
    snprintf(name, sizeof name, "%s.in_sum2", TARGET);
    int64_t ne[2] = {n_in, 1};
    SLM_ASSERT_OK(slm_gguf_writer_add_tensor(w, name, SLM_TYPE_F32, 2, ne, &err), &err);
    snprintf(name, sizeof name, "%s.counts", TARGET);
    int64_t nc[2] = {1, 1};
    SLM_ASSERT_OK(slm_gguf_writer_add_tensor(w, name, SLM_TYPE_F32, 2, nc, &err), &err);
    float *sum2 = malloc((size_t)n_in * sizeof(float));
    for (int64_t i = 0; i < n_in; i++) sum2[i] = 10.0f * importance((int)i); /* count 10: mean = importance */
    float count = 10.0f;
    SLM_ASSERT_OK(slm_gguf_writer_write(w, sum2, (size_t)n_in * sizeof(float), &err), &err);
    SLM_ASSERT_OK(slm_gguf_writer_write(w, &count, sizeof count, &err), &err);
    SLM_ASSERT_OK(slm_gguf_writer_finish(w, &err), &err);
    slm_gguf_writer_free(w);
    free(sum2);
}

/* Importance-weighted relative error of TARGET in a quantized file. */
static double weighted_error(const char *src_path, const char *q_path) {
    slm_gguf *a = NULL, *b = NULL;
    slm_error err;
    SLM_ASSERT_OK(slm_gguf_open(src_path, &a, &err), &err);
    SLM_ASSERT_OK(slm_gguf_open(q_path, &b, &err), &err);
    const slm_gguf_tensor *ta = slm_gguf_find_tensor(a, TARGET), *tb = slm_gguf_find_tensor(b, TARGET);
    assert_non_null(ta);
    assert_non_null(tb);
    float *y = malloc(ta->n_elements * sizeof(float));
    slm_type_traits_of(tb->type)->to_float(tb->data, y, (int64_t)ta->n_elements);
    const float *x = ta->data;
    double e2 = 0, x2 = 0;
    for (uint64_t i = 0; i < ta->n_elements; i++) {
        double w = importance((int)(i % (uint64_t)ta->ne[0]));
        e2 += w * (y[i] - x[i]) * (y[i] - x[i]);
        x2 += w * x[i] * x[i];
    }
    free(y);
    slm_gguf_close(a);
    slm_gguf_close(b);
    return sqrt(e2 / x2);
}

static void test_imatrix_weighting(void **state) {
    (void)state;
    char src[4096];
    SLM_REQUIRE_DATA(src, "reference/synthetic/llama-k-F32.gguf");
    char *dir = slm_test_tmpdir();
    char im_path[4200], plain[4200], weighted[4200];
    snprintf(im_path, sizeof im_path, "%s/imatrix.gguf", dir);
    snprintf(plain, sizeof plain, "%s/plain.gguf", dir);
    snprintf(weighted, sizeof weighted, "%s/weighted.gguf", dir);
    write_imatrix(im_path, 512);
    slm_imatrix *im = NULL;
    slm_error err;
    SLM_ASSERT_OK(slm_imatrix_load(im_path, &im, &err), &err);
    assert_int_equal(slm_imatrix_n_entries(im), 1);
    const float *v = slm_imatrix_get(im, TARGET, 512, 0);
    assert_non_null(v);
    assert_float_equal(v[8], 100.0f, 1e-4);
    assert_float_equal(v[9], 1.0f, 1e-6);
    assert_null(slm_imatrix_get(im, TARGET, 256, 0)); /* wrong width */
    assert_null(slm_imatrix_get(im, "blk.1.ffn_down.weight", 512, 0));

    slm_quant_params p = slm_quant_default_params();
    p.preset = "Q4_0";
    p.n_threads = 2;
    SLM_ASSERT_OK(slm_quantize_file(src, plain, &p, NULL, &err), &err);
    p.imatrix = im;
    slm_quant_summary sum;
    SLM_ASSERT_OK(slm_quantize_file(src, weighted, &p, &sum, &err), &err);
    double e_plain = weighted_error(src, plain), e_weighted = weighted_error(src, weighted);
    print_message("weighted error of %s: %.5f without imatrix, %.5f with\n", TARGET, e_plain, e_weighted);
    assert_true(e_weighted < 0.85 * e_plain);
    assert_int_equal(sum.n_tensors, 21);
    slm_imatrix_free(im);
    slm_test_rmtree(dir);
    free(dir);
}

static void test_not_an_imatrix(void **state) {
    (void)state;
    char src[4096];
    SLM_REQUIRE_DATA(src, "reference/synthetic/llama-a.gguf");
    slm_imatrix *im = NULL;
    slm_error err;
    assert_int_equal(slm_imatrix_load(src, &im, &err), SLM_E_FORMAT);
    assert_null(im);
    assert_non_null(strstr(err.message, "not an imatrix file"));
}

static volatile int cancel_flag = 1;

static void test_cancel_leaves_nothing(void **state) {
    (void)state;
    char src[4096];
    SLM_REQUIRE_DATA(src, "reference/synthetic/llama-k-F32.gguf");
    char *dir = slm_test_tmpdir();
    char out[4200], tmp[4300];
    snprintf(out, sizeof out, "%s/out.gguf", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    slm_quant_params p = slm_quant_default_params();
    p.cancel = &cancel_flag;
    slm_error err;
    assert_int_equal(slm_quantize_file(src, out, &p, NULL, &err), SLM_E_CANCELLED);
    assert_int_not_equal(access(out, F_OK), 0);
    assert_int_not_equal(access(tmp, F_OK), 0);
    p.cancel = NULL;
    p.preset = "Q4_K_X";
    assert_int_equal(slm_quantize_file(src, out, &p, NULL, &err), SLM_E_INVALID);
    assert_non_null(strstr(err.message, "unknown quantization type 'Q4_K_X'"));
    slm_test_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_imatrix_weighting),
        cmocka_unit_test(test_not_an_imatrix),
        cmocka_unit_test(test_cancel_leaves_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
