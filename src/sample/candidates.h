/* candidates.h - the working set of the sampler chain: (token, logit,
 * probability) entries that each stage narrows or reshapes.
 *
 * The chain starts from the adjusted logits (a float per id, after bias and
 * penalties) and builds candidates from them, either all of them or only
 * the top k found in one pass, so a large vocabulary is never sorted when
 * top-k is on. */
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

/* Index of the largest logit, the lowest on ties. */
size_t slm_logits_argmax(const float *logits, size_t n);
/* Every id whose logit is not -INFINITY (banned), in id order. */
void slm_cand_from_logits(slm_candidates *c, const float *logits, size_t n);
/* The k best ids (ties: lowest ids), sorted; c->data needs room for k. */
void slm_cand_top_k_from_logits(slm_candidates *c, const float *logits, size_t n, size_t k);

void slm_cand_sort(slm_candidates *c);
/* Sets p = softmax(logit); the order is unchanged. */
void slm_cand_softmax(slm_candidates *c);

/* The filters.  Each keeps at least min_keep candidates (min_keep >= 1). */
void slm_cand_typical(slm_candidates *c, float p, size_t min_keep);
void slm_cand_top_p(slm_candidates *c, float p, size_t min_keep);
void slm_cand_min_p(slm_candidates *c, float p, size_t min_keep);
void slm_cand_temperature(slm_candidates *c, float t);

/* Draws a candidate index from the probabilities p (which sum to ~1) with u
 * uniform in [0, 1). */
size_t slm_cand_draw(const slm_candidates *c, double u);

#endif
