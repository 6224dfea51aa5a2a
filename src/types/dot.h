/* dot.h - the dot products behind every matrix multiplication.
 *
 * For each weight type, the row says which format the activations are
 * converted to first (ggml's "vec_dot_type") and which kernel multiplies a
 * weight row with one converted activation row.  Float formats (F32, F16,
 * BF16) have no kernel: their weight rows are dequantized and multiplied with
 * slm_dot_f32, after the activations have been rounded to the format.
 *
 * Every kernel has ONE reduction order, fixed by the row length alone, so a
 * result never depends on batch size or thread count.  SIMD versions must
 * keep the same order (slm_dot_f32: 8 fused lanes, then the pairwise sum below). */
#ifndef SLM_TYPES_DOT_H
#define SLM_TYPES_DOT_H

#include <stdint.h>

#include "slm.h"

/* Quantizes n activations (a multiple of the block size) into dst. */
typedef void (*slm_act_quantize_fn)(const float *x, void *dst, int64_t n);
/* Dot product of n elements: a weight row (GGUF blocks) with an activation row. */
typedef float (*slm_vec_dot_fn)(const void *w, const void *a, int64_t n);

typedef struct slm_dot_traits {
    slm_type act_type;            /* F32, F16, BF16 (float path) or Q8_0, Q8_1, Q8_K */
    slm_act_quantize_fn quantize; /* NULL on the float path */
    slm_vec_dot_fn vec_dot;       /* NULL on the float path */
} slm_dot_traits;

/* NULL when no matmul kernel exists for this weight type. */
const slm_dot_traits *slm_dot_traits_of(slm_type weight_type);

/* Float dot product in slm's fixed order: 8 running lanes (element i goes to
 * lane i % 8, lane = fmaf(a_i, b_i, lane)), then ((l0+l4)+(l1+l5)) +
 * ((l2+l6)+(l3+l7)).  The multiply-adds are fused on purpose: fmaf rounds
 * once on every machine, so a SIMD kernel can use its FMA instruction (one
 * operation where a multiply and an add would be two) and still give the same
 * bits; ggml's float dot products fuse them too. */
float slm_dot_f32(const float *a, const float *b, int64_t n);

float slm_vec_dot_q4_0_q8_0(const void *w, const void *a, int64_t n);
float slm_vec_dot_q4_1_q8_1(const void *w, const void *a, int64_t n);
float slm_vec_dot_q5_0_q8_0(const void *w, const void *a, int64_t n);
float slm_vec_dot_q5_1_q8_1(const void *w, const void *a, int64_t n);
float slm_vec_dot_q8_0_q8_0(const void *w, const void *a, int64_t n);
float slm_vec_dot_q6_K_q8_K(const void *w, const void *a, int64_t n);

#endif
