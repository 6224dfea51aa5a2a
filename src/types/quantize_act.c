/* quantize_act.c - scalar reference activation quantizers (ggml's formats). */
#include "types/quantize_act.h"

#include <math.h>

#include "types/half.h"

static void write_u16le(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v & 0xff);
    p[1] = (uint8_t)(v >> 8);
}

/* Nearest integer, ties to even (the default rounding mode, as ggml's
 * _mm256_round_ps(.., _MM_ROUND_NEAREST) and its 1.5*2^23 trick). */
static int round_even(float v) { return (int)nearbyintf(v); }

/* One block of 32: d = amax/127, q = round(x * 127/amax).  Returns sum q. */
static int quantize_block_32(const float *x, float *d_out, int8_t *q) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
    float d = amax / 127.0f;
    float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    int sum = 0;
    for (int j = 0; j < 32; j++) {
        q[j] = (int8_t)round_even(x[j] * id);
        sum += q[j];
    }
    *d_out = d;
    return sum;
}

void slm_quantize_act_q8_0(const float *x, void *dst, int64_t n) {
    uint8_t *b = dst;
    for (int64_t i = 0; i < n; i += 32, x += 32, b += 34) {
        float d = 0.0f;
        quantize_block_32(x, &d, (int8_t *)(b + 2));
        write_u16le(b, slm_f32_to_f16(d));
    }
}

void slm_quantize_act_q8_1(const float *x, void *dst, int64_t n) {
    uint8_t *b = dst;
    for (int64_t i = 0; i < n; i += 32, x += 32, b += 36) {
        float d = 0.0f;
        int sum = quantize_block_32(x, &d, (int8_t *)(b + 4));
        write_u16le(b, slm_f32_to_f16(d));
        write_u16le(b + 2, slm_f32_to_f16(d * (float)sum)); /* with the unrounded d */
    }
}

/* Blocks of 256 scaled by the signed element of largest magnitude (the first
 * on ties): iscale = -127/max, q = min(127, round(iscale*x)), d = 1/iscale. */
void slm_quantize_act_q8_K(const float *x, void *dst, int64_t n) {
    uint8_t *b = dst;
    for (int64_t i = 0; i < n; i += 256, x += 256, b += 292) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < 256; j++) {
            if (fabsf(x[j]) > amax) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        int8_t *q = (int8_t *)(b + 4);
        float d = 0.0f;
        if (amax != 0.0f) {
            float iscale = -127.0f / max;
            for (int j = 0; j < 256; j++) {
                int v = round_even(iscale * x[j]);
                q[j] = (int8_t)(v < 127 ? v : 127);
            }
            d = 1.0f / iscale;
        } else {
            for (int j = 0; j < 256; j++) q[j] = 0;
        }
        memcpy(b, &d, sizeof d);
        for (int s = 0; s < 16; s++) {
            int sum = 0;
            for (int j = 0; j < 16; j++) sum += q[16 * s + j];
            int16_t v = (int16_t)sum;
            memcpy(b + 260 + 2 * s, &v, sizeof v);
        }
    }
}

void slm_round_act_f16(const float *x, float *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = slm_f16_to_f32(slm_f32_to_f16(x[i]));
}

void slm_round_act_bf16(const float *x, float *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = slm_bf16_to_f32(slm_f32_to_bf16(x[i]));
}
