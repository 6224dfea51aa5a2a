/* awq.c - choosing and applying per-channel scales (see awq.h). */
#include "quant/awq.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant_rows.h"
#include "runtime/error.h"
#include "types/types.h"

#define MAX_MATS 3
#define SAMPLE_ROWS 256 /* rows per matrix the error is measured on */

/* Larger exponents lowered the weighted error further on stories260K but
 * raised the KL divergence (bench/results/quantize.md): stay gentle. */
static const float ALPHAS[] = {0.06f, 0.12f, 0.18f, 0.24f, 0.3f};

typedef struct awq_entry {
    const char *name; /* the tensor's, owned by the GGUF */
    float *col;       /* n column multipliers */
    float *imp;       /* n importances of the scaled columns (matrices only) */
} awq_entry;

struct slm_awq {
    awq_entry *e;
    int n, cap;
    int n_groups, n_scaled;
};

typedef struct group {
    const slm_gguf_tensor *norm, *mat[MAX_MATS];
    slm_type to[MAX_MATS];
    const float *imp[MAX_MATS];
    int n_mats;
    int64_t n;
} group;

void slm_awq_free(slm_awq *a) {
    if (!a) return;
    for (int i = 0; i < a->n; i++) {
        free(a->e[i].col);
        free(a->e[i].imp);
    }
    free(a->e);
    free(a);
}

int slm_awq_n_scaled(const slm_awq *a) { return a ? a->n_scaled : 0; }
int slm_awq_n_groups(const slm_awq *a) { return a ? a->n_groups : 0; }

const float *slm_awq_columns(const slm_awq *a, const char *name, const float **importance) {
    *importance = NULL;
    for (int i = 0; a && i < a->n; i++)
        if (strcmp(a->e[i].name, name) == 0) {
            *importance = a->e[i].imp;
            return a->e[i].col;
        }
    return NULL;
}

static bool is_float(slm_type t) { return t == SLM_TYPE_F32 || t == SLM_TYPE_F16 || t == SLM_TYPE_BF16; }

static slm_type type_at(const slm_gguf *g, const slm_type *types, const slm_gguf_tensor *t) {
    for (uint64_t i = 0; i < slm_gguf_n_tensors(g); i++)
        if (slm_gguf_tensor_at(g, i) == t) return types[i];
    return t->type;
}

/* A norm and the matrices it feeds, when all can be scaled: an F32 norm,
 * 2-D float matrices of its width, importances for each, at least one
 * matrix quantized. */
static bool find_group(const slm_gguf *g, const slm_type *types, const slm_imatrix *im, int layer,
                       const char *norm, const char *const *mats, int n_mats, group *gr) {
    char name[128];
    snprintf(name, sizeof name, "blk.%d.%s.weight", layer, norm);
    *gr = (group){.norm = slm_gguf_find_tensor(g, name), .n_mats = n_mats};
    if (!gr->norm || gr->norm->type != SLM_TYPE_F32 || gr->norm->n_dims != 1) return false;
    gr->n = gr->norm->ne[0];
    bool quantized = false;
    for (int m = 0; m < n_mats; m++) {
        snprintf(name, sizeof name, "blk.%d.%s.weight", layer, mats[m]);
        const slm_gguf_tensor *t = slm_gguf_find_tensor(g, name);
        if (!t || t->n_dims != 2 || t->ne[0] != gr->n || !is_float(t->type)) return false;
        gr->mat[m] = t;
        gr->to[m] = type_at(g, types, t);
        gr->imp[m] = slm_imatrix_get(im, t->name, gr->n, 0);
        if (!gr->imp[m]) return false;
        quantized |= !is_float(gr->to[m]);
    }
    return quantized;
}

/* Importance-weighted squared error of a group's sampled rows quantized
 * with column scales s (NULL = none), measured in the original columns. */
static double group_error(const group *gr, const float *s, float *buf) {
    int64_t n = gr->n;
    float *x = buf, *xs = buf + n, *y = buf + 2 * n, *imp = buf + 3 * n;
    uint8_t *q = (uint8_t *)(buf + 4 * n);
    double err = 0;
    for (int m = 0; m < gr->n_mats; m++) {
        const slm_gguf_tensor *t = gr->mat[m];
        slm_to_float_fn in = slm_type_traits_of(t->type)->to_float, out = slm_type_traits_of(gr->to[m])->to_float;
        uint64_t row_bytes = slm_type_row_bytes(t->type, n);
        int64_t rows = t->ne[1], step = rows > SAMPLE_ROWS ? rows / SAMPLE_ROWS : 1;
        for (int64_t i = 0; i < n; i++) imp[i] = s ? gr->imp[m][i] / (s[i] * s[i]) : gr->imp[m][i];
        for (int64_t r = 0; r < rows; r += step) {
            in((const uint8_t *)t->data + (uint64_t)r * row_bytes, x, n);
            for (int64_t i = 0; i < n; i++) xs[i] = s ? x[i] * s[i] : x[i];
            slm_quantize_row(gr->to[m], xs, q, n, imp);
            out(q, y, n);
            for (int64_t i = 0; i < n; i++) {
                double d = (double)x[i] - (s ? y[i] / s[i] : y[i]);
                err += gr->imp[m][i] * d * d;
            }
        }
    }
    return err;
}

/* s[i] = (imp[i] / mean)^alpha, imp = the first matrix's importances (all
 * of a group's matrices see the same input). */
static void make_scales(const group *gr, float alpha, float *s) {
    double mean = 0;
    for (int64_t i = 0; i < gr->n; i++) mean += gr->imp[0][i];
    mean /= (double)gr->n;
    for (int64_t i = 0; i < gr->n; i++) {
        double r = mean > 0 ? gr->imp[0][i] / mean : 1.0;
        s[i] = (float)pow(r > 1e-4 ? r : 1e-4, alpha);
    }
}

static awq_entry *add_entry(slm_awq *a, const char *name, int64_t n, bool with_imp) {
    if (a->n == a->cap) {
        int cap = a->cap ? 2 * a->cap : 32;
        awq_entry *e = realloc(a->e, (size_t)cap * sizeof *e);
        if (!e) return NULL;
        a->e = e, a->cap = cap;
    }
    awq_entry *e = &a->e[a->n];
    *e = (awq_entry){name, malloc((size_t)n * sizeof(float)), with_imp ? malloc((size_t)n * sizeof(float)) : NULL};
    if (!e->col || (with_imp && !e->imp)) {
        free(e->col);
        free(e->imp);
        return NULL;
    }
    a->n++;
    return e;
}

/* Records the chosen scales: the norm divided, the matrices multiplied. */
static bool apply(slm_awq *a, const group *gr, const float *s) {
    awq_entry *e = add_entry(a, gr->norm->name, gr->n, false);
    if (!e) return false;
    for (int64_t i = 0; i < gr->n; i++) e->col[i] = 1.0f / s[i];
    for (int m = 0; m < gr->n_mats; m++) {
        if (!(e = add_entry(a, gr->mat[m]->name, gr->n, true))) return false;
        for (int64_t i = 0; i < gr->n; i++) {
            e->col[i] = s[i];
            e->imp[i] = gr->imp[m][i] / (s[i] * s[i]);
        }
    }
    return true;
}

static bool choose(slm_awq *a, const group *gr, float *buf, float *s, float *best) {
    a->n_groups++;
    double best_err = group_error(gr, NULL, buf);
    bool scaled = false;
    for (size_t k = 0; k < sizeof ALPHAS / sizeof ALPHAS[0]; k++) {
        make_scales(gr, ALPHAS[k], s);
        double e = group_error(gr, s, buf);
        if (e < best_err) {
            best_err = e, scaled = true;
            memcpy(best, s, (size_t)gr->n * sizeof *s);
        }
    }
    if (!scaled) return true;
    a->n_scaled++;
    return apply(a, gr, best);
}

slm_status slm_awq_new(const slm_gguf *g, const slm_type *types, const slm_imatrix *im, slm_awq **out,
                       slm_error *err) {
    static const char *const ATTN[] = {"attn_q", "attn_k", "attn_v"}, *const FFN[] = {"ffn_gate", "ffn_up"};
    *out = NULL;
    slm_awq *a = calloc(1, sizeof *a);
    if (!a) return slm_fail(err, SLM_E_NOMEM, "awq: out of memory");
    float *buf = NULL, *s = NULL, *best = NULL;
    bool ok = true;
    for (int l = 0; ok; l++) {
        group gr[2];
        bool has[2] = {find_group(g, types, im, l, "attn_norm", ATTN, 3, &gr[0]),
                       find_group(g, types, im, l, "ffn_norm", FFN, 2, &gr[1])};
        char name[64];
        snprintf(name, sizeof name, "blk.%d.attn_norm.weight", l);
        if (!slm_gguf_find_tensor(g, name)) break;
        for (int k = 0; k < 2 && ok; k++) {
            if (!has[k]) continue;
            int64_t n = gr[k].n;
            free(buf), free(s), free(best);
            /* x, xs, y, importances, and a quantized row (at most 4 bytes a weight) */
            buf = malloc((size_t)n * 5 * sizeof(float));
            s = malloc((size_t)n * sizeof(float));
            best = malloc((size_t)n * sizeof(float));
            ok = buf && s && best && choose(a, &gr[k], buf, s, best);
        }
    }
    free(buf), free(s), free(best);
    if (!ok) {
        slm_awq_free(a);
        return slm_fail(err, SLM_E_NOMEM, "awq: out of memory");
    }
    *out = a;
    return SLM_OK;
}
