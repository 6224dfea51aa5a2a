/* synth.h - random-weight models with the exact shapes and metadata of real
 * ones, for tests and benchmarks without downloads.
 *
 * The file looks like what llama.cpp's converter writes for the named model
 * (tensor names, shapes, keys, a byte-level BPE vocabulary of the right size)
 * but every weight is drawn from a seeded PRNG.  The same parameters always
 * give the same bytes. */
#ifndef SLM_MODEL_SYNTH_H
#define SLM_MODEL_SYNTH_H

#include <stdbool.h>
#include <stdint.h>

#include "slm.h"

typedef struct slm_synth_shape {
    const char *name;
    const char *arch;      /* the architecture of the real model ("llama", "qwen2") */
    const char *pre;       /* tokenizer.ggml.pre */
    int32_t n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab, n_ctx;
    float rope_base, eps;
    bool llama3_rope;      /* rope_freqs.weight: factor 32, low 1, high 4, original ctx 8192 */
} slm_synth_shape;

/* NULL when no shape has that name. */
const slm_synth_shape *slm_synth_shape_find(const char *name);
/* The i-th shape, NULL past the last one. */
const slm_synth_shape *slm_synth_shape_at(size_t i);

typedef struct slm_synth_params {
    const slm_synth_shape *shape;
    const char *arch;  /* "llama" or "qwen2"; NULL = the shape's own */
    slm_type type;     /* of the matrices: F32 or F16 (norms, biases: always F32) */
    uint64_t seed;
} slm_synth_params;

/* Writes the model to path (through the GGUF writer: tmp file + rename). */
slm_status slm_synth_write(const slm_synth_params *p, const char *path, slm_error *err);

/* llama3 RoPE scaling: the divisor of each of the head_dim/2 frequencies
 * (what rope_freqs.weight stores). */
void slm_synth_llama3_rope_freqs(int32_t head_dim, float rope_base, float *out);

#endif
