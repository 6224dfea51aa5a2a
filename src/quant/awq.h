/* awq.h - activation-aware per-channel scaling (the AWQ idea), folded into
 * the norm weights so the result is still a plain GGUF.
 *
 * A norm's output feeds several matrices (attn_norm: q, k, v; ffn_norm:
 * gate, up).  Multiplying input column i of those matrices by s[i] and
 * dividing the norm weight by s[i] leaves the model's function unchanged,
 * but gives the columns that see large activations (high importance) a
 * finer quantization grid.  s[i] = (importance[i] / mean)^alpha, with alpha
 * chosen per group from a small grid by the importance-weighted error of
 * the quantized matrices; alpha = 0 (no change) wins unless another value
 * lowers that error. */
#ifndef SLM_QUANT_AWQ_H
#define SLM_QUANT_AWQ_H

#include "quant/imatrix.h"
#include "slm.h"

typedef struct slm_awq slm_awq;

/* types[i]: the type tensor i of g is written as (the quantization plan). */
slm_status slm_awq_new(const slm_gguf *g, const slm_type *types, const slm_imatrix *im, slm_awq **out,
                       slm_error *err);
void slm_awq_free(slm_awq *a);

/* Multipliers for the columns of tensor `name` (NULL: leave it as it is)
 * and, for a matrix, the importances of its scaled columns (else NULL). */
const float *slm_awq_columns(const slm_awq *a, const char *name, const float **importance);

/* Groups that were scaled, and how many were considered. */
int slm_awq_n_scaled(const slm_awq *a);
int slm_awq_n_groups(const slm_awq *a);

#endif
