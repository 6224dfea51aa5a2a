/* rope.c - rotary position embeddings (RoFormer), NORM and NEOX pairings. */
#include "model/rope.h"

#include <math.h>

void slm_rope_angles(int32_t pos, int64_t n_rot, float base, float freq_scale, const float *freq_factors,
                     float *cos_out, float *sin_out) {
    float theta_scale = powf(base, -2.0f / (float)n_rot);
    float theta = (float)pos;
    for (int64_t i = 0; i < n_rot / 2; i++) {
        float t = freq_scale * (freq_factors ? theta / freq_factors[i] : theta);
        cos_out[i] = cosf(t);
        sin_out[i] = sinf(t);
        theta *= theta_scale;
    }
}

void slm_rope_apply(float *x, int64_t n_heads, int64_t head_dim, int64_t n_rot, slm_rope_mode mode,
                    const float *cos, const float *sin) {
    int64_t half = n_rot / 2;
    for (int64_t h = 0; h < n_heads; h++, x += head_dim) {
        for (int64_t i = 0; i < half; i++) {
            int64_t ia = mode == SLM_ROPE_NORM ? 2 * i : i;
            int64_t ib = mode == SLM_ROPE_NORM ? 2 * i + 1 : i + half;
            float a = x[ia], b = x[ib];
            x[ia] = a * cos[i] - b * sin[i];
            x[ib] = a * sin[i] + b * cos[i];
        }
    }
}
