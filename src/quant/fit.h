/* fit.h - least-squares fitting of small groups of weights to integer grids,
 * the core of every quantizer.
 *
 * All fits minimise the weighted squared error sum w[i] (x[i] - xq[i])^2.
 * They search over several candidate scales (as ggml's make_qx/qkx quants
 * do), take the least-squares scale for each candidate rounding, and then
 * alternate "round to the grid" and "refit the scale" until nothing
 * improves, so the result is never worse than plain max-scaling.
 *
 * `wide` searches about twice as many candidate scales (used with an
 * importance matrix, whose uneven weights move the best scale further
 * from the plain one; bench/results/quantize.md, "imatrix"). */
#ifndef SLM_QUANT_FIT_H
#define SLM_QUANT_FIT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Nearest integer, ties to even (the 1.5 * 2^23 trick: adding it leaves the
 * rounded integer in the low mantissa bits; valid for |v| < 2^22, so v is
 * clamped first -- every caller clamps to a small grid afterwards). */
static inline int slm_qround(float v) {
    v = v < -4e6f ? -4e6f : v > 4e6f ? 4e6f : v;
    float f = v + 12582912.0f;
    int32_t i;
    memcpy(&i, &f, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

/* x ~ d * L with integer L in [lo, hi] (lo <= 0 < hi).  Returns d (may be
 * negative when lo < 0: the largest |x| then maps to lo). */
float slm_fit_sym(int n, int lo, int hi, const float *x, const float *w, int *L, bool wide);

/* x ~ d * L + m with L in [0, hi].  With nonpos_min the offset m is kept
 * <= 0 (K-quants store -m as an unsigned 6-bit value).  Returns d, sets *m. */
float slm_fit_affine(int n, int hi, const float *x, const float *w, int *L, float *m, int nonpos_min, bool wide);

/* x ~ d * K[idx] for a sorted 16-entry codebook K.  Returns d. */
float slm_fit_codebook(int n, const int8_t *K, const float *x, const float *w, int *idx);

/* Index of the codebook entry nearest v. */
int slm_nearest_code(const int8_t *K, float v);

/* Rounds x[i]/d into [lo, hi] (all zero when d == 0). */
void slm_round_to_grid(int n, int lo, int hi, const float *x, float d, float m, int *L);

#endif
