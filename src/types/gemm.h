/* gemm.h - the kernel set behind slm_matmul: for each weight type, a
 * function that fills a block of y = W x for a range of weight rows and a
 * range of tokens, from activations already converted to the type's
 * activation format (see dot.h).
 *
 * One kernel set per instruction set (scalar, AVX2, NEON), chosen once per
 * context.  DETERMINISM: every kernel computes each output element with one
 * fixed sequence of arithmetic operations, whatever the row range, the token
 * range or the tiling; and the SIMD kernels use the scalar reference's own
 * sequence (integer block sums are exact, the float steps are the same), so
 * all kernel sets give bitwise identical results. */
#ifndef SLM_TYPES_GEMM_H
#define SLM_TYPES_GEMM_H

#include <stdbool.h>
#include <stdint.h>

#include "slm.h"

typedef struct slm_gemm_args {
    slm_type type;        /* weight type */
    const uint8_t *w;     /* weight rows, GGUF blocks */
    uint64_t w_stride;    /* bytes per weight row */
    const void *a;        /* activation rows: floats, or the act_type's blocks */
    uint64_t a_stride;    /* bytes per activation row */
    int64_t n;            /* elements per row */
    float *y;             /* y[t * y_stride + r] */
    int64_t y_stride;
    float *row_buf;       /* scratch of n floats per thread (dequantized rows, block sums) */
} slm_gemm_args;

/* Computes y for rows [r0, r1) and tokens [t0, t1). */
typedef void (*slm_gemm_fn)(const slm_gemm_args *g, int64_t r0, int64_t r1, int64_t t0, int64_t t1);
/* Converts n activations (a multiple of the block size) of one token. */
typedef void (*slm_act_convert_fn)(const float *x, void *dst, int64_t n);

typedef struct slm_kernels {
    const char *name;                       /* "scalar", "avx2", "neon" */
    slm_gemm_fn gemm[SLM_TYPE_COUNT];       /* with converted activations */
    slm_gemm_fn gemm_f32_act;               /* any type, plain F32 activations */
    slm_act_convert_fn convert[SLM_TYPE_COUNT]; /* by activation type */

    /* Chunked attention (src/model/attention.c; the scalar reference is
     * attention_kernels.c).  One call covers m <= SLM_ATT_CHUNK cached
     * positions (rows k, k + k_stride, ...) for nq query rows (q, q + q_stride,
     * ...); s and w are [nq][SLM_ATT_CHUNK].  Each query's results depend on
     * its own data alone, never on m's split or on nq.
     * att_scores: s[g][j] = (q_g . k_j) * scale, slm_dot_f32's order with fmaf.
     * att_softmax: per query, M' = max(max, max_j s), w = e^(s - M'),
     *   ms = e^(max - M'), sum = sum * ms + (w summed in a fixed tree), max = M'.
     * att_accum: out_g = out_g * ms_g + sum_j w[g][j] v_j (fmaf, j ascending). */
    void (*att_scores_f16)(const uint16_t *k, int64_t k_stride, int m, const float *q, int64_t q_stride, int nq,
                           int64_t n, float scale, float *s);
    void (*att_scores_f32)(const float *k, int64_t k_stride, int m, const float *q, int64_t q_stride, int nq,
                           int64_t n, float scale, float *s);
    void (*att_softmax)(float *s, int m, int nq, float *max, float *sum, float *ms);
    void (*att_accum_f16)(float *out, int64_t out_stride, int64_t n, const float *w, const float *ms, int nq,
                          const uint16_t *v, int64_t v_stride, int m);
    void (*att_accum_f32)(float *out, int64_t out_stride, int64_t n, const float *w, const float *ms, int nq,
                          const float *v, int64_t v_stride, int m);

    /* SwiGLU with the attention kernels' exp (their files): gate[i] =
     * silu(gate[i]) * up[i], silu(z) = z / (1 + e) for z >= 0 and
     * (z e) / (1 + e) below, e = exp(-|z|). */
    void (*swiglu)(float *gate, const float *up, int64_t n);
} slm_kernels;

/* Positions per attention chunk: chunks start at multiples of it. */
#define SLM_ATT_CHUNK 16

/* The scalar reference set: loops over slm_dot_traits' vec_dot and slm_dot_f32. */
void slm_kernels_scalar(slm_kernels *k);
/* The best set for a SLM_CPU_* feature set (scalar when nothing fits). */
void slm_kernels_select(slm_kernels *k, unsigned cpu_features);

/* Provided by simd_avx2.c / simd_neon.c where compiled; they overwrite the
 * entries they accelerate and keep the others. */
void slm_kernels_avx2(slm_kernels *k);
void slm_kernels_neon(slm_kernels *k);
/* The K-quant and IQ4 kernels, one file each, called by the two above. */
void slm_kernels_avx2_q45k(slm_kernels *k);      /* Q4_K, Q5_K, Q8_K activations */
void slm_kernels_avx2_q23k_iq4(slm_kernels *k);  /* Q2_K, Q3_K, IQ4_NL, IQ4_XS */
void slm_kernels_neon_kquants(slm_kernels *k);   /* Q2_K..Q6_K, IQ4_NL, IQ4_XS, Q8_K */
/* The attention kernels: scalar (attention_kernels.c), AVX2, NEON. */
void slm_kernels_attention_scalar(slm_kernels *k);
void slm_kernels_avx2_attention(slm_kernels *k);
void slm_kernels_neon_attention(slm_kernels *k);

#endif
