/* candidates.h - the working set of the sampler chain: (token, logit,
 * probability) triples that each stage narrows or reshapes.  The caller's
 * logits are copied in once; nothing here touches them. */
#ifndef SLM_SAMPLE_CANDIDATES_H
#define SLM_SAMPLE_CANDIDATES_H

#include <stdbool.h>
#include <stddef.h>

#include "slm.h"

typedef struct slm_candidate {
    slm_token id;
    float logit;
    float p;   /* probability, valid after slm_cand_softmax */
    float key; /* scratch sort key (typical-p) */
} slm_candidate;

typedef struct slm_candidates {
    slm_candidate *data;
    size_t n;
    bool sorted; /* by logit descending, lowest id first on ties */
} slm_candidates;

/* Fills c with logits[0..n_vocab) in id order (NaN becomes -INFINITY so that
 * the ordering stays total). */
void slm_cand_fill(slm_candidates *c, const float *logits, size_t n_vocab);
/* Removes the candidates whose logit is -INFINITY (banned); keeps the order. */
void slm_cand_drop_banned(slm_candidates *c);
/* Index of the best candidate (lowest id on ties); c->n must be > 0. */
size_t slm_cand_argmax(const slm_candidates *c);

void slm_cand_sort(slm_candidates *c);
/* Sets p = softmax(logit); the order is unchanged. */
void slm_cand_softmax(slm_candidates *c);

/* The filters.  Each keeps at least min_keep candidates (min_keep >= 1). */
void slm_cand_top_k(slm_candidates *c, size_t k);
void slm_cand_typical(slm_candidates *c, float p, size_t min_keep);
void slm_cand_top_p(slm_candidates *c, float p, size_t min_keep);
void slm_cand_min_p(slm_candidates *c, float p, size_t min_keep);
void slm_cand_temperature(slm_candidates *c, float t);

/* Draws a candidate index from the probabilities p (which sum to ~1) with u
 * uniform in [0, 1). */
size_t slm_cand_draw(const slm_candidates *c, double u);

#endif
