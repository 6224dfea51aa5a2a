/* context.h - the state of one inference context (KV cache, scratch
 * buffers, threads, the last batch's logits), shared by context.c, matmul.c
 * and forward.c. */
#ifndef SLM_MODEL_CONTEXT_H
#define SLM_MODEL_CONTEXT_H

#include <stdbool.h>
#include <stdint.h>

#include "model/kv_cache.h"
#include "model/model.h"
#include "runtime/threadpool.h"
#include "slm.h"
#include "types/gemm.h"

/* Options that are not part of the public API (tests use them). */
typedef struct slm_context_options {
    /* Multiply with F32 activations instead of converting them to the
     * weight type's activation format as llama.cpp does (F16, BF16, Q8_0,
     * Q8_1, Q8_K).  Isolates dequantization from activation rounding. */
    bool f32_activations;
    /* Use the scalar reference kernels even where SIMD ones exist (they
     * give the same bits; tests and benchmarks compare the two). */
    bool scalar_kernels;
    /* When set, called before every matrix multiplication with its F32
     * input ([n_tokens][n_in], before any conversion) and the weight's
     * tensor name: `slm imatrix` collects activation statistics this way.
     * Matrices that share an input are then multiplied one by one. */
    void (*observe)(void *user, const char *tensor_name, const float *x, int64_t n_in, int64_t n_tokens);
    void *observe_user;
} slm_context_options;

/* Tokens evaluated in one forward pass at most; longer batches are split
 * (which changes nothing in the results: every reduction order is fixed). */
#define SLM_UBATCH 256

/* Per-thread buffers. */
typedef struct slm_thread_scratch {
    float *row; /* n_in floats: a dequantized weight row, or a kernel's block sums */
} slm_thread_scratch;

/* Per-token activations of one forward pass, [SLM_UBATCH][width] each. */
typedef struct slm_scratch {
    float *x, *xn, *tmp;   /* n_embd */
    float *q, *att;        /* n_head * head_dim(_v) */
    float *k, *v;          /* n_head_kv * head_dim(_v) */
    float *gate, *up;      /* n_ff */
    float *rope_cos, *rope_sin; /* n_rot / 2 */
    void *act;             /* activations converted for one matmul */
    float *out_in;         /* normalized states of the tokens that want logits */
} slm_scratch;

struct slm_context {
    const slm_model *model;
    slm_context_params params;
    slm_context_options opts;
    slm_kv_cache kv;
    slm_threadpool *pool;
    slm_kernels kern;       /* chosen for this CPU at creation */
    slm_thread_scratch *ts; /* one per thread */
    slm_scratch s;

    /* the last batch: logits row per token (-1 = none) */
    int32_t n_last;
    int32_t *last_row;
    int32_t cap_last;
    float *logits;
    int64_t cap_logits; /* rows */
};

slm_status slm_context_new_ex(const slm_model *m, const slm_context_params *p, const slm_context_options *o,
                              slm_context **out, slm_error *err);

/* One forward pass over n <= SLM_UBATCH tokens whose positions were checked
 * against the cache; logits of token i go to row out_row[i] of out (when
 * out_row[i] >= 0). */
void slm_forward(slm_context *c, int32_t n, const slm_token *tokens, const int32_t *pos, const int32_t *seq,
                 const int32_t *out_row, float *out);

/* y[t] = W x[t] for n_tokens rows of x ([n_tokens][n_in] -> [n_tokens][n_out]). */
void slm_matmul(slm_context *c, const slm_matrix *w, const float *x, int64_t n_tokens, float *y);
/* y[m] = w[m] x for n_mats <= 3 matrices of the same input width, in one pass
 * (the same bits as n_mats slm_matmul calls). */
void slm_matmul_shared(slm_context *c, int n_mats, const slm_matrix *const *w, const float *x, int64_t n_tokens,
                       float *const *y);

#endif
