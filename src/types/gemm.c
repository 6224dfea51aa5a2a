/* gemm.c - the scalar kernel set and the choice of a set by CPU features. */
#include "types/gemm.h"

#include <string.h>

#include "runtime/cpu.h"
#include "types/dot.h"
#include "types/half.h"
#include "types/quantize_act.h"
#include "types/types.h"

/* Quantized weights: one vec_dot per (row, token). */
static void gemm_vec_dot(const slm_gemm_args *g, int64_t r0, int64_t r1, int64_t t0, int64_t t1) {
    slm_vec_dot_fn vec_dot = slm_dot_traits_of(g->type)->vec_dot;
    const uint8_t *a = g->a;
    for (int64_t r = r0; r < r1; r++)
        for (int64_t t = t0; t < t1; t++)
            g->y[t * g->y_stride + r] = vec_dot(g->w + (uint64_t)r * g->w_stride, a + (uint64_t)t * g->a_stride, g->n);
}

/* Float activations: each weight row dequantized once, then slm_dot_f32. */
static void gemm_float(const slm_gemm_args *g, int64_t r0, int64_t r1, int64_t t0, int64_t t1) {
    slm_to_float_fn to_float = slm_type_traits_of(g->type)->to_float;
    const uint8_t *a = g->a;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *wrow = g->w + (uint64_t)r * g->w_stride;
        const float *row = (const float *)(const void *)wrow;
        if (g->type != SLM_TYPE_F32) {
            to_float(wrow, g->row_buf, g->n);
            row = g->row_buf;
        }
        for (int64_t t = t0; t < t1; t++)
            g->y[t * g->y_stride + r] = slm_dot_f32(row, (const float *)(const void *)(a + (uint64_t)t * g->a_stride), g->n);
    }
}

static void round_f16(const float *x, void *dst, int64_t n) { slm_round_act_f16(x, dst, n); }
static void round_bf16(const float *x, void *dst, int64_t n) { slm_round_act_bf16(x, dst, n); }

void slm_kernels_scalar(slm_kernels *k) {
    memset(k, 0, sizeof *k);
    k->name = "scalar";
    for (int t = 0; t < SLM_TYPE_COUNT; t++) {
        const slm_dot_traits *dt = slm_dot_traits_of((slm_type)t);
        if (!dt) continue;
        k->gemm[t] = dt->vec_dot ? gemm_vec_dot : gemm_float;
        if (dt->quantize) k->convert[dt->act_type] = dt->quantize;
    }
    k->gemm_f32_act = gemm_float;
    k->convert[SLM_TYPE_F16] = round_f16;
    k->convert[SLM_TYPE_BF16] = round_bf16;
    slm_kernels_attention_scalar(k);
}

void slm_kernels_select(slm_kernels *k, unsigned cpu_features) {
    slm_kernels_scalar(k);
#if defined(__x86_64__)
    unsigned need = SLM_CPU_AVX2 | SLM_CPU_FMA | SLM_CPU_F16C;
    if ((cpu_features & need) == need) {
        slm_kernels_avx2(k);
        slm_kernels_avx2_attention(k);
    }
#elif defined(__aarch64__)
    if (cpu_features & SLM_CPU_NEON) {
        slm_kernels_neon(k);
        slm_kernels_neon_attention(k);
    }
#else
    (void)cpu_features;
#endif
}
