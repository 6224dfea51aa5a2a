/* attention.h - causal self-attention of one layer over the KV cache. */
#ifndef SLM_MODEL_ATTENTION_H
#define SLM_MODEL_ATTENTION_H

#include <stdint.h>

#include "model/context.h"

/* For the n tokens of the batch (at positions pos, in sequences seq, their
 * keys and values already in the cache), reads the rotated queries c->s.q
 * and writes the attention output c->s.att ([n][n_head * head_dim_v]).
 * Rounds c->s.q to fp16 in place where the key cache is fp16 (as ggml).
 * A token's result depends only on its position and its sequence's cached
 * keys and values: never on the batch, the thread count or the kernel set. */
void slm_attention(slm_context *c, int64_t layer, int32_t n, const int32_t *pos, const int32_t *seq);

#endif
