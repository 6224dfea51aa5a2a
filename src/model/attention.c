/* attention.c - causal self-attention over the KV cache, in chunks.
 *
 * Each query head of a token attends to positions 0..pos of its sequence
 * (later tokens of a batch sit at later positions, so causality is just the
 * range).  The positions are taken in chunks of SLM_ATT_CHUNK that start at
 * multiples of SLM_ATT_CHUNK -- absolute positions, so a token's chunks are
 * the same whichever batch or thread computes it -- with an online softmax
 * per chunk:
 *
 *   s_j = (q . k_j) / sqrt(head_dim)            for the chunk's positions j
 *   M'  = max(M, max_j s_j),  w_j = e^(s_j - M'),  r = e^(M - M')
 *   S   = S r + sum_j w_j,    out = out r + sum_j w_j v_j,  M = M'
 *
 * and finally out / S.  Every step has a fixed order (gemm.h's att_*
 * kernels, the same bits in every kernel set), so the result depends only
 * on the token's own history.
 *
 * The query heads that share a KV head (grouped-query attention) are done
 * together, so each chunk of keys and values is read once for all of them.
 * Work is split over threads by (token, KV head), balanced by the number of
 * positions each attends to. */
#include "model/attention.h"

#include <math.h>
#include <string.h>

#include "model/kv_cache.h"

/* Query heads handled in one kernel call at most (the vector kernels keep
 * one accumulator per query in registers). */
#define MAX_GROUP 8

typedef struct attention_task {
    slm_context *c;
    int64_t layer;
    int32_t n;
    const int32_t *pos, *seq;
    int heads_per_unit;   /* query heads of one KV head per work unit */
    int units_per_kv;     /* units per KV head of a token */
} attention_task;

/* Query heads h0 .. h0 + nq - 1 of token t, which all read KV head kvh. */
static void attend_group(const attention_task *a, int32_t t, int64_t kvh, int64_t h0, int nq) {
    slm_context *c = a->c;
    const slm_kernels *k = &c->kern;
    const slm_hparams *hp = &c->model->hp;
    const slm_kv_cache *kv = &c->kv;
    int64_t hd = hp->head_dim, hdv = hp->head_dim_v;
    int32_t p = a->pos[t], s = a->seq[t];
    bool k16 = kv->type_k == SLM_CACHE_F16, v16 = kv->type_v == SLM_CACHE_F16;
    float *q = c->s.q + (t * hp->n_head + h0) * hd;
    /* ggml multiplies an F16 cache with activations rounded to fp16 */
    if (k16)
        for (int g = 0; g < nq; g++) k->convert[SLM_TYPE_F16](q + g * hd, q + g * hd, hd);
    float *out = c->s.att + (t * hp->n_head + h0) * hdv;
    memset(out, 0, (size_t)(nq * hdv) * sizeof *out);
    float scale = 1.0f / sqrtf((float)hd);
    float max[MAX_GROUP], sum[MAX_GROUP], ms[MAX_GROUP], w[MAX_GROUP * SLM_ATT_CHUNK];
    for (int g = 0; g < nq; g++) {
        max[g] = -INFINITY;
        sum[g] = 0.0f;
    }
    for (int32_t j0 = 0; j0 <= p; j0 += SLM_ATT_CHUNK) {
        int m = p + 1 - j0 < SLM_ATT_CHUNK ? p + 1 - j0 : SLM_ATT_CHUNK;
        const void *krow = slm_kv_row_k(kv, a->layer, s, j0), *vrow = slm_kv_row_v(kv, a->layer, s, j0);
        if (k16) k->att_scores_f16((const uint16_t *)krow + kvh * hd, kv->k_width, m, q, hd, nq, hd, scale, w);
        else k->att_scores_f32((const float *)krow + kvh * hd, kv->k_width, m, q, hd, nq, hd, scale, w);
        k->att_softmax(w, m, nq, max, sum, ms);
        if (v16) k->att_accum_f16(out, hdv, hdv, w, ms, nq, (const uint16_t *)vrow + kvh * hdv, kv->v_width, m);
        else k->att_accum_f32(out, hdv, hdv, w, ms, nq, (const float *)vrow + kvh * hdv, kv->v_width, m);
    }
    for (int g = 0; g < nq; g++) {
        float inv = 1.0f / sum[g];
        for (int64_t i = 0; i < hdv; i++) out[g * hdv + i] *= inv;
    }
}

/* Work of one unit of token t: its chunks (plus a little fixed cost). */
static int64_t unit_cost(const attention_task *a, int32_t t) { return a->pos[t] / SLM_ATT_CHUNK + 2; }

/* Thread ith takes the units whose cumulative cost starts in
 * [total * ith / nth, total * (ith + 1) / nth): causal attention makes late
 * tokens dearer, so an even count of units would leave one thread waiting. */
static void attention_units(void *arg, int ith, int nth) {
    const attention_task *a = arg;
    const slm_hparams *hp = &a->c->model->hp;
    int64_t per_token = hp->n_head_kv * a->units_per_kv, total = 0;
    for (int32_t t = 0; t < a->n; t++) total += per_token * unit_cost(a, t);
    int64_t lo = total * ith / nth, hi = total * (ith + 1) / nth, at = 0;
    int64_t group = hp->n_head / hp->n_head_kv;
    for (int32_t t = 0; t < a->n && at < hi; t++) {
        int64_t cost = unit_cost(a, t);
        for (int64_t u = 0; u < per_token; u++, at += cost) {
            if (at < lo || at >= hi) continue;
            int64_t kvh = u / a->units_per_kv, first = (u % a->units_per_kv) * a->heads_per_unit;
            int64_t nq = group - first < a->heads_per_unit ? group - first : a->heads_per_unit;
            attend_group(a, t, kvh, kvh * group + first, (int)nq);
        }
    }
}

void slm_attention(slm_context *c, int64_t layer, int32_t n, const int32_t *pos, const int32_t *seq) {
    const slm_hparams *hp = &c->model->hp;
    int64_t group = hp->n_head / hp->n_head_kv;
    int nth = slm_threadpool_n_threads(c->pool);
    /* whole groups when there are units enough for the threads, else one
     * query head per unit (generation) */
    int64_t per_unit = group < MAX_GROUP ? group : MAX_GROUP;
    if ((int64_t)n * hp->n_head_kv < 4 * (int64_t)nth) per_unit = 1;
    attention_task a = {c, layer, n, pos, seq, (int)per_unit, (int)((group + per_unit - 1) / per_unit)};
    slm_threadpool_run(c->pool, attention_units, &a);
}
