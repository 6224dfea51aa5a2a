/* bigram.h - the priority queue of candidate merges shared by the SPM and
 * BPE tokenizers: smallest key first, then the leftmost pair. */
#ifndef SLM_TOKENIZER_BIGRAM_H
#define SLM_TOKENIZER_BIGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct slm_bigram {
    double key;         /* SPM: -score; BPE: merge rank */
    int32_t left;       /* symbol index of the left half */
    int32_t right;      /* symbol index of the right half */
    int32_t check_a;    /* what the halves held when queued, to spot stale entries */
    int32_t check_b;
} slm_bigram;

typedef struct slm_bigram_queue {
    slm_bigram *items;
    size_t n, cap;
} slm_bigram_queue;

bool slm_bigram_push(slm_bigram_queue *q, slm_bigram b);
/* False when empty. */
bool slm_bigram_pop(slm_bigram_queue *q, slm_bigram *out);
void slm_bigram_free(slm_bigram_queue *q);

#endif
