/* attention_kernels.c - the scalar reference of the chunked attention
 * kernels (see gemm.h and src/model/attention.c).  simd_avx2_attention.c
 * and simd_neon_attention.c repeat these exact operations on vectors, so
 * every kernel set gives the same bits.
 *
 *   scores   q . k with element i in lane i % 8, lane = fmaf(k_i, q_i, lane),
 *            then ((l0+l4)+(l1+l5))+((l2+l6)+(l3+l7)), times the scale.
 *   softmax  the chunk's largest score by a fixed tree over 16 lanes (lane l
 *            holds positions l and l + 8), the exponentials by att_exp below,
 *            and their sum by the same tree.
 *   accum    per output element, acc = fmaf(w_j, v_j, acc) from 0 in
 *            position order, then out * ms + acc.
 *
 * The multiply-adds are fused on purpose: C's fmaf rounds once wherever it
 * runs (as the FMA instructions of AVX2 and NEON do), so they are as
 * reproducible as a separate multiply and add, at half the vector work.
 * Everything else stays unfused (the build uses -ffp-contract=off). */
#include <math.h>

#include "types/gemm.h"
#include "types/half.h"

/* max(a, b) as x86's maxps computes it (b when equal or unordered); NEON
 * spells it with a compare and select. */
static float max2(float a, float b) { return a > b ? a : b; }

/* e^x for x <= 0 (scores minus their maximum; larger x counts as 0), within
 * about 1 ulp; 0 below -87 (and for NaN).  Only multiplies, adds and bit operations, so that the
 * vector versions compute the same bits:
 *   n = round(x / ln 2)      by adding and subtracting 1.5 * 2^23
 *   r = x - n ln 2           with ln 2 split in two (the first part exact)
 *   e^r = 1 + r + r^2 p(r)   Cephes' expf polynomial, Horner order
 *   e^x = e^r * 2^n          2^n built from its exponent bits */
static float att_exp(float x) {
    if (!(x >= -87.0f)) return 0.0f;
    x = x < 0.0f ? x : 0.0f;
    float t = x * 1.44269504088896341f;
    float n = (t + 12582912.0f) - 12582912.0f;
    float r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float y = (p * (r * r) + r) + 1.0f;
    uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
    return y * slm_bits_to_f32(bits);
}

/* The tree over 8 lanes: ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)), the order of
 * a 256-bit vector folded in halves. */
static float fold_sum(const float l[8]) {
    float x0 = l[0] + l[4], x1 = l[1] + l[5], x2 = l[2] + l[6], x3 = l[3] + l[7];
    return (x0 + x2) + (x1 + x3);
}

static float fold_max(const float l[8]) {
    float x0 = max2(l[0], l[4]), x1 = max2(l[1], l[5]), x2 = max2(l[2], l[6]), x3 = max2(l[3], l[7]);
    return max2(max2(x0, x2), max2(x1, x3));
}

static float dot_f16(const uint16_t *k, const float *q, int64_t n) {
    float lane[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) lane[j] = fmaf(slm_f16_to_f32(k[i + j]), q[i + j], lane[j]);
    for (int j = 0; i < n; i++, j++) lane[j] = fmaf(slm_f16_to_f32(k[i]), q[i], lane[j]);
    return ((lane[0] + lane[4]) + (lane[1] + lane[5])) + ((lane[2] + lane[6]) + (lane[3] + lane[7]));
}

static float dot_f32(const float *k, const float *q, int64_t n) {
    float lane[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) lane[j] = fmaf(k[i + j], q[i + j], lane[j]);
    for (int j = 0; i < n; i++, j++) lane[j] = fmaf(k[i], q[i], lane[j]);
    return ((lane[0] + lane[4]) + (lane[1] + lane[5])) + ((lane[2] + lane[6]) + (lane[3] + lane[7]));
}

static void scores_f16(const uint16_t *k, int64_t k_stride, int m, const float *q, int64_t q_stride, int nq,
                       int64_t n, float scale, float *s) {
    for (int g = 0; g < nq; g++)
        for (int j = 0; j < m; j++) s[g * SLM_ATT_CHUNK + j] = dot_f16(k + j * k_stride, q + g * q_stride, n) * scale;
}

static void scores_f32(const float *k, int64_t k_stride, int m, const float *q, int64_t q_stride, int nq, int64_t n,
                       float scale, float *s) {
    for (int g = 0; g < nq; g++)
        for (int j = 0; j < m; j++) s[g * SLM_ATT_CHUNK + j] = dot_f32(k + j * k_stride, q + g * q_stride, n) * scale;
}

static void softmax(float *s, int m, int nq, float *max, float *sum, float *ms) {
    for (int g = 0; g < nq; g++, s += SLM_ATT_CHUNK) {
        float lane[8];
        for (int l = 0; l < 8; l++) {
            float a = l < m ? s[l] : -INFINITY, b = l + 8 < m ? s[l + 8] : -INFINITY;
            lane[l] = max2(a, b);
        }
        float top = max2(max[g], fold_max(lane));
        for (int l = 0; l < 8; l++) {
            float a = l < m ? att_exp(s[l] - top) : 0.0f, b = l + 8 < m ? att_exp(s[l + 8] - top) : 0.0f;
            if (l < m) s[l] = a;
            if (l + 8 < m) s[l + 8] = b;
            lane[l] = a + b;
        }
        ms[g] = att_exp(max[g] - top);
        sum[g] = sum[g] * ms[g] + fold_sum(lane);
        max[g] = top;
    }
}

static void accum_f16(float *out, int64_t out_stride, int64_t n, const float *w, const float *ms, int nq,
                      const uint16_t *v, int64_t v_stride, int m) {
    for (int g = 0; g < nq; g++, out += out_stride, w += SLM_ATT_CHUNK)
        for (int64_t i = 0; i < n; i++) {
            float acc = 0.0f;
            for (int j = 0; j < m; j++) acc = fmaf(w[j], slm_f16_to_f32(v[j * v_stride + i]), acc);
            out[i] = out[i] * ms[g] + acc;
        }
}

static void accum_f32(float *out, int64_t out_stride, int64_t n, const float *w, const float *ms, int nq,
                      const float *v, int64_t v_stride, int m) {
    for (int g = 0; g < nq; g++, out += out_stride, w += SLM_ATT_CHUNK)
        for (int64_t i = 0; i < n; i++) {
            float acc = 0.0f;
            for (int j = 0; j < m; j++) acc = fmaf(w[j], v[j * v_stride + i], acc);
            out[i] = out[i] * ms[g] + acc;
        }
}

/* SwiGLU (gemm.h): the exponential only of -|z|, where att_exp is defined. */
static void swiglu(float *gate, const float *up, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float z = gate[i];
        float e = att_exp(z < 0.0f ? z : -z);
        float num = z < 0.0f ? z * e : z;
        gate[i] = (num / (1.0f + e)) * up[i];
    }
}

void slm_kernels_attention_scalar(slm_kernels *k) {
    k->att_scores_f16 = scores_f16;
    k->att_scores_f32 = scores_f32;
    k->att_softmax = softmax;
    k->att_accum_f16 = accum_f16;
    k->att_accum_f32 = accum_f32;
    k->swiglu = swiglu;
}
