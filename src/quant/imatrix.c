/* imatrix.c - loading importance matrices (format in imatrix.h). */
#include "quant/imatrix.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"

typedef struct im_entry {
    char *name;      /* the weight's name (without ".in_sum2") */
    int64_t n_in, n_mat;
    float *values;   /* n_in * n_mat importances */
    const float *cov; /* n_in x n_in sums in the mapped file, or NULL */
    float count;     /* tokens summed (for cov) */
} im_entry;

struct slm_imatrix {
    im_entry *e;
    uint64_t n, n_cov;
    slm_gguf *g; /* kept open while covariances point into it */
};

static const char SUFFIX[] = ".in_sum2";

void slm_imatrix_free(slm_imatrix *m) {
    if (!m) return;
    for (uint64_t i = 0; i < m->n; i++) {
        free(m->e[i].name);
        free(m->e[i].values);
    }
    free(m->e);
    slm_gguf_close(m->g);
    free(m);
}

uint64_t slm_imatrix_n_entries(const slm_imatrix *m) { return m ? m->n : 0; }

static float cnt_first(const slm_gguf_tensor *c) { return c->n_elements ? ((const float *)c->data)[0] : 0.0f; }

static slm_status load_entry(const slm_gguf *g, const char *path, const slm_gguf_tensor *t, im_entry *e,
                             slm_error *err) {
    size_t base = strlen(t->name) - (sizeof SUFFIX - 1);
    char cname[512];
    if (base + sizeof ".counts" > sizeof cname) return slm_fail(err, SLM_E_FORMAT, "%s: tensor name '%s' is too long", path, t->name);
    memcpy(cname, t->name, base);
    strcpy(cname + base, ".counts");
    const slm_gguf_tensor *c = slm_gguf_find_tensor(g, cname);
    if (t->type != SLM_TYPE_F32 || !c || c->type != SLM_TYPE_F32)
        return slm_fail(err, SLM_E_FORMAT, "%s: '%s' needs an F32 '%s' next to it", path, t->name, cname);
    int64_t n_in = t->ne[0], n_mat = t->ne[1];
    if (c->n_elements != (uint64_t)n_mat)
        return slm_fail(err, SLM_E_FORMAT, "%s: '%s' has %lld counts for %lld matrices", path, cname,
                        (long long)c->n_elements, (long long)n_mat);
    e->name = malloc(base + 1);
    e->values = malloc((size_t)(n_in * n_mat) * sizeof(float));
    if (!e->name || !e->values) return slm_fail(err, SLM_E_NOMEM, "%s: out of memory", path);
    memcpy(e->name, t->name, base);
    e->name[base] = '\0';
    e->n_in = n_in, e->n_mat = n_mat;
    e->count = cnt_first(c);
    strcpy(cname + base, ".in_cov");
    const slm_gguf_tensor *cov = slm_gguf_find_tensor(g, cname);
    if (cov && (cov->type != SLM_TYPE_F32 || n_mat != 1 || cov->ne[0] != n_in || cov->ne[1] != n_in || cov->ne[2] != 1))
        return slm_fail(err, SLM_E_FORMAT, "%s: '%s' must be F32 [%lld, %lld]", path, cname, (long long)n_in,
                        (long long)n_in);
    e->cov = cov ? cov->data : NULL;
    const float *sum2 = t->data, *cnt = c->data;
    for (int64_t k = 0; k < n_mat; k++)
        for (int64_t i = 0; i < n_in; i++) {
            float v = cnt[k] > 0 ? sum2[k * n_in + i] / cnt[k] : 1.0f;
            e->values[k * n_in + i] = v >= 0 ? v : 0.0f; /* NaN and negatives carry no importance */
        }
    return SLM_OK;
}

slm_status slm_imatrix_load(const char *path, slm_imatrix **out, slm_error *err) {
    *out = NULL;
    slm_gguf *g = NULL;
    slm_status s = slm_gguf_open(path, &g, err);
    if (s != SLM_OK) return s;
    slm_imatrix *m = calloc(1, sizeof *m);
    uint64_t nt = slm_gguf_n_tensors(g);
    if (m) m->e = calloc(nt ? nt : 1, sizeof *m->e);
    if (!m || !m->e) {
        slm_imatrix_free(m);
        slm_gguf_close(g);
        return slm_fail(err, SLM_E_NOMEM, "%s: out of memory", path);
    }
    for (uint64_t i = 0; i < nt && s == SLM_OK; i++) {
        const slm_gguf_tensor *t = slm_gguf_tensor_at(g, i);
        size_t len = strlen(t->name);
        if (len <= sizeof SUFFIX - 1 || strcmp(t->name + len - (sizeof SUFFIX - 1), SUFFIX) != 0) continue;
        s = load_entry(g, path, t, &m->e[m->n], err);
        m->n_cov += m->e[m->n].cov != NULL;
        m->n++;
    }
    if (m->n_cov) m->g = g; /* the covariances stay mapped */
    else slm_gguf_close(g);
    if (s == SLM_OK && m->n == 0) s = slm_fail(err, SLM_E_FORMAT, "%s: no '*.in_sum2' tensors: not an imatrix file", path);
    if (s != SLM_OK) {
        slm_imatrix_free(m); /* closes g if kept */
        return s;
    }
    *out = m;
    return SLM_OK;
}

/* The entry of matrix `name` with n_in inputs (tensor names are unique in a
 * GGUF file, so there is at most one). */
static const im_entry *find(const slm_imatrix *m, const char *name, int64_t n_in) {
    for (uint64_t i = 0; m && i < m->n; i++)
        if (strcmp(m->e[i].name, name) == 0 && m->e[i].n_in == n_in) return &m->e[i];
    return NULL;
}

const float *slm_imatrix_get(const slm_imatrix *m, const char *name, int64_t n_in, int64_t mat) {
    const im_entry *e = find(m, name, n_in);
    if (!e) return NULL;
    if (e->n_mat == 1) return e->values;
    return mat < e->n_mat ? e->values + mat * n_in : NULL;
}

const float *slm_imatrix_cov(const slm_imatrix *m, const char *name, int64_t n_in, float *count) {
    const im_entry *e = find(m, name, n_in);
    if (!e || !e->cov) return NULL;
    *count = e->count;
    return e->cov;
}

uint64_t slm_imatrix_n_cov(const slm_imatrix *m) { return m ? m->n_cov : 0; }
