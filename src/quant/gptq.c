/* gptq.c - rounding with error feedback (see gptq.h): the factor U of
 * H^-1 per matrix (one Cholesky factorization and one triangular inverse,
 * O(n^3)), then the column walk per row (O(n^2)). */
#include "quant/gptq.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant/fit.h"
#include "quant/quant_rows.h"
#include "runtime/error.h"
#include "runtime/threadpool.h"
#include "types/types.h"

bool slm_gptq_supports(slm_type t) {
    switch (t) {
    case SLM_TYPE_Q4_0: case SLM_TYPE_Q4_1: case SLM_TYPE_Q5_0: case SLM_TYPE_Q5_1: case SLM_TYPE_Q8_0:
    case SLM_TYPE_Q4_K: case SLM_TYPE_Q5_K: case SLM_TYPE_Q6_K:
        return true;
    default:
        return false;
    }
}

/* In place: the lower triangle of a (n x n) becomes L with a = L L^T
 * (the upper triangle is left as it was).  Right-looking: once column k is
 * final, it is subtracted from the rest of the lower triangle row by row,
 * an inner loop without a reduction that the compiler vectorizes.  The
 * rows of that update are shared out among the threads; every element gets
 * the same operations in the same order whatever the split. */
typedef struct chol_task {
    double *a;
    const double *col; /* column k of L, contiguous */
    int64_t n, k;
} chol_task;

static void chol_update(void *arg, int ith, int nth) {
    const chol_task *c = arg;
    for (int64_t i = c->k + 1 + ith; i < c->n; i += nth) {
        double *ai = c->a + i * c->n, lik = c->col[i];
        for (int64_t j = c->k + 1; j <= i; j++) ai[j] -= lik * c->col[j];
    }
}

/* False when a is not positive definite (numerically); col: n doubles. */
static bool cholesky_lower(double *a, int64_t n, double *col, slm_threadpool *pool) {
    chol_task c = {a, col, n, 0};
    for (int64_t k = 0; k < n; k++) {
        double d = a[k * n + k];
        if (!(d > 0)) return false;
        d = sqrt(d);
        a[k * n + k] = d;
        for (int64_t i = k + 1; i < n; i++) col[i] = a[i * n + k] /= d;
        c.k = k;
        if (n - k > 64) slm_threadpool_run(pool, chol_update, &c); /* small updates: not worth a wake-up */
        else chol_update(&c, 0, 1);
    }
    return true;
}

/* m = l^-1 (lower triangular).  Column c of m depends only on column c of
 * the rows above, so each thread takes whole groups of 16 columns (dealt
 * round-robin: the left ones hold more work) and walks them down the rows,
 * adding row k of m times l_ik into row i: contiguous, no reduction. */
typedef struct inv_task {
    const double *l;
    double *m;
    int64_t n;
} inv_task;

#define INV_COLS 16
static void invert_cols(void *arg, int ith, int nth) {
    const inv_task *t = arg;
    int64_t n = t->n;
    for (int64_t c0 = (int64_t)ith * INV_COLS; c0 < n; c0 += (int64_t)nth * INV_COLS) {
        int64_t c1 = c0 + INV_COLS < n ? c0 + INV_COLS : n;
        for (int64_t i = c0; i < n; i++) {
            double *mi = t->m + i * n;
            const double *li = t->l + i * n;
            int64_t end = i < c1 ? i : c1; /* columns c0..end-1 lie left of the diagonal */
            for (int64_t c = c0; c < end; c++) mi[c] = 0;
            for (int64_t k = c0; k < i; k++) {
                const double *mk = t->m + k * n;
                int64_t hi = k + 1 < end ? k + 1 : end;
                for (int64_t c = c0; c < hi; c++) mi[c] += li[k] * mk[c];
            }
            for (int64_t c = c0; c < end; c++) mi[c] = -mi[c] / li[i];
            if (i < c1) mi[i] = 1.0 / li[i];
        }
    }
}

static void invert_lower(const double *l, int64_t n, double *m, slm_threadpool *pool) {
    memset(m, 0, (size_t)(n * n) * sizeof *m);
    inv_task t = {l, m, n};
    slm_threadpool_run(pool, invert_cols, &t);
}

/* H (n x n) from the sums, scaled for the AWQ multipliers, dead channels
 * decoupled, damped by damp * mean diagonal. */
static void build_h(const float *cov, float count, int64_t n, const float *col, double damp, double *h) {
    double inv_count = count > 0 ? 1.0 / count : 1.0, mean = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            double v = (double)cov[i * n + j] * inv_count;
            if (col) v /= (double)col[i] * col[j];
            h[i * n + j] = v;
        }
    for (int64_t i = 0; i < n; i++) {
        if (!(h[i * n + i] > 0)) { /* never active (or NaN): its rounding error costs nothing, move none */
            for (int64_t j = 0; j < n; j++) h[i * n + j] = h[j * n + i] = 0;
            h[i * n + i] = 1;
        }
        mean += h[i * n + i];
    }
    mean /= (double)n;
    for (int64_t i = 0; i < n; i++) h[i * n + i] += damp * mean;
}

slm_status slm_gptq_factor(const float *cov_sums, float count, int64_t n, const float *col, float damp,
                           slm_threadpool *pool, float **out, slm_error *err) {
    *out = NULL;
    size_t nn = (size_t)(n * n);
    double *h = malloc(nn * sizeof *h), *rev = malloc(nn * sizeof *rev), *col_scratch = malloc((size_t)n * sizeof(double));
    float *u = malloc(nn * sizeof *u);
    slm_status s = h && rev && u && col_scratch ? SLM_OK : slm_fail(err, SLM_E_NOMEM, "gptq: out of memory for %lld x %lld",
                                                           (long long)n, (long long)n);
    /* The upper factor of H^-1 without forming H^-1: with J the order
     * reversal and J H J = L L^T, H^-1 = (J L^-1 J)^T (J L^-1 J), and
     * J L^-1 J is upper triangular.  More damping while rounding makes a
     * nearly singular H look indefinite. */
    bool ok = false;
    for (double d = damp; s == SLM_OK && !ok && d < 10; d = d > 0 ? d * 10 : 1e-4) {
        build_h(cov_sums, count, n, col, d, h);
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++) rev[i * n + j] = h[(n - 1 - i) * n + (n - 1 - j)];
        ok = cholesky_lower(rev, n, col_scratch, pool);
    }
    if (s == SLM_OK && !ok) s = slm_fail(err, SLM_E_INVALID, "gptq: the input covariance is not positive definite");
    if (s == SLM_OK) {
        invert_lower(rev, n, h, pool);
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++) u[i * n + j] = j >= i ? (float)h[(n - 1 - i) * n + (n - 1 - j)] : 0.0f;
        *out = u, u = NULL;
    }
    free(h);
    free(rev);
    free(col_scratch);
    free(u);
    return s;
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

void slm_gptq_row(slm_type t, float *x, int64_t n, const float *U, const float *imatrix, void *dst) {
    int bs = (int)slm_type_block_size(t);
    uint32_t bb = slm_type_block_bytes(t);
    uint8_t *blk = dst;
    for (int64_t b0 = 0; b0 < n; b0 += bs, blk += bb) {
        /* the block's scales, from its weights as corrected so far */
        slm_quantize_row(t, x + b0, blk, bs, imatrix ? imatrix + b0 : NULL);
        slm_qgrid g;
        slm_qblock_grid(t, blk, &g);
        int L[256];
        for (int i = 0; i < bs; i++) {
            int64_t j = b0 + i;
            float step = g.step[i / g.sub], off = g.offset[i / g.sub];
            int l = step != 0.0f ? slm_qround((x[j] - off) / step) : 0;
            L[i] = clampi(l, g.lo, g.hi);
            float e = (x[j] - (step * (float)L[i] + off)) / U[j * n + j];
            const float *uj = U + j * n;
            for (int64_t k = j + 1; k < n; k++) x[k] -= e * uj[k];
        }
        slm_qblock_set_quants(t, blk, L);
    }
}
