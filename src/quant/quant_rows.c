/* quant_rows.c - row quantization: importance weights and the per-type
 * block quantizer table. */
#include "quant/quant_rows.h"

#include <math.h>

#include "types/half.h"
#include "types/types.h"

typedef void (*qblock_fn)(const float *x, const float *w, bool wide, uint8_t *b);

static qblock_fn block_fn(slm_type t) {
    switch (t) {
    case SLM_TYPE_Q4_0: return slm_qblock_q4_0;
    case SLM_TYPE_Q4_1: return slm_qblock_q4_1;
    case SLM_TYPE_Q5_0: return slm_qblock_q5_0;
    case SLM_TYPE_Q5_1: return slm_qblock_q5_1;
    case SLM_TYPE_Q8_0: return slm_qblock_q8_0;
    case SLM_TYPE_IQ4_NL: return slm_qblock_iq4_nl;
    case SLM_TYPE_Q2_K: return slm_qblock_q2_K;
    case SLM_TYPE_Q3_K: return slm_qblock_q3_K;
    case SLM_TYPE_Q4_K: return slm_qblock_q4_K;
    case SLM_TYPE_Q5_K: return slm_qblock_q5_K;
    case SLM_TYPE_Q6_K: return slm_qblock_q6_K;
    case SLM_TYPE_IQ4_XS: return slm_qblock_iq4_xs;
    default: return NULL;
    }
}

bool slm_quant_can_write(slm_type t) {
    return t == SLM_TYPE_F32 || t == SLM_TYPE_F16 || t == SLM_TYPE_BF16 || block_fn(t) != NULL;
}

/* sqrt(sigma^2 + x^2), sigma^2 = 2 * mean square of the group: large weights
 * matter more (their error is more likely to dominate a dot product), but
 * small ones never count for nothing.
 *
 * With an imatrix: imatrix[i]^p * sqrt(sigma^2 + x^2).  The exponent p
 * below 1 shrinks the importances towards their mean (they are diagonal
 * estimates from a different text: trusting them fully overfits).  Groups
 * of 32 (one scale each: Q4_0 ... IQ4_NL, the K-quant fallbacks) use
 * p = 0.875 and a quarter of that sigma^2, favouring their large weights
 * more; 256-weight super-blocks use p = 0.75 and keep sigma^2 (the smaller
 * one raised llama-k-F32's Q4_K_M KLD by 2.6%).  Picked on stories260K,
 * llama-k-F32 and a smollm2-shaped model with uneven norms, checked on a
 * second evaluation text (bench/results/quantize.md, "imatrix"). */
void slm_quant_weights(int n, const float *x, const float *imatrix, float *w) {
    double s4[4] = {0, 0, 0, 0}; /* four running sums: no chain of dependent adds */
    int i4 = n - n % 4;
    for (int i = 0; i < i4; i += 4)
        for (int k = 0; k < 4; k++) s4[k] += (double)x[i + k] * x[i + k];
    for (int i = i4; i < n; i++) s4[0] += (double)x[i] * x[i];
    double sum2 = (s4[0] + s4[1]) + (s4[2] + s4[3]);
    float sigma2 = (float)((imatrix && n < 256 ? 0.5 : 2.0) * sum2 / n);
    for (int i = 0; i < n; i++) {
        float base = sqrtf(sigma2 + x[i] * x[i]);
        if (imatrix) {
            float v = imatrix[i] > 0.0f ? imatrix[i] : 0.0f;
            w[i] = (n < 256 ? sqrtf(v * sqrtf(v * sqrtf(v))) : sqrtf(v * sqrtf(v))) * base; /* v^0.875, v^0.75 */
        } else {
            w[i] = base;
        }
        if (!(w[i] > 0.0f)) w[i] = 1e-20f; /* all-zero groups and zero importances */
    }
}

void slm_quantize_row(slm_type t, const float *x, void *dst, int64_t n, const float *imatrix) {
    uint8_t *out = dst;
    if (t == SLM_TYPE_F32) {
        memcpy(out, x, (size_t)n * sizeof(float));
        return;
    }
    if (t == SLM_TYPE_F16 || t == SLM_TYPE_BF16) {
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = t == SLM_TYPE_F16 ? slm_f32_to_f16(x[i]) : slm_f32_to_bf16(x[i]);
            out[2 * i] = (uint8_t)(h & 0xff);
            out[2 * i + 1] = (uint8_t)(h >> 8);
        }
        return;
    }
    qblock_fn fn = block_fn(t);
    int bs = (int)slm_type_block_size(t);
    uint32_t bb = slm_type_block_bytes(t);
    float w[256];
    /* 8-bit steps are so fine that favouring large weights only costs the
     * small ones: Q8_0 minimises the plain squared error (or the imatrix's). */
    bool plain = t == SLM_TYPE_Q8_0;
    /* An imatrix gets the wide scale search (fit.h) in groups of 32; in
     * 256-weight super-blocks it did not help (llama-k-F32 Q4_K_M/Q5_K_M:
     * +0.6% / -0.5% KLD) and costs time. */
    bool wide = imatrix != NULL && bs < 256;
    for (int64_t i = 0; i < n; i += bs, out += bb) {
        if (plain)
            for (int k = 0; k < bs; k++) w[k] = imatrix ? imatrix[i + k] + 1e-20f : 1.0f;
        else
            slm_quant_weights(bs, x + i, imatrix ? imatrix + i : NULL, w);
        fn(x + i, w, wide, out);
    }
}

bool slm_qblock_grid(slm_type t, const uint8_t *b, slm_qgrid *g) {
    return slm_qgrid_legacy(t, b, g) || slm_qgrid_k(t, b, g);
}

void slm_qblock_set_quants(slm_type t, uint8_t *b, const int *L) {
    slm_qset_legacy(t, b, L);
    slm_qset_k(t, b, L);
}
