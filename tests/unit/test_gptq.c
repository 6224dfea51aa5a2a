/* test_gptq.c - `slm imatrix --covariance` and `slm quantize --gptq`: the
 * collected covariances match a direct computation from the inputs the
 * forward pass feeds a matrix, error feedback lowers a matrix's output error
 * on correlated inputs below plain rounding for every supported type,
 * --gptq without covariances is refused clearly, and the quantized file does
 * not depend on the thread count. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/context.h"
#include "model/synth.h"
#include "quant/gptq.h"
#include "quant/imatrix.h"
#include "quant/imatrix_collect.h"
#include "quant/quant_rows.h"
#include "quant/quantize.h"
#include "testutil.h"
#include "types/types.h"

#define N_TOK 9

/* ---- covariance collection ------------------------------------------- */

static unsigned char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*n);
    assert_int_equal(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}


/* Forwards to the collector and keeps its own full sums of x x^T for one
 * matrix, computed the plain way. */
typedef struct spy {
    slm_imatrix_collector *col;
    const char *name;
    int64_t n_in;
    double *cov;
    int n_threads; /* the collector's, for the covariance sums */
} spy;

static void spy_observe(void *user, const char *name, const float *x, int64_t n_in, int64_t n_tokens) {
    spy *s = user;
    slm_imatrix_observe(s->col, name, x, n_in, n_tokens);
    if (strcmp(name, s->name) != 0) return;
    if (!s->cov) {
        s->n_in = n_in;
        s->cov = calloc((size_t)(n_in * n_in), sizeof *s->cov);
    }
    for (int64_t t = 0; t < n_tokens; t++)
        for (int64_t i = 0; i < n_in; i++)
            for (int64_t j = 0; j < n_in; j++) s->cov[i * n_in + j] += (double)x[t * n_in + i] * x[t * n_in + j];
}

static char *tiny_model(char *dir, const char *file) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    slm_synth_params sp = {slm_synth_shape_find("tiny"), NULL, SLM_TYPE_F32, 5};
    slm_error err;
    SLM_ASSERT_OK(slm_synth_write(&sp, path, &err), &err);
    return path;
}

/* Runs the model over a few tokens, collecting with covariances, and writes
 * the imatrix to im_path.  The spy watches `watch`. */
static void collect(const char *model_path, const char *im_path, spy *s) {
    slm_error err;
    slm_model *m = NULL;
    SLM_ASSERT_OK(slm_model_load(model_path, &m, &err), &err);
    SLM_ASSERT_OK(slm_imatrix_collector_new(&s->col, &err), &err);
    SLM_ASSERT_OK(slm_imatrix_collector_set_covariance(s->col, SLM_IMATRIX_COV_MAX_N_IN, s->n_threads, &err), &err);
    slm_context_params cp = slm_context_default_params();
    cp.n_ctx = 64;
    cp.n_threads = 2;
    slm_context_options o = {.observe = spy_observe, .observe_user = s};
    slm_context *c = NULL;
    SLM_ASSERT_OK(slm_context_new_ex(m, &cp, &o, &c, &err), &err);
    for (int pass = 0; pass < 3; pass++) {
        slm_token tok[N_TOK];
        bool want[N_TOK];
        for (int i = 0; i < N_TOK; i++) tok[i] = (slm_token)((37 * i + 101 * pass + 5) % 300), want[i] = true;
        slm_batch b = {.n_tokens = N_TOK, .tokens = tok, .logits = want};
        slm_kv_truncate(c, 0, 0);
        SLM_ASSERT_OK(slm_decode(c, &b, &err), &err);
    }
    slm_imatrix_info info = {.dataset = "test", .chunk_count = 3, .chunk_size = N_TOK};
    SLM_ASSERT_OK(slm_imatrix_collector_write(s->col, im_path, &info, &err), &err);
    slm_context_free(c);
    slm_model_free(m);
}

static void test_covariance_matches_direct_sums(void **state) {
    (void)state;
    char *dir = slm_test_tmpdir(), im_path[512];
    const char *model = tiny_model(dir, "tiny.gguf");
    snprintf(im_path, sizeof im_path, "%s/im.gguf", dir);
    spy s = {.name = "blk.1.ffn_down.weight", .n_threads = 3};
    collect(model, im_path, &s);
    assert_non_null(s.cov);
    int64_t n = s.n_in;
    assert_int_equal(n, 128);

    /* in the collector (upper triangle) and in the file (whole matrix) */
    const double *got = slm_imatrix_collector_cov(s.col, s.name);
    assert_non_null(got);
    slm_imatrix *im = NULL;
    slm_error err;
    SLM_ASSERT_OK(slm_imatrix_load(im_path, &im, &err), &err);
    assert_int_equal(slm_imatrix_n_cov(im), slm_imatrix_n_entries(im));
    float count = 0.0f;
    const float *file_cov = slm_imatrix_cov(im, s.name, n, &count);
    assert_non_null(file_cov);
    assert_float_equal(count, 3 * N_TOK, 0);
    const float *diag = slm_imatrix_get(im, s.name, n, 0);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            double want = s.cov[i * n + j], tol = 1e-5 * (fabs(want) + 1e-3);
            if (j >= i) assert_true(fabs(got[i * n + j] - want) <= tol);
            assert_true(fabs(file_cov[i * n + j] - want) <= tol);
        }
    for (int64_t i = 0; i < n; i++) assert_true(fabs(diag[i] * count - file_cov[i * n + i]) <= 1e-5 * file_cov[i * n + i]);
    /* a width that does not match has no covariance */
    assert_null(slm_imatrix_cov(im, s.name, 64, &count));

    slm_imatrix_free(im);
    slm_imatrix_collector_free(s.col);
    free(s.cov);

    /* one thread adds the same sums */
    char im1_path[512];
    snprintf(im1_path, sizeof im1_path, "%s/im1.gguf", dir);
    spy s1 = {.name = "none", .n_threads = 1};
    collect(model, im1_path, &s1);
    slm_imatrix_collector_free(s1.col);
    size_t n3 = 0, n1 = 0;
    unsigned char *b3 = read_all(im_path, &n3), *b1 = read_all(im1_path, &n1);
    assert_int_equal(n3, n1);
    assert_memory_equal(b3, b1, n1);
    free(b3);
    free(b1);
    slm_test_rmtree(dir);
    free(dir);
}

static void test_wide_inputs_skip_covariance(void **state) {
    (void)state;
    slm_imatrix_collector *c = NULL;
    slm_error err;
    SLM_ASSERT_OK(slm_imatrix_collector_new(&c, &err), &err);
    SLM_ASSERT_OK(slm_imatrix_collector_set_covariance(c, 4, 1, &err), &err);
    float x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    slm_imatrix_observe(c, "narrow.weight", x, 4, 2);
    slm_imatrix_observe(c, "wide.weight", x, 8, 1);
    assert_non_null(slm_imatrix_collector_cov(c, "narrow.weight"));
    assert_null(slm_imatrix_collector_cov(c, "wide.weight"));
    assert_int_equal(slm_imatrix_collector_n_skipped_cov(c), 1);
    const double *cov = slm_imatrix_collector_cov(c, "narrow.weight");
    assert_true(cov[0 * 4 + 1] == 1 * 2 + 5 * 6);
    assert_true(cov[2 * 4 + 3] == 3 * 4 + 7 * 8);
    slm_imatrix_collector_free(c);
}

/* ---- error feedback on a toy matrix ----------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15u;
static double uniform(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}
static double gauss(void) { return sqrt(-2 * log(uniform() + 1e-300)) * cos(6.283185307179586 * uniform()); }

#define N_IN 256
#define N_ROWS 6
#define N_X 400

/* Sum over rows and inputs of (W x - Q x)^2, Q dequantized from q. */
static double output_error(slm_type t, const float *w, const uint8_t *q, const float *x) {
    size_t rb = slm_type_row_bytes(t, N_IN);
    double e = 0;
    float deq[N_IN];
    for (int r = 0; r < N_ROWS; r++) {
        slm_type_traits_of(t)->to_float(q + r * rb, deq, N_IN);
        for (int k = 0; k < N_X; k++) {
            double d = 0;
            for (int i = 0; i < N_IN; i++) d += ((double)w[r * N_IN + i] - deq[i]) * x[k * N_IN + i];
            e += d * d;
        }
    }
    return e;
}

static void test_feedback_lowers_output_error(void **state) {
    (void)state;
    /* inputs driven by a few shared factors (strongly correlated channels)
     * plus uneven per-channel noise */
    float *x = malloc(sizeof(float) * N_X * N_IN), *cov = calloc(N_IN * N_IN, sizeof(float));
    float *w = malloc(sizeof(float) * N_ROWS * N_IN), imp[N_IN];
    float load[4][N_IN], noise[N_IN];
    for (int f = 0; f < 4; f++)
        for (int i = 0; i < N_IN; i++) load[f][i] = (float)gauss();
    for (int i = 0; i < N_IN; i++) noise[i] = (float)(0.1 + uniform());
    for (int k = 0; k < N_X; k++) {
        double z[4] = {gauss(), gauss(), gauss(), gauss()};
        for (int i = 0; i < N_IN; i++)
            x[k * N_IN + i] = (float)(z[0] * load[0][i] + z[1] * load[1][i] + z[2] * load[2][i] + z[3] * load[3][i] +
                                      noise[i] * gauss());
    }
    for (int k = 0; k < N_X; k++)
        for (int i = 0; i < N_IN; i++)
            for (int j = 0; j < N_IN; j++) cov[i * N_IN + j] += x[k * N_IN + i] * x[k * N_IN + j];
    for (int i = 0; i < N_IN; i++) imp[i] = cov[i * N_IN + i] / N_X;
    for (int i = 0; i < N_ROWS * N_IN; i++) w[i] = (float)(0.02 * gauss());

    float *u = NULL;
    slm_error err;
    SLM_ASSERT_OK(slm_gptq_factor(cov, N_X, N_IN, NULL, SLM_GPTQ_DAMP, NULL, &u, &err), &err);
    static const slm_type types[] = {SLM_TYPE_Q4_0, SLM_TYPE_Q4_1, SLM_TYPE_Q5_0, SLM_TYPE_Q5_1,
                                     SLM_TYPE_Q8_0, SLM_TYPE_Q4_K, SLM_TYPE_Q5_K, SLM_TYPE_Q6_K};
    for (size_t k = 0; k < sizeof types / sizeof *types; k++) {
        slm_type t = types[k];
        assert_true(slm_gptq_supports(t));
        size_t rb = slm_type_row_bytes(t, N_IN);
        uint8_t *plain = malloc(rb * N_ROWS), *fed = malloc(rb * N_ROWS);
        float row[N_IN];
        for (int r = 0; r < N_ROWS; r++) {
            slm_quantize_row(t, w + r * N_IN, plain + r * rb, N_IN, imp);
            memcpy(row, w + r * N_IN, sizeof row);
            slm_gptq_row(t, row, N_IN, u, imp, fed + r * rb);
        }
        double e_plain = output_error(t, w, plain, x), e_fed = output_error(t, w, fed, x);
        print_message("%s: output error plain %.4g, with feedback %.4g (%.2f x)\n", slm_type_name(t), e_plain, e_fed,
                      e_fed / e_plain);
        assert_true(e_fed < 0.7 * e_plain);
        free(plain);
        free(fed);
    }
    assert_false(slm_gptq_supports(SLM_TYPE_IQ4_NL));
    /* the factor does not depend on the threads computing it */
    slm_threadpool *pool = slm_threadpool_new(3);
    assert_non_null(pool);
    float *u3 = NULL;
    SLM_ASSERT_OK(slm_gptq_factor(cov, N_X, N_IN, NULL, SLM_GPTQ_DAMP, pool, &u3, &err), &err);
    assert_memory_equal(u, u3, sizeof(float) * N_IN * N_IN);
    slm_threadpool_free(pool);
    free(u3);
    free(u);
    free(x);
    free(cov);
    free(w);
}

/* U is upper triangular with U^T U = H^-1 (no damping asked: none added
 * to a well-conditioned H); a channel that never carried signal moves no
 * error; AWQ multipliers act as the matching scaling of H. */
static void test_factor_is_inverse_cholesky(void **state) {
    (void)state;
    enum { N = 6 };
    float cov[N * N], a[N * N];
    for (int i = 0; i < N * N; i++) a[i] = (float)gauss();
    for (int i = 0; i < N; i++) /* A A^T + I, channel 4 dead */
        for (int j = 0; j < N; j++) {
            double v = i == j;
            for (int k = 0; k < N; k++) v += (double)a[i * N + k] * a[j * N + k];
            cov[i * N + j] = i == 4 || j == 4 ? 0.0f : (float)(2 * v);
        }
    float *u = NULL;
    slm_error err;
    SLM_ASSERT_OK(slm_gptq_factor(cov, 2.0f, N, NULL, 0.0f, NULL, &u, &err), &err);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            if (j < i) assert_true(u[i * N + j] == 0.0f);
            double p = 0; /* (U^T U H)_ij, H = cov / 2 with the dead channel's H_44 = 1 */
            for (int k = 0; k < N; k++) {
                double utu = 0;
                for (int m = 0; m < N; m++) utu += (double)u[m * N + i] * u[m * N + k];
                p += utu * (k == 4 && j == 4 ? 1.0 : cov[k * N + j] / 2.0);
            }
            assert_true(fabs(p - (i == j)) < 1e-4);
        }
    for (int j = 5; j < N; j++) assert_true(u[4 * N + j] == 0.0f);

    float col[N] = {1, 2, 0.5f, 3, 1, 0.25f}, scaled[N * N], *u2 = NULL;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) scaled[i * N + j] = cov[i * N + j] / (col[i] * col[j]);
    free(u);
    SLM_ASSERT_OK(slm_gptq_factor(cov, 2.0f, N, col, 0.01f, NULL, &u, &err), &err);
    SLM_ASSERT_OK(slm_gptq_factor(scaled, 2.0f, N, NULL, 0.01f, NULL, &u2, &err), &err);
    for (int i = 0; i < N * N; i++) assert_float_equal(u[i], u2[i], 1e-5 * (1 + fabsf(u2[i])));
    free(u);
    free(u2);
}

/* The grid read back from a block reproduces what the block dequantizes
 * to, and rewriting its quants with the same integers changes nothing. */
static void test_grid_round_trip(void **state) {
    (void)state;
    static const slm_type types[] = {SLM_TYPE_Q4_0, SLM_TYPE_Q4_1, SLM_TYPE_Q5_0, SLM_TYPE_Q5_1,
                                     SLM_TYPE_Q8_0, SLM_TYPE_Q4_K, SLM_TYPE_Q5_K, SLM_TYPE_Q6_K};
    float x[256], deq[256];
    for (int i = 0; i < 256; i++) x[i] = (float)gauss() + (i % 64 < 8 ? 0.5f : 0.0f);
    for (size_t k = 0; k < sizeof types / sizeof *types; k++) {
        slm_type t = types[k];
        int bs = (int)slm_type_block_size(t);
        uint8_t b[256], b2[256];
        slm_quantize_row(t, x, b, bs, NULL);
        slm_type_traits_of(t)->to_float(b, deq, bs);
        slm_qgrid g;
        assert_true(slm_qblock_grid(t, b, &g));
        int L[256];
        for (int i = 0; i < bs; i++) {
            float step = g.step[i / g.sub], off = g.offset[i / g.sub];
            double l = step != 0.0f ? round((deq[i] - off) / step) : 0;
            assert_true(l >= g.lo && l <= g.hi);
            assert_float_equal(step * (float)l + off, deq[i], 1e-5 * (1 + fabsf(deq[i])));
            L[i] = (int)l;
        }
        /* other quants change the values and nothing else; the same quants give the same bytes */
        int lo[256];
        for (int i = 0; i < bs; i++) lo[i] = g.lo;
        memcpy(b2, b, slm_type_block_bytes(t));
        slm_qblock_set_quants(t, b2, lo);
        slm_type_traits_of(t)->to_float(b2, deq, bs);
        for (int i = 0; i < bs; i++)
            assert_float_equal(deq[i], g.step[i / g.sub] * (float)g.lo + g.offset[i / g.sub], 1e-5 * (1 + fabsf(deq[i])));
        slm_qblock_set_quants(t, b2, L);
        assert_memory_equal(b2, b, slm_type_block_bytes(t));
    }
    assert_false(slm_qblock_grid(SLM_TYPE_IQ4_NL, (const uint8_t *)x, &(slm_qgrid){0}));
}

/* ---- the file driver -------------------------------------------------- */

static void test_gptq_needs_covariance(void **state) {
    (void)state;
    char *dir = slm_test_tmpdir(), im_path[512], out[512];
    const char *model = tiny_model(dir, "tiny.gguf");
    snprintf(out, sizeof out, "%s/out.gguf", dir);
    /* an imatrix without covariances */
    snprintf(im_path, sizeof im_path, "%s/im.gguf", dir);
    slm_imatrix_collector *c = NULL;
    slm_error err;
    SLM_ASSERT_OK(slm_imatrix_collector_new(&c, &err), &err);
    float x[64] = {1};
    slm_imatrix_observe(c, "blk.0.attn_q.weight", x, 64, 1);
    SLM_ASSERT_OK(slm_imatrix_collector_write(c, im_path, NULL, &err), &err);
    slm_imatrix_collector_free(c);
    slm_imatrix *im = NULL;
    SLM_ASSERT_OK(slm_imatrix_load(im_path, &im, &err), &err);
    assert_int_equal(slm_imatrix_n_cov(im), 0);

    slm_quant_params p = slm_quant_default_params();
    p.gptq = true;
    p.imatrix = im;
    p.n_threads = 1;
    assert_int_equal(slm_quantize_file(model, out, &p, NULL, &err), SLM_E_INVALID);
    assert_non_null(strstr(err.message, "covariance"));
    p.imatrix = NULL;
    assert_int_equal(slm_quantize_file(model, out, &p, NULL, &err), SLM_E_INVALID);
    assert_non_null(strstr(err.message, "--covariance"));
    FILE *f = fopen(out, "rb");
    assert_null(f);
    slm_imatrix_free(im);
    slm_test_rmtree(dir);
    free(dir);
}

/* An in_cov of the wrong shape or type is a format error naming it. */
static void test_bad_covariance_refused(void **state) {
    (void)state;
    char *dir = slm_test_tmpdir(), path[512];
    snprintf(path, sizeof path, "%s/bad.gguf", dir);
    static const struct { int64_t ne0, ne1; slm_type t; } cases[] = {{4, 5, SLM_TYPE_F32}, {4, 4, SLM_TYPE_F16}};
    for (int k = 0; k < 2; k++) {
        slm_gguf_writer *w = NULL;
        slm_error err;
        SLM_ASSERT_OK(slm_gguf_writer_new(path, &w, &err), &err);
        int64_t ne_sum[2] = {4, 1}, ne_cnt[2] = {1, 1}, ne_cov[2] = {cases[k].ne0, cases[k].ne1};
        SLM_ASSERT_OK(slm_gguf_writer_add_tensor(w, "a.weight.in_sum2", SLM_TYPE_F32, 2, ne_sum, &err), &err);
        SLM_ASSERT_OK(slm_gguf_writer_add_tensor(w, "a.weight.counts", SLM_TYPE_F32, 2, ne_cnt, &err), &err);
        SLM_ASSERT_OK(slm_gguf_writer_add_tensor(w, "a.weight.in_cov", cases[k].t, 2, ne_cov, &err), &err);
        float data[20] = {1, 1, 1, 1, 1};
        SLM_ASSERT_OK(slm_gguf_writer_write(w, data, 4 * sizeof(float), &err), &err);
        SLM_ASSERT_OK(slm_gguf_writer_write(w, data, sizeof(float), &err), &err);
        size_t cov_bytes = (size_t)(cases[k].ne0 * cases[k].ne1) * (cases[k].t == SLM_TYPE_F32 ? 4 : 2);
        SLM_ASSERT_OK(slm_gguf_writer_write(w, data, cov_bytes, &err), &err);
        SLM_ASSERT_OK(slm_gguf_writer_finish(w, &err), &err);
        slm_gguf_writer_free(w);
        slm_imatrix *im = NULL;
        assert_int_equal(slm_imatrix_load(path, &im, &err), SLM_E_FORMAT);
        assert_null(im);
        assert_non_null(strstr(err.message, "a.weight.in_cov"));
    }
    slm_test_rmtree(dir);
    free(dir);
}


static void test_gptq_file_same_for_any_thread_count(void **state) {
    (void)state;
    char *dir = slm_test_tmpdir(), im_path[512], out[3][512];
    const char *model = tiny_model(dir, "tiny.gguf");
    snprintf(im_path, sizeof im_path, "%s/im.gguf", dir);
    spy s = {.name = "none"};
    collect(model, im_path, &s);
    slm_imatrix_collector_free(s.col);
    slm_imatrix *im = NULL;
    slm_error err;
    SLM_ASSERT_OK(slm_imatrix_load(im_path, &im, &err), &err);
    static const int threads[3] = {1, 3, 1};
    for (int k = 0; k < 3; k++) {
        snprintf(out[k], sizeof out[k], "%s/out%d.gguf", dir, k);
        slm_quant_params p = slm_quant_default_params();
        p.preset = "Q4_0";
        p.imatrix = im;
        p.gptq = k < 2;
        p.n_threads = threads[k];
        slm_quant_summary sum;
        SLM_ASSERT_OK(slm_quantize_file(model, out[k], &p, &sum, &err), &err);
        /* 7 matrices per layer and output.weight; token_embd has no input covariance */
        assert_int_equal(sum.n_gptq, k < 2 ? 7 * 2 + 1 : 0);
    }
    size_t n0 = 0, n1 = 0, n2 = 0;
    unsigned char *a = read_all(out[0], &n0), *b = read_all(out[1], &n1), *c = read_all(out[2], &n2);
    assert_int_equal(n0, n1);
    assert_memory_equal(a, b, n0);
    assert_int_equal(n0, n2);
    assert_true(memcmp(a, c, n0) != 0); /* the feedback did change the rounding */
    free(a);
    free(b);
    free(c);
    slm_imatrix_free(im);
    slm_test_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_covariance_matches_direct_sums),
        cmocka_unit_test(test_wide_inputs_skip_covariance),
        cmocka_unit_test(test_feedback_lowers_output_error),
        cmocka_unit_test(test_factor_is_inverse_cholesky),
        cmocka_unit_test(test_grid_round_trip),
        cmocka_unit_test(test_gptq_needs_covariance),
        cmocka_unit_test(test_bad_covariance_refused),
        cmocka_unit_test(test_gptq_file_same_for_any_thread_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
