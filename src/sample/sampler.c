/* sampler.c - the public sampler: a fixed chain of stages over a copy of
 * the logits.
 *
 * Order (the one llama.cpp uses by default):
 *   1. logit bias            (-INFINITY bans a token)
 *   2. penalties             (repetition, presence, frequency) over the last
 *                            repeat_last_n accepted tokens
 *   3. temperature <= 0      -> greedy: argmax, lowest id on ties; stop here
 *   4. top-k -> typical-p -> top-p -> min-p    (each keeps >= 1 token)
 *   5. temperature           (logits / T)
 *   6. softmax and a draw with the sampler's own xoshiro256** generator
 * Note that top-p, min-p and typical-p see the logits before temperature. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"
#include "sample/candidates.h"
#include "sample/penalties.h"
#include "runtime/rng.h"
#include "slm.h"

/* Every filter keeps at least this many candidates. */
#define MIN_KEEP 1

struct slm_sampler {
    slm_sampler_params params; /* logit_bias points at bias below */
    slm_logit_bias *bias;
    int32_t n_vocab;
    float *adjusted;       /* the logits after bias and penalties */
    slm_candidate *cand;
    slm_history history;
    slm_rng rng;
};

slm_sampler_params slm_sampler_default_params(void) {
    slm_sampler_params p;
    memset(&p, 0, sizeof p);
    p.temperature = 0.8f;
    p.top_k = 40;
    p.top_p = 0.95f;
    p.min_p = 0.05f;
    p.typical_p = 1.0f;
    p.repeat_penalty = 1.0f;
    p.presence_penalty = 0.0f;
    p.frequency_penalty = 0.0f;
    p.repeat_last_n = 64;
    p.seed = 0x5eed;
    return p;
}

static slm_status check_params(const slm_sampler_params *p, int32_t n_vocab, slm_error *err) {
    if (n_vocab <= 0) return slm_fail(err, SLM_E_INVALID, "sampler: n_vocab must be positive, got %d", n_vocab);
    if (isnan(p->temperature)) return slm_fail(err, SLM_E_INVALID, "sampler: temperature is NaN");
    if (!(p->top_p >= 0.0f))
        return slm_fail(err, SLM_E_INVALID, "sampler: top_p must be >= 0 (>= 1 turns it off), got %g", p->top_p);
    if (!(p->typical_p >= 0.0f))
        return slm_fail(err, SLM_E_INVALID, "sampler: typical_p must be >= 0 (>= 1 turns it off), got %g",
                        p->typical_p);
    if (isnan(p->min_p) || p->min_p > 1.0f)
        return slm_fail(err, SLM_E_INVALID, "sampler: min_p must be <= 1 (<= 0 turns it off), got %g", p->min_p);
    if (!(p->repeat_penalty > 0.0f) || isinf(p->repeat_penalty))
        return slm_fail(err, SLM_E_INVALID, "sampler: repeat_penalty must be > 0 (1 turns it off), got %g",
                        p->repeat_penalty);
    if (!isfinite(p->presence_penalty) || !isfinite(p->frequency_penalty))
        return slm_fail(err, SLM_E_INVALID, "sampler: presence and frequency penalties must be finite");
    if (p->repeat_last_n < -1)
        return slm_fail(err, SLM_E_INVALID, "sampler: repeat_last_n must be >= -1, got %d", p->repeat_last_n);
    if (p->n_logit_bias > 0 && !p->logit_bias)
        return slm_fail(err, SLM_E_INVALID, "sampler: %zu logit biases but no array", p->n_logit_bias);
    for (size_t i = 0; i < p->n_logit_bias; i++) {
        const slm_logit_bias *b = &p->logit_bias[i];
        if (b->token < 0 || b->token >= n_vocab)
            return slm_fail(err, SLM_E_INVALID, "sampler: logit bias %zu names token %d, outside [0, %d)", i,
                            b->token, n_vocab);
        if (isnan(b->bias) || b->bias == INFINITY)
            return slm_fail(err, SLM_E_INVALID, "sampler: logit bias %zu for token %d is %g", i, b->token, b->bias);
    }
    return SLM_OK;
}

slm_status slm_sampler_new(const slm_sampler_params *p, int32_t n_vocab, slm_sampler **out, slm_error *err) {
    *out = NULL;
    if (!p) return slm_fail(err, SLM_E_INVALID, "sampler: no parameters");
    slm_status st = check_params(p, n_vocab, err);
    if (st) return st;
    slm_sampler *s = calloc(1, sizeof *s);
    if (!s) return slm_fail(err, SLM_E_NOMEM, "sampler: out of memory");
    s->params = *p;
    s->n_vocab = n_vocab;
    s->adjusted = malloc((size_t)n_vocab * sizeof *s->adjusted);
    s->cand = malloc((size_t)n_vocab * sizeof *s->cand);
    if (p->n_logit_bias) s->bias = malloc(p->n_logit_bias * sizeof *s->bias);
    if (!s->adjusted || !s->cand || (p->n_logit_bias && !s->bias)) {
        slm_sampler_free(s);
        return slm_fail(err, SLM_E_NOMEM, "sampler: cannot allocate candidates for %d tokens", n_vocab);
    }
    if (p->n_logit_bias) memcpy(s->bias, p->logit_bias, p->n_logit_bias * sizeof *s->bias);
    s->params.logit_bias = s->bias;
    st = slm_history_init(&s->history, p->repeat_last_n, n_vocab, err);
    if (st) {
        slm_sampler_free(s);
        return st;
    }
    slm_rng_seed(&s->rng, p->seed);
    *out = s;
    return SLM_OK;
}

void slm_sampler_free(slm_sampler *s) {
    if (!s) return;
    slm_history_free(&s->history);
    free(s->adjusted);
    free(s->cand);
    free(s->bias);
    free(s);
}

static bool penalties_active(const slm_sampler_params *p) {
    return p->repeat_last_n != 0 &&
           (p->repeat_penalty != 1.0f || p->presence_penalty != 0.0f || p->frequency_penalty != 0.0f);
}

/* Stages 1 and 2: the caller's logits, biased and penalised, in s->adjusted.
 * NaN becomes -INFINITY so that every comparison after this is total. */
static void adjust_logits(slm_sampler *s, const float *logits) {
    const slm_sampler_params *p = &s->params;
    float *adj = s->adjusted;
    for (int32_t i = 0; i < s->n_vocab; i++) adj[i] = isnan(logits[i]) ? -INFINITY : logits[i];
    for (size_t i = 0; i < p->n_logit_bias; i++) adj[p->logit_bias[i].token] += p->logit_bias[i].bias;
    if (penalties_active(p)) {
        slm_penalty_params pen = {p->repeat_penalty, p->presence_penalty, p->frequency_penalty};
        slm_penalties_apply(&s->history, &pen, adj);
    }
}

slm_token slm_sampler_sample(slm_sampler *s, const float *logits) {
    if (!s || !logits) return -1;
    const slm_sampler_params *p = &s->params;
    size_t n_vocab = (size_t)s->n_vocab;
    adjust_logits(s, logits);

    if (p->temperature <= 0.0f) {
        size_t best = slm_logits_argmax(s->adjusted, n_vocab);
        return s->adjusted[best] == -INFINITY ? -1 : (slm_token)best;
    }

    slm_candidates c = {s->cand, 0, false};
    if (p->top_k > 0 && (size_t)p->top_k < n_vocab)
        slm_cand_top_k_from_logits(&c, s->adjusted, n_vocab, (size_t)p->top_k);
    else
        slm_cand_from_logits(&c, s->adjusted, n_vocab);
    if (c.n == 0) return -1; /* every token is banned */
    slm_cand_typical(&c, p->typical_p, MIN_KEEP);
    slm_cand_top_p(&c, p->top_p, MIN_KEEP);
    slm_cand_min_p(&c, p->min_p, MIN_KEEP);
    slm_cand_temperature(&c, p->temperature);
    slm_cand_softmax(&c);
    return c.data[slm_cand_draw(&c, slm_rng_uniform(&s->rng))].id;
}

void slm_sampler_accept(slm_sampler *s, slm_token t) {
    if (s) slm_history_push(&s->history, t);
}

void slm_sampler_reset(slm_sampler *s) {
    if (!s) return;
    slm_history_clear(&s->history);
    slm_rng_seed(&s->rng, s->params.seed);
}
