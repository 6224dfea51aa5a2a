/* model.h - a loaded model: hyperparameters from the GGUF metadata and
 * weights that are views into the mapped file (nothing is copied). */
#ifndef SLM_MODEL_MODEL_H
#define SLM_MODEL_MODEL_H

#include <stdint.h>

#include "model/arch.h"
#include "slm.h"

typedef struct slm_hparams {
    int64_t n_vocab;
    int64_t n_embd;
    int64_t n_layer;
    int64_t n_head;
    int64_t n_head_kv;
    int64_t head_dim;   /* attention.key_length, else n_embd / n_head */
    int64_t head_dim_v; /* attention.value_length, else head_dim */
    int64_t n_ff;
    int64_t n_rot;      /* rope.dimension_count, else head_dim */
    int64_t n_ctx_train;
    float rope_base;       /* rope.freq_base, else 10000 */
    float rope_freq_scale; /* 1 / rope.scaling.factor for linear scaling, else 1 */
    float norm_eps;        /* attention.layer_norm_rms_epsilon */
} slm_hparams;

/* A matrix of n_out rows of n_in elements, stored as GGUF blocks. */
typedef struct slm_matrix {
    const char *name;
    slm_type type;
    int64_t n_in, n_out;
    uint64_t row_bytes;
    const uint8_t *data;
} slm_matrix;

typedef struct slm_layer {
    const float *attn_norm;
    slm_matrix wq, wk, wv, wo;
    const float *bq, *bk, *bv, *bo; /* NULL when absent */
    const float *ffn_norm;
    slm_matrix ffn_gate, ffn_up, ffn_down;
} slm_layer;

struct slm_model {
    slm_gguf *gguf;
    slm_vocab *vocab;
    const slm_arch *arch;
    slm_hparams hp;
    slm_matrix tok_embd;  /* rows are looked up (dequantized exactly) */
    const float *output_norm;
    slm_matrix output;    /* token_embd when the file has no output.weight */
    const float *rope_freqs; /* [n_rot/2] divisors of theta_i, or NULL */
    slm_layer *layers;
    uint64_t n_params;
    uint64_t size_bytes;
};

#endif
