/* context.c - contexts, batches and the KV cache bookkeeping around the
 * forward pass: slm_decode checks a whole batch (tokens, sequences,
 * positions, capacity) before it evaluates anything. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "model/context.h"
#include "runtime/cpu.h"
#include "runtime/error.h"

slm_context_params slm_context_default_params(void) {
    slm_context_params p = {0};
    p.n_seq = 1;
    p.cache_type_k = SLM_CACHE_F16;
    p.cache_type_v = SLM_CACHE_F16;
    return p;
}

static int64_t max3(int64_t a, int64_t b, int64_t c) { return a > b ? (a > c ? a : c) : (b > c ? b : c); }

static slm_status alloc_scratch(slm_context *c, slm_error *err) {
    const slm_hparams *hp = &c->model->hp;
    slm_scratch *s = &c->s;
    size_t T = SLM_UBATCH, f = sizeof(float);
    int64_t max_in = max3(hp->n_embd, hp->n_ff, hp->n_head * hp->head_dim_v);
    s->x = malloc(T * (size_t)hp->n_embd * f);
    s->xn = malloc(T * (size_t)hp->n_embd * f);
    s->tmp = malloc(T * (size_t)hp->n_embd * f);
    s->out_in = malloc(T * (size_t)hp->n_embd * f);
    s->q = malloc(T * (size_t)(hp->n_head * hp->head_dim) * f);
    s->att = malloc(T * (size_t)(hp->n_head * hp->head_dim_v) * f);
    s->k = malloc(T * (size_t)c->kv.k_width * f);
    s->v = malloc(T * (size_t)c->kv.v_width * f);
    s->gate = malloc(T * (size_t)hp->n_ff * f);
    s->up = malloc(T * (size_t)hp->n_ff * f);
    s->rope_cos = malloc(T * (size_t)(hp->n_rot / 2 + 1) * f);
    s->rope_sin = malloc(T * (size_t)(hp->n_rot / 2 + 1) * f);
    s->act = malloc(T * (size_t)max_in * f);
    bool ok = s->x && s->xn && s->tmp && s->out_in && s->q && s->att && s->k && s->v && s->gate && s->up &&
              s->rope_cos && s->rope_sin && s->act;
    int nth = slm_threadpool_n_threads(c->pool);
    c->ts = calloc((size_t)nth, sizeof *c->ts);
    ok = ok && c->ts;
    for (int i = 0; ok && i < nth; i++) {
        c->ts[i].row = malloc((size_t)max_in * f);
        ok = c->ts[i].row != NULL;
    }
    return ok ? SLM_OK : slm_fail(err, SLM_E_NOMEM, "out of memory for the context's scratch buffers");
}

static void free_scratch(slm_context *c) {
    slm_scratch *s = &c->s;
    void *bufs[] = {s->x, s->xn, s->tmp, s->out_in, s->q, s->att, s->k, s->v, s->gate, s->up,
                    s->rope_cos, s->rope_sin, s->act};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    if (c->ts) {
        for (int i = 0; i < slm_threadpool_n_threads(c->pool); i++) {
            free(c->ts[i].row);
        }
        free(c->ts);
    }
}

slm_status slm_context_new_ex(const slm_model *m, const slm_context_params *p, const slm_context_options *o,
                              slm_context **out, slm_error *err) {
    *out = NULL;
    slm_context_params params = p ? *p : slm_context_default_params();
    if (params.n_ctx == 0) params.n_ctx = (uint32_t)(m->hp.n_ctx_train < 4096 ? m->hp.n_ctx_train : 4096);
    if (params.n_seq == 0) params.n_seq = 1;
    if (params.n_threads == 0) params.n_threads = (uint32_t)slm_cpu_physical_cores();
    if (params.n_ctx > (1u << 24) || params.n_seq > 4096 || params.n_threads > 1024)
        return slm_fail(err, SLM_E_INVALID, "context parameters out of range (n_ctx %u, n_seq %u, n_threads %u)",
                        params.n_ctx, params.n_seq, params.n_threads);
    slm_context *c = calloc(1, sizeof *c);
    if (!c) return slm_fail(err, SLM_E_NOMEM, "out of memory for a context");
    c->model = m;
    c->params = params;
    if (o) c->opts = *o;
    slm_kernels_select(&c->kern, c->opts.scalar_kernels ? 0 : slm_cpu_features());
    const slm_hparams *hp = &m->hp;
    slm_status s = slm_kv_cache_init(&c->kv, hp->n_layer, params.n_seq, params.n_ctx, hp->n_head_kv * hp->head_dim,
                                     hp->n_head_kv * hp->head_dim_v, params.cache_type_k, params.cache_type_v, err);
    if (s == SLM_OK) {
        c->pool = slm_threadpool_new((int)params.n_threads);
        if (!c->pool) s = slm_fail(err, SLM_E_NOMEM, "cannot start %u threads", params.n_threads);
    }
    if (s == SLM_OK) s = alloc_scratch(c, err);
    if (s) {
        slm_context_free(c);
        return s;
    }
    *out = c;
    return SLM_OK;
}

slm_status slm_context_new(const slm_model *m, const slm_context_params *p, slm_context **out, slm_error *err) {
    return slm_context_new_ex(m, p, NULL, out, err);
}

void slm_context_free(slm_context *c) {
    if (!c) return;
    if (c->pool) free_scratch(c);
    slm_threadpool_free(c->pool);
    slm_kv_cache_free(&c->kv);
    free(c->last_row);
    free(c->logits);
    free(c);
}

uint32_t slm_context_n_ctx(const slm_context *c) { return c->params.n_ctx; }

/* ---- decode --------------------------------------------------------------- */

/* Checks every token, sequence and position of the batch and fills pos/seq
 * (resolved) and out_row.  Nothing is changed in the context. */
static slm_status plan_batch(const slm_context *c, const slm_batch *b, int32_t *pos, int32_t *seq,
                             int32_t *out_row, int32_t *n_out, slm_error *err) {
    int32_t n_vocab = (int32_t)c->model->hp.n_vocab, n_seq = (int32_t)c->params.n_seq;
    int32_t *next = calloc((size_t)n_seq, sizeof *next);
    if (!next) return slm_fail(err, SLM_E_NOMEM, "out of memory planning a batch");
    memcpy(next, c->kv.len, (size_t)n_seq * sizeof *next);
    slm_status st = SLM_OK;
    *n_out = 0;
    for (int32_t i = 0; i < b->n_tokens && st == SLM_OK; i++) {
        seq[i] = b->seq ? b->seq[i] : 0;
        if (b->tokens[i] < 0 || b->tokens[i] >= n_vocab)
            st = slm_fail(err, SLM_E_INVALID, "batch token %d is id %d, outside the vocabulary of %d tokens", i,
                          b->tokens[i], n_vocab);
        else if (seq[i] < 0 || seq[i] >= n_seq)
            st = slm_fail(err, SLM_E_INVALID, "batch token %d is in sequence %d, but the context has %d sequences",
                          i, seq[i], n_seq);
        else if (b->pos && b->pos[i] != next[seq[i]])
            st = slm_fail(err, SLM_E_INVALID, "batch token %d has position %d, but sequence %d continues at %d "
                          "(use slm_kv_truncate to rewrite a sequence)", i, b->pos[i], seq[i], next[seq[i]]);
        if (st) break;
        pos[i] = next[seq[i]]++;
        bool want = b->logits ? b->logits[i] : i == b->n_tokens - 1;
        out_row[i] = want ? (*n_out)++ : -1;
    }
    for (int32_t s = 0; s < n_seq && st == SLM_OK; s++)
        if (next[s] > (int32_t)c->params.n_ctx)
            st = slm_fail(err, SLM_E_CONTEXT, "sequence %d would hold %d positions (%d cached + %d new), more than "
                          "the context size n_ctx = %u", s, next[s], c->kv.len[s], next[s] - c->kv.len[s],
                          c->params.n_ctx);
    free(next);
    return st;
}

static slm_status reserve_outputs(slm_context *c, int32_t n_tokens, int32_t n_out, slm_error *err) {
    if (n_tokens > c->cap_last) {
        int32_t *r = realloc(c->last_row, (size_t)n_tokens * sizeof *r);
        if (!r) return slm_fail(err, SLM_E_NOMEM, "out of memory for a batch of %d tokens", n_tokens);
        c->last_row = r;
        c->cap_last = n_tokens;
    }
    if (n_out > c->cap_logits) {
        float *l = realloc(c->logits, (size_t)n_out * (size_t)c->model->hp.n_vocab * sizeof *l);
        if (!l) return slm_fail(err, SLM_E_NOMEM, "out of memory for %d rows of logits", n_out);
        c->logits = l;
        c->cap_logits = n_out;
    }
    return SLM_OK;
}

slm_status slm_decode(slm_context *c, const slm_batch *b, slm_error *err) {
    if (!b || b->n_tokens <= 0 || !b->tokens)
        return slm_fail(err, SLM_E_INVALID, "empty batch (n_tokens %d)", b ? b->n_tokens : 0);
    int32_t n = b->n_tokens, n_out = 0;
    int32_t *plan = malloc((size_t)n * 3 * sizeof *plan);
    if (!plan) return slm_fail(err, SLM_E_NOMEM, "out of memory for a batch of %d tokens", n);
    int32_t *pos = plan, *seq = plan + n, *out_row = plan + 2 * n;
    slm_status st = plan_batch(c, b, pos, seq, out_row, &n_out, err);
    if (st == SLM_OK) st = reserve_outputs(c, n, n_out, err);
    if (st) {
        free(plan);
        return st;
    }
    int64_t n_vocab = c->model->hp.n_vocab;
    for (int32_t i0 = 0; i0 < n; i0 += SLM_UBATCH) {
        int32_t len = n - i0 < SLM_UBATCH ? n - i0 : SLM_UBATCH;
        int32_t first_row = 0;
        for (int32_t i = 0; i < i0; i++) first_row += out_row[i] >= 0;
        slm_forward(c, len, b->tokens + i0, pos + i0, seq + i0, out_row + i0, c->logits + first_row * n_vocab);
    }
    for (int32_t i = 0; i < n; i++) c->kv.len[seq[i]] = pos[i] + 1 > c->kv.len[seq[i]] ? pos[i] + 1 : c->kv.len[seq[i]];
    memcpy(c->last_row, out_row, (size_t)n * sizeof *out_row);
    c->n_last = n;
    free(plan);
    return SLM_OK;
}

const float *slm_get_logits(const slm_context *c, int32_t i) {
    if (i < 0 || i >= c->n_last || c->last_row[i] < 0) return NULL;
    return c->logits + (int64_t)c->last_row[i] * c->model->hp.n_vocab;
}

int32_t slm_kv_seq_len(const slm_context *c, int32_t seq) {
    if (seq < 0 || seq >= (int32_t)c->params.n_seq) return 0;
    return c->kv.len[seq];
}

void slm_kv_truncate(slm_context *c, int32_t seq, int32_t pos) {
    if (seq < 0 || seq >= (int32_t)c->params.n_seq || pos < 0) return;
    if (pos < c->kv.len[seq]) c->kv.len[seq] = pos;
}
