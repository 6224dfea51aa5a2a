/* quantize.c - the `slm quantize` driver: plan every tensor's type, copy
 * the metadata, then stream the tensors through the GGUF writer, a chunk of
 * rows at a time, converted by all threads. */
#include "quant/quantize.h"

#include <stdlib.h>
#include <string.h>

#include "quant/awq.h"
#include "quant/gptq.h"
#include "quant/quant_rows.h"
#include "runtime/error.h"
#include "runtime/threadpool.h"
#include "types/types.h"

#define CHUNK_ELEMENTS (1 << 20) /* floats converted per chunk and thread, about */

typedef struct plan_entry {
    const slm_gguf_tensor *t;
    slm_type to;
    bool fallback;
} plan_entry;

slm_quant_params slm_quant_default_params(void) {
    slm_quant_params p;
    memset(&p, 0, sizeof p);
    p.preset = "Q4_K_M";
    p.output_type = p.embd_type = SLM_TYPE_COUNT;
    return p;
}

static bool is_float_type(slm_type t) { return t == SLM_TYPE_F32 || t == SLM_TYPE_F16 || t == SLM_TYPE_BF16; }

/* Decides the output type of every tensor, in file order (the recipe counts). */
static slm_status make_plan(const slm_gguf *g, const char *in, const slm_quant_params *p, slm_recipe *r,
                            plan_entry *plan, slm_error *err) {
    for (uint64_t i = 0; i < slm_gguf_n_tensors(g); i++) {
        const slm_gguf_tensor *t = slm_gguf_tensor_at(g, i);
        plan[i] = (plan_entry){t, t->type, false};
        if (!slm_recipe_quantizable(t)) continue;
        plan[i].to = slm_recipe_type(r, t, &plan[i].fallback);
        if (plan[i].to == t->type) continue;
        if (!is_float_type(t->type) && !p->allow_requantize)
            return slm_fail(err, SLM_E_INVALID,
                            "%s: tensor '%s' is already quantized (%s); requantizing loses quality: pass "
                            "--allow-requantize to do it anyway",
                            in, t->name, slm_type_name(t->type));
        if (!slm_type_computable(t->type))
            return slm_fail(err, SLM_E_UNSUPPORTED, "%s: tensor '%s' has type %s, which slm cannot dequantize", in,
                            t->name, slm_type_name(t->type));
        if (!slm_quant_can_write(plan[i].to))
            return slm_fail(err, SLM_E_UNSUPPORTED, "tensor '%s': slm cannot write type %s", t->name,
                            slm_type_name(plan[i].to));
    }
    return SLM_OK;
}

static slm_status copy_metadata(const slm_gguf *g, slm_gguf_writer *w, const slm_ftype *ft, slm_error *err) {
    slm_status s = slm_gguf_writer_set_alignment(w, slm_gguf_alignment(g), err);
    for (uint64_t i = 0; i < slm_gguf_n_keys(g) && s == SLM_OK; i++) {
        const char *key = slm_gguf_key_name(g, i);
        if (!strcmp(key, "general.file_type") || !strcmp(key, "general.quantization_version") ||
            !strcmp(key, "general.alignment"))
            continue;
        s = slm_gguf_writer_set(w, key, slm_gguf_key_value(g, i), err);
    }
    if (s == SLM_OK) s = slm_gguf_writer_set_u32(w, "general.quantization_version", 2, err);
    if (s == SLM_OK) s = slm_gguf_writer_set_u32(w, "general.file_type", (uint32_t)ft->file_type, err);
    return s;
}

typedef struct convert_task {
    const slm_gguf_tensor *t;
    slm_type to;
    int64_t row0, n_rows, n_per_row;
    uint64_t in_row_bytes, out_row_bytes;
    uint8_t *out;
    float *scratch; /* n_per_row floats per thread */
    const slm_imatrix *im;
    const float *col, *col_imp; /* AWQ column multipliers and the scaled columns' importances, or NULL */
    const float *gptq_u;        /* gptq.h's factor for this matrix, or NULL */
} convert_task;

/* F16 -> F32 without branches, so that gcc vectorizes it (the type table's
 * converter handles one case at a time): the f16 exponent and mantissa
 * shifted into place and scaled by 2^112 give every finite value exactly,
 * subnormals included; an all-ones exponent (inf, NaN) is then set to 255. */
static void f16_row_to_f32(const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    for (int64_t i0 = 0; i0 < n; i0 += 64) {
        int n1 = n - i0 < 64 ? (int)(n - i0) : 64;
        uint32_t h[64];
        union { uint32_t u[64]; float f[64]; } v; /* C11 allows reading the other member */
        for (int i = 0; i < n1; i++) h[i] = (uint32_t)p[2 * (i0 + i)] | (uint32_t)p[2 * (i0 + i) + 1] << 8;
        for (int i = 0; i < n1; i++) v.u[i] = (h[i] & 0x7fff) << 13;
        for (int i = 0; i < n1; i++) v.f[i] *= 0x1p112f;
        for (int i = 0; i < n1; i++) v.u[i] |= ((h[i] & 0x7c00) == 0x7c00 ? 0x7f800000u : 0u) | (h[i] & 0x8000) << 16;
        for (int i = 0; i < n1; i++) dst[i0 + i] = v.f[i];
    }
}

static void convert_rows(void *arg, int ith, int nth) {
    const convert_task *c = arg;
    slm_to_float_fn to_float = c->t->type == SLM_TYPE_F16 ? f16_row_to_f32 : slm_type_traits_of(c->t->type)->to_float;
    float *row = c->scratch + (int64_t)ith * c->n_per_row;
    int64_t r0 = c->n_rows * ith / nth, r1 = c->n_rows * (ith + 1) / nth;
    int64_t rows_per_mat = c->t->ne[1];
    for (int64_t r = r0; r < r1; r++) {
        int64_t gr = c->row0 + r; /* row in the whole tensor */
        to_float((const uint8_t *)c->t->data + (uint64_t)gr * c->in_row_bytes, row, c->n_per_row);
        const float *w = slm_imatrix_get(c->im, c->t->name, c->n_per_row, gr / rows_per_mat);
        if (c->col) {
            for (int64_t i = 0; i < c->n_per_row; i++) row[i] *= c->col[i];
            w = c->col_imp;
        }
        uint8_t *dst = c->out + (uint64_t)r * c->out_row_bytes;
        if (c->gptq_u) slm_gptq_row(c->to, row, c->n_per_row, c->gptq_u, w, dst);
        else slm_quantize_row(c->to, row, dst, c->n_per_row, w);
    }
}

typedef struct run_state {
    const slm_quant_params *p;
    slm_threadpool *pool;
    slm_gguf_writer *w;
    const slm_awq *awq;
    uint64_t i_tensor, n_tensors, bytes_done, bytes_total;
    uint32_t n_gptq;
    /* the last two GPTQ factors: q/k/v and gate/up see the same inputs, so
     * their covariances (and AWQ multipliers) are equal and one factor serves */
    struct gptq_cached {
        const float *cov, *col;
        int64_t n;
        float count;
        float *u;
    } gptq_cache[2];
} run_state;

static void report_progress(run_state *st, const char *name) {
    if (!st->p->on_progress) return;
    slm_quant_progress pr = {name, st->i_tensor, st->n_tensors, st->bytes_done, st->bytes_total};
    st->p->on_progress(st->p->ud, &pr);
}

static bool cancelled(const run_state *st) { return st->p->cancel && *st->p->cancel; }

static slm_status copy_tensor(run_state *st, const plan_entry *e, slm_error *err) {
    const uint8_t *src = e->t->data;
    for (uint64_t off = 0; off < e->t->n_bytes;) {
        if (cancelled(st)) return slm_fail(err, SLM_E_CANCELLED, "cancelled");
        size_t n = e->t->n_bytes - off < (1u << 24) ? (size_t)(e->t->n_bytes - off) : (1u << 24);
        slm_status s = slm_gguf_writer_write(st->w, src + off, n, err);
        if (s != SLM_OK) return s;
        off += n, st->bytes_done += n;
        report_progress(st, e->t->name);
    }
    return SLM_OK;
}

static bool same_floats(const float *a, const float *b, int64_t n) {
    return a == b || (a && b && memcmp(a, b, (size_t)n * sizeof *a) == 0);
}

/* GPTQ's factor for a 2-D matrix whose type and imatrix entry allow it
 * (owned by st's cache); NULL (and SLM_OK) otherwise. */
static slm_status gptq_factor(run_state *st, const plan_entry *e, const float *col, const float **u,
                              slm_error *err) {
    *u = NULL;
    const slm_gguf_tensor *t = e->t;
    float count = 0.0f;
    const float *cov = NULL;
    int64_t n = t->ne[0];
    if (st->p->gptq && t->n_dims == 2 && slm_gptq_supports(e->to))
        cov = slm_imatrix_cov(st->p->imatrix, t->name, n, &count);
    if (!cov) return SLM_OK;
    st->n_gptq++;
    for (int k = 0; k < 2; k++) {
        struct gptq_cached *c = &st->gptq_cache[k];
        if (c->u && c->n == n && c->count == count && same_floats(c->col, col, n) && same_floats(c->cov, cov, n * n)) {
            *u = c->u;
            return SLM_OK;
        }
    }
    float damp = st->p->gptq_damp > 0 ? st->p->gptq_damp : SLM_GPTQ_DAMP, *fresh = NULL;
    slm_status s = slm_gptq_factor(cov, count, n, col, damp, st->pool, &fresh, err);
    if (s != SLM_OK) return s;
    free(st->gptq_cache[1].u); /* the older one goes */
    st->gptq_cache[1] = st->gptq_cache[0];
    st->gptq_cache[0] = (struct gptq_cached){cov, col, n, count, fresh};
    *u = fresh;
    return SLM_OK;
}

static slm_status convert_tensor(run_state *st, const plan_entry *e, slm_error *err) {
    const slm_gguf_tensor *t = e->t;
    int nth = slm_threadpool_n_threads(st->pool);
    convert_task c = {.t = t, .to = e->to, .n_per_row = t->ne[0], .im = st->p->imatrix};
    c.col = slm_awq_columns(st->awq, t->name, &c.col_imp);
    slm_status s = gptq_factor(st, e, c.col, &c.gptq_u, err);
    if (s != SLM_OK) return s;
    int64_t total_rows = (int64_t)(t->n_elements / (uint64_t)t->ne[0]);
    c.in_row_bytes = slm_type_row_bytes(t->type, t->ne[0]);
    c.out_row_bytes = slm_type_row_bytes(e->to, t->ne[0]);
    int64_t chunk = (int64_t)nth * (CHUNK_ELEMENTS / t->ne[0] + 1);
    if (chunk > total_rows) chunk = total_rows;
    c.out = malloc((size_t)(c.out_row_bytes * (uint64_t)chunk));
    c.scratch = malloc((size_t)(t->ne[0] * nth) * sizeof(float));
    if (!c.out || !c.scratch) s = slm_fail(err, SLM_E_NOMEM, "tensor '%s': out of memory", t->name);
    for (c.row0 = 0; s == SLM_OK && c.row0 < total_rows; c.row0 += c.n_rows) {
        if (cancelled(st)) {
            s = slm_fail(err, SLM_E_CANCELLED, "cancelled");
            break;
        }
        c.n_rows = total_rows - c.row0 < chunk ? total_rows - c.row0 : chunk;
        slm_threadpool_run(st->pool, convert_rows, &c);
        s = slm_gguf_writer_write(st->w, c.out, (size_t)(c.out_row_bytes * (uint64_t)c.n_rows), err);
        st->bytes_done += c.in_row_bytes * (uint64_t)c.n_rows;
        report_progress(st, t->name);
    }
    free(c.out);
    free(c.scratch);
    return s;
}

static slm_status write_all(run_state *st, const plan_entry *plan, uint64_t n, slm_quant_summary *sum,
                            slm_error *err) {
    for (uint64_t i = 0; i < n; i++) {
        const plan_entry *e = &plan[i];
        slm_status s = slm_gguf_writer_add_tensor(st->w, e->t->name, e->to, e->t->n_dims, e->t->ne, err);
        if (s != SLM_OK) return s;
        st->bytes_total += e->t->n_bytes;
    }
    for (uint64_t i = 0; i < n; i++) {
        const plan_entry *e = &plan[i];
        st->i_tensor = i;
        report_progress(st, e->t->name);
        const float *imp;
        bool same = e->to == e->t->type && !slm_awq_columns(st->awq, e->t->name, &imp);
        slm_status s = same ? copy_tensor(st, e, err) : convert_tensor(st, e, err);
        if (s != SLM_OK) {
            if (s != SLM_E_CANCELLED) slm_error_prefix(err, "tensor '%s'", e->t->name);
            return s;
        }
        slm_quant_tensor info = {e->t->name, e->t->type, e->to, e->t->n_bytes,
                                 slm_type_row_bytes(e->to, e->t->ne[0]) * (e->t->n_elements / (uint64_t)e->t->ne[0]),
                                 e->t->n_elements, e->fallback};
        sum->bytes_in += info.bytes_in, sum->bytes_out += info.bytes_out, sum->n_elements += info.n_elements;
        sum->n_quantized += e->to != e->t->type;
        sum->n_fallback += e->fallback;
        if (st->p->on_tensor) st->p->on_tensor(st->p->ud, &info);
    }
    sum->n_tensors = (uint32_t)n;
    sum->n_gptq = st->n_gptq;
    st->i_tensor = n;
    return SLM_OK;
}

/* Per-channel scales folded into the norms, where they lower the error. */
static slm_status plan_awq(const slm_gguf *g, const plan_entry *plan, uint64_t n, const slm_imatrix *im,
                           slm_awq **out, slm_error *err) {
    slm_type *types = malloc((n ? n : 1) * sizeof *types);
    if (!types) return slm_fail(err, SLM_E_NOMEM, "out of memory");
    for (uint64_t i = 0; i < n; i++) types[i] = plan[i].to;
    slm_status s = slm_awq_new(g, types, im, out, err);
    free(types);
    return s;
}

slm_status slm_quantize_file(const char *in_path, const char *out_path, const slm_quant_params *p,
                             slm_quant_summary *summary, slm_error *err) {
    slm_quant_summary sum_local;
    slm_quant_summary *sum = summary ? summary : &sum_local;
    memset(sum, 0, sizeof *sum);
    const slm_ftype *ft = slm_ftype_find(p->preset ? p->preset : "");
    if (!ft)
        return slm_fail(err, SLM_E_INVALID, "unknown quantization type '%s' (one of: %s)", p->preset ? p->preset : "",
                        slm_ftype_names());
    if (p->gptq && !slm_imatrix_n_cov(p->imatrix))
        return slm_fail(err, SLM_E_INVALID,
                        p->imatrix ? "gptq needs an imatrix with input covariances ('*.in_cov'; collect one with "
                                     "`slm imatrix --covariance`)"
                                   : "gptq needs an imatrix with input covariances (`slm imatrix --covariance`)");
    slm_gguf *g = NULL;
    slm_status s = slm_gguf_open(in_path, &g, err);
    if (s != SLM_OK) return s;
    uint64_t n = slm_gguf_n_tensors(g);
    plan_entry *plan = calloc(n ? n : 1, sizeof *plan);
    slm_recipe r = {.ftype = ft, .pure = p->pure, .has_imatrix = p->imatrix != NULL, .output_type = p->output_type,
                    .embd_type = p->embd_type, .overrides = p->overrides, .n_overrides = p->n_overrides};
    slm_recipe_init(&r, g);
    run_state st = {.p = p, .n_tensors = n};
    if (!plan) s = slm_fail(err, SLM_E_NOMEM, "out of memory");
    if (s == SLM_OK) s = make_plan(g, in_path, p, &r, plan, err);
    if (s == SLM_OK) {
        st.pool = slm_threadpool_new(p->n_threads > 0 ? p->n_threads : slm_cpu_count());
        if (!st.pool) s = slm_fail(err, SLM_E_NOMEM, "cannot start the worker threads");
    }
    slm_awq *awq = NULL;
    if (s == SLM_OK && p->imatrix && p->awq) s = plan_awq(g, plan, n, p->imatrix, &awq, err);
    st.awq = awq;
    sum->n_awq_scaled = slm_awq_n_scaled(awq);
    if (s == SLM_OK) s = slm_gguf_writer_new(out_path, &st.w, err);
    if (s == SLM_OK) s = copy_metadata(g, st.w, ft, err);
    if (s == SLM_OK) s = write_all(&st, plan, n, sum, err);
    if (s == SLM_OK) s = slm_gguf_writer_finish(st.w, err);
    slm_gguf_writer_free(st.w); /* removes the temporary file unless finished */
    for (int k = 0; k < 2; k++) free(st.gptq_cache[k].u);
    if (st.pool) slm_threadpool_free(st.pool);
    slm_awq_free(awq);
    free(plan);
    slm_gguf_close(g);
    return s;
}
