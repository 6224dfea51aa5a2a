/* test_imatrix.c - collecting importance matrices: the observe hook sees
 * every matrix input of a forward pass, the collector's sums match sums
 * computed independently from the weights, and what it writes loads back
 * through the imatrix loader `slm quantize --imatrix` uses. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/context.h"
#include "model/synth.h"
#include "quant/imatrix.h"
#include "quant/imatrix_collect.h"
#include "testutil.h"

#define N_TOK 7

static void test_collector_sums_and_round_trip(void **state) {
    (void)state;
    slm_imatrix_collector *c = NULL;
    slm_error err;
    SLM_ASSERT_OK(slm_imatrix_collector_new(&c, &err), &err);
    float x[3][4] = {{1, 2, 3, 4}, {-1, 0, 0.5f, 2}, {0, 0, 0, 1}};
    float y[2] = {3, -4};
    slm_imatrix_observe(c, "a.weight", &x[0][0], 4, 2);
    slm_imatrix_observe(c, "b.weight", y, 2, 1);
    slm_imatrix_observe(c, "a.weight", &x[2][0], 4, 1);
    assert_int_equal(slm_imatrix_collector_n_entries(c), 2);
    int64_t n_in = 0, count = 0;
    const double *s = slm_imatrix_collector_sums(c, "a.weight", &n_in, &count);
    assert_non_null(s);
    assert_int_equal(n_in, 4);
    assert_int_equal(count, 3);
    const double want[4] = {2, 4, 9.25, 21};
    for (int i = 0; i < 4; i++) assert_true(fabs(s[i] - want[i]) < 1e-12);
    assert_null(slm_imatrix_collector_sums(c, "c.weight", &n_in, &count));

    char *dir = slm_test_tmpdir(), path[512];
    snprintf(path, sizeof path, "%s/im.gguf", dir);
    slm_imatrix_info info = {.dataset = "calibration.txt", .chunk_count = 1, .chunk_size = 3};
    SLM_ASSERT_OK(slm_imatrix_collector_write(c, path, &info, &err), &err);
    slm_imatrix *im = NULL;
    SLM_ASSERT_OK(slm_imatrix_load(path, &im, &err), &err);
    assert_int_equal(slm_imatrix_n_entries(im), 2);
    const float *v = slm_imatrix_get(im, "a.weight", 4, 0);
    assert_non_null(v);
    for (int i = 0; i < 4; i++) assert_float_equal(v[i], want[i] / 3, 1e-6);
    v = slm_imatrix_get(im, "b.weight", 2, 0);
    assert_non_null(v);
    assert_float_equal(v[0], 9, 1e-6);
    assert_float_equal(v[1], 16, 1e-6);
    slm_imatrix_free(im);

    /* the llama.cpp metadata keys */
    slm_gguf *g = NULL;
    SLM_ASSERT_OK(slm_gguf_open(path, &g, &err), &err);
    uint32_t u = 0;
    SLM_ASSERT_OK(slm_gguf_get_u32(g, "imatrix.chunk_size", &u, &err), &err);
    assert_int_equal(u, 3);
    slm_gguf_close(g);

    /* a matrix that changes width is an error, reported at write time */
    slm_imatrix_observe(c, "b.weight", &x[0][0], 4, 1);
    assert_int_equal(slm_imatrix_collector_write(c, path, &info, &err), SLM_E_INVALID);
    assert_non_null(strstr(err.message, "b.weight"));
    slm_imatrix_collector_free(c);
    slm_test_rmtree(dir);
    free(dir);
}

static void test_empty_collector_is_refused(void **state) {
    (void)state;
    slm_imatrix_collector *c = NULL;
    slm_error err;
    SLM_ASSERT_OK(slm_imatrix_collector_new(&c, &err), &err);
    assert_int_equal(slm_imatrix_collector_write(c, "/tmp/never-written-imatrix.gguf", NULL, &err), SLM_E_INVALID);
    slm_imatrix_collector_free(c);
}

/* llama-imatrix writes a single matrix's sums as a 1-D tensor [n_in] and its
 * count as [1] (slm writes [n_in, 1] and [1, 1]); both must load the same. */
static void test_llama_layout_loads(void **state) {
    (void)state;
    char *dir = slm_test_tmpdir(), path[512];
    snprintf(path, sizeof path, "%s/llama-im.gguf", dir);
    slm_error err;
    slm_gguf_writer *w = NULL;
    SLM_ASSERT_OK(slm_gguf_writer_new(path, &w, &err), &err);
    SLM_ASSERT_OK(slm_gguf_writer_set_str(w, "general.type", "imatrix", &err), &err);
    const int64_t ne_sum[1] = {3}, ne_count[1] = {1};
    const float sums[3] = {8, 0, 2}, count = 4;
    SLM_ASSERT_OK(slm_gguf_writer_add_tensor(w, "blk.0.ffn_up.weight.in_sum2", SLM_TYPE_F32, 1, ne_sum, &err), &err);
    SLM_ASSERT_OK(slm_gguf_writer_add_tensor(w, "blk.0.ffn_up.weight.counts", SLM_TYPE_F32, 1, ne_count, &err), &err);
    SLM_ASSERT_OK(slm_gguf_writer_write(w, sums, sizeof sums, &err), &err);
    SLM_ASSERT_OK(slm_gguf_writer_write(w, &count, sizeof count, &err), &err);
    SLM_ASSERT_OK(slm_gguf_writer_finish(w, &err), &err);
    slm_gguf_writer_free(w);

    slm_imatrix *im = NULL;
    SLM_ASSERT_OK(slm_imatrix_load(path, &im, &err), &err);
    const float *v = slm_imatrix_get(im, "blk.0.ffn_up.weight", 3, 0);
    assert_non_null(v);
    assert_float_equal(v[0], 2, 1e-6);
    assert_float_equal(v[1], 0, 1e-6);
    assert_float_equal(v[2], 0.5, 1e-6);
    assert_null(slm_imatrix_get(im, "blk.0.ffn_up.weight", 4, 0)); /* another width: not this matrix */
    slm_imatrix_free(im);
    slm_test_rmtree(dir);
    free(dir);
}

/* The input of blk.0.attn_q: RMS-normalized token embeddings times attn_norm. */
static void attn_q_input_sums(const slm_gguf *g, const slm_token *tok, int n, float eps, double *sums) {
    const slm_gguf_tensor *emb = slm_gguf_find_tensor(g, "token_embd.weight");
    const slm_gguf_tensor *norm = slm_gguf_find_tensor(g, "blk.0.attn_norm.weight");
    assert_non_null(emb);
    assert_non_null(norm);
    assert_int_equal(emb->type, SLM_TYPE_F32);
    int64_t d = emb->ne[0];
    const float *e = emb->data, *w = norm->data;
    for (int t = 0; t < n; t++) {
        const float *row = e + (int64_t)tok[t] * d;
        double ss = 0;
        for (int64_t i = 0; i < d; i++) ss += (double)row[i] * row[i];
        double scale = 1.0 / sqrt(ss / (double)d + eps);
        for (int64_t i = 0; i < d; i++) {
            double v = row[i] * scale * w[i];
            sums[i] += v * v;
        }
    }
}

static void test_forward_pass_observed(void **state) {
    (void)state;
    char *dir = slm_test_tmpdir(), path[512];
    snprintf(path, sizeof path, "%s/tiny.gguf", dir);
    const slm_synth_shape *shape = slm_synth_shape_find("tiny");
    slm_synth_params sp = {shape, NULL, SLM_TYPE_F32, 11};
    slm_error err;
    SLM_ASSERT_OK(slm_synth_write(&sp, path, &err), &err);
    slm_model *m = NULL;
    SLM_ASSERT_OK(slm_model_load(path, &m, &err), &err);

    slm_token tok[N_TOK] = {1, 17, 42, 99, 3, 250, 17};
    bool want[N_TOK];
    for (int i = 0; i < N_TOK; i++) want[i] = true;
    slm_batch b = {.n_tokens = N_TOK, .tokens = tok, .logits = want};
    slm_context_params cp = slm_context_default_params();
    cp.n_ctx = 64;
    cp.n_threads = 2;

    /* reference logits without a hook */
    slm_context *c = NULL;
    SLM_ASSERT_OK(slm_context_new(m, &cp, &c, &err), &err);
    SLM_ASSERT_OK(slm_decode(c, &b, &err), &err);
    int n_vocab = slm_model_n_vocab(m);
    float *ref = malloc((size_t)n_vocab * sizeof *ref);
    memcpy(ref, slm_get_logits(c, N_TOK - 1), (size_t)n_vocab * sizeof *ref);
    slm_context_free(c);

    slm_imatrix_collector *col = NULL;
    SLM_ASSERT_OK(slm_imatrix_collector_new(&col, &err), &err);
    slm_context_options o = {.observe = slm_imatrix_observe, .observe_user = col};
    SLM_ASSERT_OK(slm_context_new_ex(m, &cp, &o, &c, &err), &err);
    SLM_ASSERT_OK(slm_decode(c, &b, &err), &err);
    /* observing changes nothing in the results */
    assert_memory_equal(slm_get_logits(c, N_TOK - 1), ref, (size_t)n_vocab * sizeof *ref);

    /* 7 matrices per layer and the output, each over every token */
    assert_int_equal(slm_imatrix_collector_n_entries(col), 7 * shape->n_layer + 1);
    static const char *const kinds[] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
    for (int l = 0; l < shape->n_layer; l++)
        for (int k = 0; k < 7; k++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, kinds[k]);
            int64_t n_in = 0, count = 0;
            assert_non_null(slm_imatrix_collector_sums(col, name, &n_in, &count));
            assert_int_equal(count, N_TOK);
            assert_int_equal(n_in, k == 6 ? shape->n_ff : shape->n_embd);
        }

    /* blk.0.attn_q's sums, recomputed from the weights */
    slm_gguf *g = NULL;
    SLM_ASSERT_OK(slm_gguf_open(path, &g, &err), &err);
    double *want_sums = calloc((size_t)shape->n_embd, sizeof *want_sums);
    attn_q_input_sums(g, tok, N_TOK, shape->eps, want_sums);
    int64_t n_in = 0, count = 0;
    const double *got = slm_imatrix_collector_sums(col, "blk.0.attn_q.weight", &n_in, &count);
    for (int64_t i = 0; i < n_in; i++) assert_true(fabs(got[i] - want_sums[i]) <= 1e-4 * (1 + want_sums[i]));
    /* q, k and v share their input */
    const double *k_sums = slm_imatrix_collector_sums(col, "blk.0.attn_k.weight", &n_in, &count);
    assert_memory_equal(k_sums, got, (size_t)n_in * sizeof *got);

    free(want_sums);
    slm_gguf_close(g);
    slm_context_free(c);
    slm_imatrix_collector_free(col);
    free(ref);
    slm_model_free(m);
    slm_test_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_collector_sums_and_round_trip),
        cmocka_unit_test(test_empty_collector_is_refused),
        cmocka_unit_test(test_llama_layout_loads),
        cmocka_unit_test(test_forward_pass_observed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
