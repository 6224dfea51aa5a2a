/* imatrix_collect.c - accumulating activation statistics (and, on request,
 * full input covariances) and writing them (format in imatrix.h). */
#include "quant/imatrix_collect.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"
#include "runtime/threadpool.h"

typedef struct collect_entry {
    char *name;
    int64_t n_in;
    int64_t count;  /* tokens summed */
    double *sum2;   /* n_in sums of squares (double: millions of tokens lose no precision) */
    double *cov;    /* n_in x n_in sums of x_i x_j, upper triangle only (i <= j), or NULL */
} collect_entry;

struct slm_imatrix_collector {
    collect_entry *e;
    uint64_t n, cap;
    /* the first problem met inside the hook, which cannot report it */
    slm_status failed;
    char failure[256];
    int64_t cov_max_n_in; /* 0: no covariances */
    uint64_t n_skipped_cov;
    slm_threadpool *pool; /* for the covariance sums, or NULL */
};

slm_status slm_imatrix_collector_set_covariance(slm_imatrix_collector *c, int64_t max_n_in, int n_threads,
                                               slm_error *err) {
    c->cov_max_n_in = max_n_in;
    if (n_threads > 1 && !c->pool && !(c->pool = slm_threadpool_new(n_threads)))
        return slm_fail(err, SLM_E_NOMEM, "imatrix: cannot start %d threads", n_threads);
    return SLM_OK;
}

uint64_t slm_imatrix_collector_n_skipped_cov(const slm_imatrix_collector *c) { return c->n_skipped_cov; }

slm_status slm_imatrix_collector_new(slm_imatrix_collector **out, slm_error *err) {
    *out = calloc(1, sizeof **out);
    return *out ? SLM_OK : slm_fail(err, SLM_E_NOMEM, "imatrix: out of memory");
}

void slm_imatrix_collector_free(slm_imatrix_collector *c) {
    if (!c) return;
    for (uint64_t i = 0; i < c->n; i++) {
        free(c->e[i].name);
        free(c->e[i].sum2);
        free(c->e[i].cov);
    }
    free(c->e);
    if (c->pool) slm_threadpool_free(c->pool);
    free(c);
}

uint64_t slm_imatrix_collector_n_entries(const slm_imatrix_collector *c) { return c->n; }

static collect_entry *find(const slm_imatrix_collector *c, const char *name) {
    for (uint64_t i = 0; i < c->n; i++)
        if (strcmp(c->e[i].name, name) == 0) return &c->e[i];
    return NULL;
}

static void fail_once(slm_imatrix_collector *c, slm_status s, const char *what, const char *name) {
    if (c->failed) return;
    c->failed = s;
    snprintf(c->failure, sizeof c->failure, "%s '%s'", what, name);
}

static collect_entry *add(slm_imatrix_collector *c, const char *name, int64_t n_in) {
    if (c->n == c->cap) {
        uint64_t cap = c->cap ? 2 * c->cap : 64;
        collect_entry *e = realloc(c->e, cap * sizeof *e);
        if (!e) return NULL;
        c->e = e, c->cap = cap;
    }
    collect_entry *e = &c->e[c->n];
    *e = (collect_entry){.name = malloc(strlen(name) + 1), .n_in = n_in,
                         .sum2 = calloc((size_t)n_in, sizeof(double))};
    bool want_cov = c->cov_max_n_in > 0 && n_in <= c->cov_max_n_in;
    if (c->cov_max_n_in > 0 && !want_cov) c->n_skipped_cov++;
    if (want_cov) e->cov = calloc((size_t)(n_in * n_in), sizeof(double));
    if (!e->name || !e->sum2 || (want_cov && !e->cov)) {
        free(e->name);
        free(e->sum2);
        free(e->cov);
        return NULL;
    }
    strcpy(e->name, name);
    c->n++;
    return e;
}

/* cov += sum over the tokens of x x^T, upper triangle (the rest follows by
 * symmetry).  A few rows of cov at a time take every token's update, so
 * that they stay in cache while the tokens stream past (token by token, a
 * wide input's whole matrix would go through memory once per token).  The
 * groups of rows are dealt round-robin to the threads; each sum still adds
 * the tokens in order, so the result is the same for any thread count. */
#define COV_ROWS 8
typedef struct outer_task {
    double *cov;
    const float *x;
    int64_t n, n_tokens;
} outer_task;

static void add_outer(void *arg, int ith, int nth) {
    const outer_task *o = arg;
    int64_t n = o->n;
    for (int64_t i0 = (int64_t)ith * COV_ROWS; i0 < n; i0 += (int64_t)nth * COV_ROWS) {
        int64_t i1 = i0 + COV_ROWS < n ? i0 + COV_ROWS : n;
        for (int64_t t = 0; t < o->n_tokens; t++) {
            const float *row = o->x + t * n;
            for (int64_t i = i0; i < i1; i++) {
                double xi = row[i], *ci = o->cov + i * n;
                for (int64_t j = i; j < n; j++) ci[j] += xi * row[j];
            }
        }
    }
}

void slm_imatrix_observe(void *collector, const char *name, const float *x, int64_t n_in, int64_t n_tokens) {
    slm_imatrix_collector *c = collector;
    if (c->failed) return;
    collect_entry *e = find(c, name);
    if (!e && !(e = add(c, name, n_in))) {
        fail_once(c, SLM_E_NOMEM, "out of memory for matrix", name);
        return;
    }
    if (e->n_in != n_in) {
        fail_once(c, SLM_E_INVALID, "inputs of two different widths for matrix", name);
        return;
    }
    for (int64_t t = 0; t < n_tokens; t++) {
        const float *row = x + t * n_in;
        for (int64_t i = 0; i < n_in; i++) e->sum2[i] += (double)row[i] * row[i];
    }
    if (e->cov) {
        outer_task o = {e->cov, x, n_in, n_tokens};
        slm_threadpool_run(c->pool, add_outer, &o);
    }
    e->count += n_tokens;
}

const double *slm_imatrix_collector_sums(const slm_imatrix_collector *c, const char *name, int64_t *n_in,
                                         int64_t *count) {
    const collect_entry *e = find(c, name);
    if (!e) return NULL;
    *n_in = e->n_in;
    *count = e->count;
    return e->sum2;
}

const double *slm_imatrix_collector_cov(const slm_imatrix_collector *c, const char *name) {
    const collect_entry *e = find(c, name);
    return e ? e->cov : NULL;
}

static slm_status write_metadata(slm_gguf_writer *w, const slm_imatrix_info *info, slm_error *err) {
    slm_status s = slm_gguf_writer_set_str(w, "general.type", "imatrix", err);
    if (!s && info && info->dataset) {
        slm_str d = {.ptr = info->dataset, .len = strlen(info->dataset)};
        s = slm_gguf_writer_set_arr_str(w, "imatrix.datasets", &d, 1, err);
    }
    if (!s && info) s = slm_gguf_writer_set_u32(w, "imatrix.chunk_count", info->chunk_count, err);
    if (!s && info) s = slm_gguf_writer_set_u32(w, "imatrix.chunk_size", info->chunk_size, err);
    return s;
}

static slm_status add_infos(slm_gguf_writer *w, const collect_entry *e, slm_error *err) {
    char name[512];
    if (strlen(e->name) + sizeof ".in_sum2" > sizeof name)
        return slm_fail(err, SLM_E_INVALID, "imatrix: tensor name '%s' is too long", e->name);
    int64_t ne_sum[2] = {e->n_in, 1}, ne_count[2] = {1, 1};
    snprintf(name, sizeof name, "%s.in_sum2", e->name);
    slm_status s = slm_gguf_writer_add_tensor(w, name, SLM_TYPE_F32, 2, ne_sum, err);
    snprintf(name, sizeof name, "%s.counts", e->name);
    if (!s) s = slm_gguf_writer_add_tensor(w, name, SLM_TYPE_F32, 2, ne_count, err);
    int64_t ne_cov[2] = {e->n_in, e->n_in};
    snprintf(name, sizeof name, "%s.in_cov", e->name);
    if (!s && e->cov) s = slm_gguf_writer_add_tensor(w, name, SLM_TYPE_F32, 2, ne_cov, err);
    return s;
}

/* The whole symmetric matrix, one row at a time. */
static slm_status write_cov(slm_gguf_writer *w, const collect_entry *e, float *row, slm_error *err) {
    slm_status s = SLM_OK;
    int64_t n = e->n_in;
    for (int64_t i = 0; !s && i < n; i++) {
        for (int64_t j = 0; j < n; j++) row[j] = (float)(j >= i ? e->cov[i * n + j] : e->cov[j * n + i]);
        s = slm_gguf_writer_write(w, row, (size_t)n * sizeof *row, err);
    }
    return s;
}

static slm_status write_data(slm_gguf_writer *w, const collect_entry *e, slm_error *err) {
    float *sum2 = malloc((size_t)e->n_in * sizeof *sum2);
    if (!sum2) return slm_fail(err, SLM_E_NOMEM, "imatrix: out of memory");
    for (int64_t i = 0; i < e->n_in; i++) sum2[i] = (float)e->sum2[i];
    float count = (float)e->count;
    slm_status s = slm_gguf_writer_write(w, sum2, (size_t)e->n_in * sizeof *sum2, err);
    if (!s) s = slm_gguf_writer_write(w, &count, sizeof count, err);
    if (!s && e->cov) s = write_cov(w, e, sum2, err);
    free(sum2);
    return s;
}

slm_status slm_imatrix_collector_write(const slm_imatrix_collector *c, const char *path,
                                       const slm_imatrix_info *info, slm_error *err) {
    if (c->failed) return slm_fail(err, c->failed, "imatrix: %s", c->failure);
    if (c->n == 0) return slm_fail(err, SLM_E_INVALID, "imatrix: no activations were collected");
    slm_gguf_writer *w = NULL;
    slm_status s = slm_gguf_writer_new(path, &w, err);
    if (!s) s = write_metadata(w, info, err);
    for (uint64_t i = 0; !s && i < c->n; i++) s = add_infos(w, &c->e[i], err);
    for (uint64_t i = 0; !s && i < c->n; i++) s = write_data(w, &c->e[i], err);
    if (!s) s = slm_gguf_writer_finish(w, err);
    slm_gguf_writer_free(w);
    return s;
}
