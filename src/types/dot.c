/* dot.c - scalar reference dot products (see dot.h).
 *
 * The quantized kernels follow ggml: an exact integer dot product per block,
 * scaled by the product of the two block scales in float, summed over the
 * blocks in order.  The block layouts are in dequant.c, dequant_k.c and
 * quantize_act.h. */
#include "types/dot.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "types/half.h"
#include "types/kquants.h"
#include "types/quantize_act.h"

float slm_dot_f32(const float *a, const float *b, int64_t n) {
    float lane[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) lane[k] = fmaf(a[i + k], b[i + k], lane[k]);
    for (int k = 0; i < n; i++, k++) lane[k] = fmaf(a[i], b[i], lane[k]);
    return ((lane[0] + lane[4]) + (lane[1] + lane[5])) + ((lane[2] + lane[6]) + (lane[3] + lane[7]));
}

static float f16_at(const uint8_t *p) { return slm_f16_to_f32(slm_read_u16le(p)); }

/* Integer dot of 32 4-bit weights (low nibbles = elements 0..15, high = 16..31,
 * minus `offset`) with 32 int8 activations. */
static int dot_nibbles(const uint8_t *qs, int offset, const int8_t *q) {
    int sum = 0;
    for (int j = 0; j < 16; j++) {
        sum += ((qs[j] & 0x0f) - offset) * q[j];
        sum += ((qs[j] >> 4) - offset) * q[j + 16];
    }
    return sum;
}

/* Same with a fifth bit per element from qh. */
static int dot_5bit(const uint8_t *qs, uint32_t qh, int offset, const int8_t *q) {
    int sum = 0;
    for (int j = 0; j < 16; j++) {
        int lo = (qs[j] & 0x0f) | (int)(((qh >> j) & 1) << 4);
        int hi = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
        sum += (lo - offset) * q[j] + (hi - offset) * q[j + 16];
    }
    return sum;
}

float slm_vec_dot_q4_0_q8_0(const void *w, const void *a, int64_t n) {
    const uint8_t *x = w, *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i += 32, x += 18, y += 34) {
        int isum = dot_nibbles(x + 2, 8, (const int8_t *)(y + 2));
        sum += (f16_at(x) * f16_at(y)) * (float)isum;
    }
    return sum;
}

float slm_vec_dot_q4_1_q8_1(const void *w, const void *a, int64_t n) {
    const uint8_t *x = w, *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i += 32, x += 20, y += 36) {
        int isum = dot_nibbles(x + 4, 0, (const int8_t *)(y + 4));
        sum += (f16_at(x) * f16_at(y)) * (float)isum + f16_at(x + 2) * f16_at(y + 2);
    }
    return sum;
}

float slm_vec_dot_q5_0_q8_0(const void *w, const void *a, int64_t n) {
    const uint8_t *x = w, *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i += 32, x += 22, y += 34) {
        int isum = dot_5bit(x + 6, slm_read_u32le(x + 2), 16, (const int8_t *)(y + 2));
        sum += (f16_at(x) * f16_at(y)) * (float)isum;
    }
    return sum;
}

float slm_vec_dot_q5_1_q8_1(const void *w, const void *a, int64_t n) {
    const uint8_t *x = w, *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i += 32, x += 24, y += 36) {
        int isum = dot_5bit(x + 8, slm_read_u32le(x + 4), 0, (const int8_t *)(y + 4));
        sum += (f16_at(x) * f16_at(y)) * (float)isum + f16_at(x + 2) * f16_at(y + 2);
    }
    return sum;
}

float slm_vec_dot_q8_0_q8_0(const void *w, const void *a, int64_t n) {
    const uint8_t *x = w, *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i += 32, x += 34, y += 34) {
        const int8_t *qx = (const int8_t *)(x + 2), *qy = (const int8_t *)(y + 2);
        int isum = 0;
        for (int j = 0; j < 32; j++) isum += qx[j] * qy[j];
        sum += (f16_at(x) * f16_at(y)) * (float)isum;
    }
    return sum;
}

/* Q6_K x Q8_K: per 256-block, sum over the 16 sub-blocks of scale * (integer
 * dot of 16), times d_w * d_a.  The integer part is exact. */
float slm_vec_dot_q6_K_q8_K(const void *w, const void *a, int64_t n) {
    const uint8_t *x = w, *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i += 256, x += 210, y += 292) {
        const int8_t *sc = (const int8_t *)(x + 192);
        const int8_t *q8 = (const int8_t *)(y + 4);
        int isum = 0;
        for (int half = 0; half < 2; half++) {
            const uint8_t *ql = x + 64 * half, *qh = x + 128 + 32 * half;
            for (int k = 0; k < 4; k++) {
                for (int g = 0; g < 2; g++) { /* two groups of 16 share a scale */
                    int s16 = 0;
                    for (int l = 16 * g; l < 16 * g + 16; l++) {
                        int lo = k < 2 ? (ql[l + 32 * (k % 2)] & 0x0f) : (ql[l + 32 * (k % 2)] >> 4);
                        int hi = (qh[l] >> (2 * k)) & 3;
                        s16 += ((lo | (hi << 4)) - 32) * q8[128 * half + 32 * k + l];
                    }
                    isum += sc[8 * half + 2 * k + g] * s16;
                }
            }
        }
        float dy;
        memcpy(&dy, y, sizeof dy);
        sum += (f16_at(x + 208) * dy) * (float)isum;
    }
    return sum;
}

static const slm_dot_traits DOT[SLM_TYPE_COUNT] = {
    [SLM_TYPE_F32] = {SLM_TYPE_F32, NULL, NULL},
    [SLM_TYPE_F16] = {SLM_TYPE_F16, NULL, NULL},
    [SLM_TYPE_BF16] = {SLM_TYPE_BF16, NULL, NULL},
    [SLM_TYPE_Q4_0] = {SLM_TYPE_Q8_0, slm_quantize_act_q8_0, slm_vec_dot_q4_0_q8_0},
    [SLM_TYPE_Q4_1] = {SLM_TYPE_Q8_1, slm_quantize_act_q8_1, slm_vec_dot_q4_1_q8_1},
    [SLM_TYPE_Q5_0] = {SLM_TYPE_Q8_0, slm_quantize_act_q8_0, slm_vec_dot_q5_0_q8_0},
    [SLM_TYPE_Q5_1] = {SLM_TYPE_Q8_1, slm_quantize_act_q8_1, slm_vec_dot_q5_1_q8_1},
    [SLM_TYPE_Q8_0] = {SLM_TYPE_Q8_0, slm_quantize_act_q8_0, slm_vec_dot_q8_0_q8_0},
    [SLM_TYPE_Q6_K] = {SLM_TYPE_Q8_K, slm_quantize_act_q8_K, slm_vec_dot_q6_K_q8_K},
    [SLM_TYPE_Q2_K] = {SLM_TYPE_Q8_K, slm_quantize_act_q8_K, slm_vec_dot_q2_K_q8_K},
    [SLM_TYPE_Q3_K] = {SLM_TYPE_Q8_K, slm_quantize_act_q8_K, slm_vec_dot_q3_K_q8_K},
    [SLM_TYPE_Q4_K] = {SLM_TYPE_Q8_K, slm_quantize_act_q8_K, slm_vec_dot_q4_K_q8_K},
    [SLM_TYPE_Q5_K] = {SLM_TYPE_Q8_K, slm_quantize_act_q8_K, slm_vec_dot_q5_K_q8_K},
    [SLM_TYPE_IQ4_NL] = {SLM_TYPE_Q8_0, slm_quantize_act_q8_0, slm_vec_dot_iq4_nl_q8_0},
    [SLM_TYPE_IQ4_XS] = {SLM_TYPE_Q8_K, slm_quantize_act_q8_K, slm_vec_dot_iq4_xs_q8_K},
};

const slm_dot_traits *slm_dot_traits_of(slm_type weight_type) {
    if ((unsigned)weight_type >= SLM_TYPE_COUNT) return NULL;
    const slm_dot_traits *t = &DOT[weight_type];
    /* act_type F32 is 0, so an empty row is one without a kernel that is not F32 */
    if (weight_type != SLM_TYPE_F32 && t->act_type == SLM_TYPE_F32) return NULL;
    return t;
}
