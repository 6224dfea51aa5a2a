/* penalties.c - repetition, presence and frequency penalties over a window
 * of recent tokens.  A count per vocabulary entry, kept up to date as the
 * ring turns over, makes both accepting and penalising cheap. */
#include "sample/penalties.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"

slm_status slm_history_init(slm_history *h, int32_t window, int32_t n_vocab, slm_error *err) {
    memset(h, 0, sizeof *h);
    h->window = window;
    h->n_vocab = n_vocab;
    h->counts = calloc((size_t)n_vocab, sizeof *h->counts);
    if (window > 0) h->ring = malloc((size_t)window * sizeof *h->ring);
    if (!h->counts || (window > 0 && !h->ring)) {
        slm_history_free(h);
        return slm_fail(err, SLM_E_NOMEM, "sampler: cannot allocate the history of %d tokens for %d ids",
                        window, n_vocab);
    }
    return SLM_OK;
}

void slm_history_free(slm_history *h) {
    free(h->ring);
    free(h->counts);
    h->ring = NULL;
    h->counts = NULL;
}

void slm_history_clear(slm_history *h) {
    memset(h->counts, 0, (size_t)h->n_vocab * sizeof *h->counts);
    h->n_ring = 0;
    h->head = 0;
}

void slm_history_push(slm_history *h, slm_token t) {
    if (h->window == 0 || t < 0 || t >= h->n_vocab) return;
    if (h->window > 0) {
        if (h->n_ring == h->window) h->counts[h->ring[h->head]]--;
        else h->n_ring++;
        h->ring[h->head] = t;
        h->head = (h->head + 1) % h->window;
    }
    h->counts[t]++;
}

static float penalise(float logit, int32_t count, const slm_penalty_params *p) {
    logit = logit > 0.0f ? logit / p->repeat : logit * p->repeat;
    return logit - (float)count * p->frequency - p->presence;
}

void slm_penalties_apply(slm_history *h, const slm_penalty_params *p, float *logits) {
    if (h->window == 0) return;
    if (h->window < 0) {
        /* Unbounded history: every id may have a count. */
        for (int32_t t = 0; t < h->n_vocab; t++)
            if (h->counts[t] > 0) logits[t] = penalise(logits[t], h->counts[t], p);
        return;
    }
    /* A token can sit in the ring several times but is penalised once:
     * negate its count when it is done, and restore the signs afterwards. */
    int32_t *counts = h->counts;
    for (int32_t i = 0; i < h->n_ring; i++) {
        slm_token t = h->ring[i];
        if (counts[t] > 0) {
            logits[t] = penalise(logits[t], counts[t], p);
            counts[t] = -counts[t];
        }
    }
    for (int32_t i = 0; i < h->n_ring; i++)
        if (counts[h->ring[i]] < 0) counts[h->ring[i]] = -counts[h->ring[i]];
}
