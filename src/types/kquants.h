/* kquants.h - the K-quant (Q2_K..Q5_K) and 4-bit non-linear (IQ4_NL,
 * IQ4_XS) block layouts: scalar dequantizers, scalar dot products against
 * the activation formats ggml uses for them (Q8_K; Q8_0 for IQ4_NL), and
 * the unpack/pack helpers the quantizers share.
 *
 * Block layouts (bytes, little-endian; Q6_K lives in dequant_k.c):
 *   Q2_K   84: u8 scales[16] (low nibble scale, high nibble min, per 16),
 *              u8 qs[64] (2-bit), f16 d, f16 dmin.   x = d*sc*q - dmin*m
 *   Q3_K  110: u8 hmask[32] (3rd bit), u8 qs[64] (low 2 bits),
 *              u8 scales[12] (16 x 6-bit, offset 32), f16 d.
 *              x = d*(sc-32)*(q-4), q = 3-bit value
 *   Q4_K  144: f16 d, f16 dmin, u8 scales[12] (8 x 6-bit scale + 8 x 6-bit
 *              min, per 32), u8 qs[128].             x = d*sc*q - dmin*m
 *   Q5_K  176: as Q4_K plus u8 qh[32] (5th bit) before qs.
 *   IQ4_NL 18: f16 d, u8 qs[16] (32 elements)        x = d*K[q]
 *   IQ4_XS 136: f16 d, u16 scales_h, u8 scales_l[4] (8 x 6-bit, offset 32),
 *              u8 qs[128].                           x = d*(sc-32)*K[q]
 * K is the IQ4_NL codebook below.  2-bit planes (Q2_K, Q3_K): element
 * 128h + 32k + l (l < 32) is bits 2k..2k+1 of qs[32h + l] and uses
 * sub-block (scale) 8h + 2k + l/16; Q3_K's third bit is bit 4h + k of
 * hmask[l].  4-bit planes (Q4_K, Q5_K): element 64j + l is the low nibble of
 * qs[32j + l] (sub-block 2j), element 64j + 32 + l the high nibble (2j + 1);
 * Q5_K's fifth bits are bits 2j / 2j+1 of qh[l].  IQ4 pairs: element j of a
 * 32-block is the low nibble of qs[j], element j + 16 the high one. */
#ifndef SLM_TYPES_KQUANTS_H
#define SLM_TYPES_KQUANTS_H

#include <stdint.h>

/* The 16 values of the IQ4_NL / IQ4_XS codebook. */
extern const int8_t slm_iq4nl_values[16];

void slm_dequant_q2_K(const void *src, float *dst, int64_t n);
void slm_dequant_q3_K(const void *src, float *dst, int64_t n);
void slm_dequant_q4_K(const void *src, float *dst, int64_t n);
void slm_dequant_q5_K(const void *src, float *dst, int64_t n);
void slm_dequant_iq4_nl(const void *src, float *dst, int64_t n);
void slm_dequant_iq4_xs(const void *src, float *dst, int64_t n);

float slm_vec_dot_q2_K_q8_K(const void *w, const void *a, int64_t n);
float slm_vec_dot_q3_K_q8_K(const void *w, const void *a, int64_t n);
float slm_vec_dot_q4_K_q8_K(const void *w, const void *a, int64_t n);
float slm_vec_dot_q5_K_q8_K(const void *w, const void *a, int64_t n);
float slm_vec_dot_iq4_nl_q8_0(const void *w, const void *a, int64_t n);
float slm_vec_dot_iq4_xs_q8_K(const void *w, const void *a, int64_t n);

/* The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K scales[12]. */
void slm_kq_get_scale_min(const uint8_t *scales, int j, uint8_t *sc, uint8_t *m);
void slm_kq_set_scale_min(uint8_t *scales, int j, uint8_t sc, uint8_t m);
/* The 6-bit scale (0..63, offset 32 not removed) of sub-block j (0..15) of
 * a Q3_K scales[12]. */
int slm_q3_K_get_scale(const uint8_t *scales, int j);
void slm_q3_K_set_scale(uint8_t *scales, int j, int v);

#endif
