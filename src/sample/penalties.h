/* penalties.h - the token history the penalties look at: the last
 * `window` accepted tokens (or all of them) and how often each occurs. */
#ifndef SLM_SAMPLE_PENALTIES_H
#define SLM_SAMPLE_PENALTIES_H

#include <stdint.h>

#include "slm.h"

typedef struct slm_history {
    int32_t window;   /* tokens remembered; -1 = all, 0 = none */
    int32_t n_vocab;
    slm_token *ring;  /* the last `window` tokens (window > 0) */
    int32_t n_ring;   /* tokens in the ring */
    int32_t head;     /* where the next token goes */
    int32_t *counts;  /* occurrences of each token in the window */
} slm_history;

slm_status slm_history_init(slm_history *h, int32_t window, int32_t n_vocab, slm_error *err);
void slm_history_free(slm_history *h);
void slm_history_clear(slm_history *h);
/* Adds a token, dropping the oldest once the window is full.  Ids outside
 * [0, n_vocab) are ignored. */
void slm_history_push(slm_history *h, slm_token t);

typedef struct slm_penalty_params {
    float repeat;    /* llama.cpp style: logit > 0 ? logit / r : logit * r */
    float presence;  /* OpenAI: minus this once for a token that occurred */
    float frequency; /* OpenAI: minus this times the occurrence count */
} slm_penalty_params;

/* Applies the penalties to logits indexed by token id.  h is left as it
 * was (its counts are flipped and restored while it works). */
void slm_penalties_apply(slm_history *h, const slm_penalty_params *p, float *logits);

#endif
