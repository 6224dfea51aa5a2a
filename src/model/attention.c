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
 * together, and a few tokens of the batch take turns on each chunk, so a
 * chunk of keys and values comes from memory once for all of them.  Work is
 * split over threads by (token block, KV head), balanced by the number of
 * positions each attends to. */
#include "model/attention.h"

#include <math.h>
#include <string.h>

#include "model/kv_cache.h"

/* Query heads handled in one kernel call at most (the vector kernels keep
 * one accumulator per query in registers), and tokens per work unit. */
#define MAX_GROUP 8
#define MAX_BLOCK 4

typedef struct attention_task {
    slm_context *c;
    int64_t layer;
    int32_t n;
    const int32_t *pos, *seq;
    int32_t block;        /* tokens per work unit */
    int heads_per_unit;   /* query heads of one KV head per work unit */
    int units_per_kv;     /* units per KV head of a token block */
} attention_task;

/* The running softmax of nq query heads of one token. */
typedef struct head_group {
    int32_t pos, seq;
    float *q, *out;
    float max[MAX_GROUP], sum[MAX_GROUP], ms[MAX_GROUP];
} head_group;

static void group_begin(const attention_task *a, head_group *hg, int32_t t, int64_t h0, int nq) {
    slm_context *c = a->c;
    const slm_hparams *hp = &c->model->hp;
    hg->pos = a->pos[t];
    hg->seq = a->seq[t];
    hg->q = c->s.q + (t * hp->n_head + h0) * hp->head_dim;
    hg->out = c->s.att + (t * hp->n_head + h0) * hp->head_dim_v;
    /* ggml multiplies an F16 cache with activations rounded to fp16 */
    if (c->kv.type_k == SLM_CACHE_F16)
        for (int g = 0; g < nq; g++) c->kern.convert[SLM_TYPE_F16](hg->q + g * hp->head_dim, hg->q + g * hp->head_dim, hp->head_dim);
    memset(hg->out, 0, (size_t)(nq * hp->head_dim_v) * sizeof *hg->out);
    for (int g = 0; g < nq; g++) {
        hg->max[g] = -INFINITY;
        hg->sum[g] = 0.0f;
    }
}

/* The chunk of positions j0 .. j0 + m - 1 for one token's heads. */
static void group_chunk(const attention_task *a, head_group *hg, int64_t kvh, int nq, int32_t j0, int m) {
    slm_context *c = a->c;
    const slm_kernels *k = &c->kern;
    const slm_kv_cache *kv = &c->kv;
    int64_t hd = c->model->hp.head_dim, hdv = c->model->hp.head_dim_v;
    float scale = 1.0f / sqrtf((float)hd), w[MAX_GROUP * SLM_ATT_CHUNK];
    const void *krow = slm_kv_row_k(kv, a->layer, hg->seq, j0), *vrow = slm_kv_row_v(kv, a->layer, hg->seq, j0);
    if (kv->type_k == SLM_CACHE_F16)
        k->att_scores_f16((const uint16_t *)krow + kvh * hd, kv->k_width, m, hg->q, hd, nq, hd, scale, w);
    else k->att_scores_f32((const float *)krow + kvh * hd, kv->k_width, m, hg->q, hd, nq, hd, scale, w);
    k->att_softmax(w, m, nq, hg->max, hg->sum, hg->ms);
    if (kv->type_v == SLM_CACHE_F16)
        k->att_accum_f16(hg->out, hdv, hdv, w, hg->ms, nq, (const uint16_t *)vrow + kvh * hdv, kv->v_width, m);
    else k->att_accum_f32(hg->out, hdv, hdv, w, hg->ms, nq, (const float *)vrow + kvh * hdv, kv->v_width, m);
}

static void group_end(const attention_task *a, head_group *hg, int nq) {
    int64_t hdv = a->c->model->hp.head_dim_v;
    for (int g = 0; g < nq; g++) {
        float inv = 1.0f / hg->sum[g];
        for (int64_t i = 0; i < hdv; i++) hg->out[g * hdv + i] *= inv;
    }
}

/* Query heads h0 .. h0 + nq - 1 (all reading KV head kvh) of tokens t0 ..
 * t1 - 1.  Chunk by chunk, every token of the block takes its turn while
 * the chunk's keys and values are in the L1 cache; each token only goes as
 * far as its own position. */
static void attend_block(const attention_task *a, int32_t t0, int32_t t1, int64_t kvh, int64_t h0, int nq) {
    head_group hg[MAX_BLOCK];
    int32_t last = 0;
    for (int32_t t = t0; t < t1; t++) {
        group_begin(a, &hg[t - t0], t, h0, nq);
        if (a->pos[t] > last) last = a->pos[t];
    }
    for (int32_t j0 = 0; j0 <= last; j0 += SLM_ATT_CHUNK)
        for (int32_t b = 0; b < t1 - t0; b++) {
            int32_t left = hg[b].pos + 1 - j0;
            if (left > 0) group_chunk(a, &hg[b], kvh, nq, j0, left < SLM_ATT_CHUNK ? left : SLM_ATT_CHUNK);
        }
    for (int32_t b = 0; b < t1 - t0; b++) group_end(a, &hg[b], nq);
}

/* Work of one unit of token block [t0, t1): its chunks (plus a little fixed cost). */
static int64_t block_cost(const attention_task *a, int32_t t0, int32_t t1) {
    int64_t cost = 0;
    for (int32_t t = t0; t < t1; t++) cost += a->pos[t] / SLM_ATT_CHUNK + 2;
    return cost;
}

/* Thread ith takes the units whose cumulative cost starts in
 * [total * ith / nth, total * (ith + 1) / nth): causal attention makes late
 * tokens dearer, so an even count of units would leave one thread waiting. */
static void attention_units(void *arg, int ith, int nth) {
    const attention_task *a = arg;
    const slm_hparams *hp = &a->c->model->hp;
    int64_t per_block = hp->n_head_kv * a->units_per_kv, total = 0;
    for (int32_t t0 = 0; t0 < a->n; t0 += a->block)
        total += per_block * block_cost(a, t0, t0 + a->block < a->n ? t0 + a->block : a->n);
    int64_t lo = total * ith / nth, hi = total * (ith + 1) / nth, at = 0;
    int64_t group = hp->n_head / hp->n_head_kv;
    for (int32_t t0 = 0; t0 < a->n && at < hi; t0 += a->block) {
        int32_t t1 = t0 + a->block < a->n ? t0 + a->block : a->n;
        int64_t cost = block_cost(a, t0, t1);
        for (int64_t u = 0; u < per_block; u++, at += cost) {
            if (at < lo || at >= hi) continue;
            int64_t kvh = u / a->units_per_kv, first = (u % a->units_per_kv) * a->heads_per_unit;
            int64_t nq = group - first < a->heads_per_unit ? group - first : a->heads_per_unit;
            attend_block(a, t0, t1, kvh, kvh * group + first, (int)nq);
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
    /* blocks of tokens where that still leaves a few units per thread */
    int32_t block = (int64_t)n * hp->n_head_kv >= 8 * MAX_BLOCK * (int64_t)nth ? MAX_BLOCK : 1;
    attention_task a = {c, layer, n, pos, seq, block, (int)per_unit, (int)((group + per_unit - 1) / per_unit)};
    slm_threadpool_run(c->pool, attention_units, &a);
}
