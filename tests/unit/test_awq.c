/* test_awq.c - per-channel scales folded into the norm weights (awq.h):
 * with an importance matrix whose every 8th channel matters 100 times more,
 * `--awq` rescales norms and matrices, the file stays a plain GGUF whose
 * model computes the same function (Q8_0: logits as close to F32 as without
 * scaling), and a Q4_0 file gets no further from F32 than without it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/synth.h"
#include "quant/imatrix.h"
#include "quant/imatrix_collect.h"
#include "quant/quantize.h"
#include "testutil.h"

#define N_TOK 16

static void write_skewed_imatrix(const slm_synth_shape *sh, const char *path) {
    slm_imatrix_collector *c = NULL;
    slm_error err;
    SLM_ASSERT_OK(slm_imatrix_collector_new(&c, &err), &err);
    static const char *const kinds[] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
    float *x = malloc((size_t)sh->n_ff * sizeof *x);
    for (int i = 0; i < sh->n_ff; i++) x[i] = i % 8 == 0 ? 10.0f : 1.0f;
    for (int l = 0; l < sh->n_layer; l++)
        for (int k = 0; k < 7; k++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, kinds[k]);
            slm_imatrix_observe(c, name, x, k == 6 ? sh->n_ff : sh->n_embd, 1);
        }
    SLM_ASSERT_OK(slm_imatrix_collector_write(c, path, NULL, &err), &err);
    slm_imatrix_collector_free(c);
    free(x);
}

/* RMS difference of the last token's logits between two models. */
static double logit_rms(const char *a_path, const char *b_path) {
    const char *paths[2] = {a_path, b_path};
    float *logits[2] = {NULL, NULL};
    int n_vocab = 0;
    slm_token tok[N_TOK];
    for (int i = 0; i < N_TOK; i++) tok[i] = (slm_token)(1 + 37 * i % 300);
    for (int k = 0; k < 2; k++) {
        slm_model *m = NULL;
        slm_context *c = NULL;
        slm_error err;
        SLM_ASSERT_OK(slm_model_load(paths[k], &m, &err), &err);
        slm_context_params cp = slm_context_default_params();
        cp.n_ctx = 64;
        cp.n_threads = 1;
        SLM_ASSERT_OK(slm_context_new(m, &cp, &c, &err), &err);
        bool want[N_TOK] = {false};
        want[N_TOK - 1] = true;
        slm_batch b = {.n_tokens = N_TOK, .tokens = tok, .logits = want};
        SLM_ASSERT_OK(slm_decode(c, &b, &err), &err);
        n_vocab = slm_model_n_vocab(m);
        logits[k] = malloc((size_t)n_vocab * sizeof(float));
        memcpy(logits[k], slm_get_logits(c, N_TOK - 1), (size_t)n_vocab * sizeof(float));
        slm_context_free(c);
        slm_model_free(m);
    }
    double s = 0;
    for (int i = 0; i < n_vocab; i++) s += (double)(logits[0][i] - logits[1][i]) * (logits[0][i] - logits[1][i]);
    free(logits[0]);
    free(logits[1]);
    return sqrt(s / n_vocab);
}

static int quantize(const char *src, const char *dst, const char *preset, const slm_imatrix *im, bool awq) {
    slm_quant_params p = slm_quant_default_params();
    p.preset = preset;
    p.pure = true;
    p.imatrix = im;
    p.awq = awq;
    p.n_threads = 2;
    slm_quant_summary sum;
    slm_error err;
    SLM_ASSERT_OK(slm_quantize_file(src, dst, &p, &sum, &err), &err);
    return sum.n_awq_scaled;
}

static bool norms_differ(const char *a_path, const char *b_path, const char *name) {
    slm_gguf *a = NULL, *b = NULL;
    slm_error err;
    SLM_ASSERT_OK(slm_gguf_open(a_path, &a, &err), &err);
    SLM_ASSERT_OK(slm_gguf_open(b_path, &b, &err), &err);
    const slm_gguf_tensor *ta = slm_gguf_find_tensor(a, name), *tb = slm_gguf_find_tensor(b, name);
    assert_non_null(ta);
    assert_non_null(tb);
    assert_int_equal(tb->type, SLM_TYPE_F32);
    bool differ = memcmp(ta->data, tb->data, ta->n_bytes) != 0;
    slm_gguf_close(a);
    slm_gguf_close(b);
    return differ;
}

static void test_awq_keeps_the_function(void **state) {
    (void)state;
    char *dir = slm_test_tmpdir(), src[512], im_path[512], a[512], b[512];
    snprintf(src, sizeof src, "%s/tiny.gguf", dir);
    snprintf(im_path, sizeof im_path, "%s/im.gguf", dir);
    snprintf(a, sizeof a, "%s/plain.gguf", dir);
    snprintf(b, sizeof b, "%s/awq.gguf", dir);
    const slm_synth_shape *sh = slm_synth_shape_find("tiny");
    slm_synth_params sp = {sh, NULL, SLM_TYPE_F32, 5};
    slm_error err;
    SLM_ASSERT_OK(slm_synth_write(&sp, src, &err), &err);
    write_skewed_imatrix(sh, im_path);
    slm_imatrix *im = NULL;
    SLM_ASSERT_OK(slm_imatrix_load(im_path, &im, &err), &err);

    static const char *const presets[] = {"Q8_0", "Q4_0"};
    for (int k = 0; k < 2; k++) {
        assert_int_equal(quantize(src, a, presets[k], im, false), 0);
        int scaled = quantize(src, b, presets[k], im, true);
        double plain = logit_rms(src, a), awq = logit_rms(src, b);
        print_message("%s: %d norm groups scaled, RMS logit error %.5f without, %.5f with\n", presets[k], scaled,
                      plain, awq);
        /* a scale folded the wrong way (or not into the norm) is off by factors up to 4 */
        assert_true(awq < 1.5 * plain + 1e-4);
        if (k == 1) {
            assert_true(scaled > 0);
            bool any = false;
            for (int l = 0; l < sh->n_layer; l++) {
                char name[64];
                snprintf(name, sizeof name, "blk.%d.attn_norm.weight", l);
                any |= norms_differ(src, b, name);
                snprintf(name, sizeof name, "blk.%d.ffn_norm.weight", l);
                any |= norms_differ(src, b, name);
            }
            assert_true(any);
        }
    }
    slm_imatrix_free(im);
    slm_test_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_awq_keeps_the_function),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
