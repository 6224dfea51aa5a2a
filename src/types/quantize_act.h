/* quantize_act.h - activation formats that ggml converts a matmul input to
 * before the dot products, so that slm's results match llama.cpp's closely.
 *
 * Block layouts (little-endian, the sizes of the type table's rows):
 *   Q8_0: f16 d, i8 q[32]                        34 bytes
 *   Q8_1: f16 d, f16 s, i8 q[32]                 36 bytes  (s = fp16(d * sum q))
 *   Q8_K: f32 d, i8 q[256], i16 bsums[16]        292 bytes (bsums: sums of 16 q)
 * n must be a multiple of the block size. */
#ifndef SLM_TYPES_QUANTIZE_ACT_H
#define SLM_TYPES_QUANTIZE_ACT_H

#include <stdint.h>

void slm_quantize_act_q8_0(const float *x, void *dst, int64_t n);
void slm_quantize_act_q8_1(const float *x, void *dst, int64_t n);
void slm_quantize_act_q8_K(const float *x, void *dst, int64_t n);

/* Rounds each value to fp16 / bf16 (nearest even) and back to float: the
 * products of two such values are exact in float, so a float dot product of
 * rounded activations and dequantized F16/BF16 weights is ggml's F16/BF16 dot. */
void slm_round_act_f16(const float *x, float *dst, int64_t n);
void slm_round_act_bf16(const float *x, float *dst, int64_t n);

#endif
