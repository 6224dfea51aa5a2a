/* rope.h - rotary position embeddings. */
#ifndef SLM_MODEL_ROPE_H
#define SLM_MODEL_ROPE_H

#include <stdint.h>

#include "model/arch.h"

/* cos and sin of the n_rot/2 angles of position pos:
 * theta_i = freq_scale * pos * base^(-2i/n_rot) / freq_factors[i]
 * (freq_factors may be NULL).  The powers are built by repeated
 * multiplication in float, as ggml does, to track llama.cpp closely. */
void slm_rope_angles(int32_t pos, int64_t n_rot, float base, float freq_scale, const float *freq_factors,
                     float *cos_out, float *sin_out);

/* Rotates the first n_rot dimensions of each of n_heads heads of x (heads of
 * head_dim floats, contiguous): NORM pairs (x[2i], x[2i+1]), NEOX pairs
 * (x[i], x[i + n_rot/2]).  (a, b) -> (a cos - b sin, a sin + b cos). */
void slm_rope_apply(float *x, int64_t n_heads, int64_t head_dim, int64_t n_rot, slm_rope_mode mode,
                    const float *cos, const float *sin);

#endif
