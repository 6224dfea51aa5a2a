/* simd_neon.c - aarch64 kernels with NEON (and SDOT where the CPU has it,
 * chosen at run time from the auxiliary vector).  Compiled on aarch64 only.
 *
 * As on x86 (simd_avx2.c), every kernel gives the scalar reference's bits:
 * block integer sums are exact in any order, and the float steps of each
 * output element are the reference's own (sum += (d_w * d_a) * isum for the
 * quantized types; 8 lanes, element i in lane i % 8, one fused multiply-add
 * each (vfmaq where the reference calls fmaf) and the pairwise final sum for
 * the float types; nothing else fused: -ffp-contract=off).
 *
 * Tiles: one weight row at a time against up to 4 tokens, so a row's blocks
 * are unpacked once for 4 tokens. */
#include "types/gemm.h"

#if defined(__aarch64__)

#include <arm_neon.h>
#include <math.h>
#include <string.h>

#include "runtime/cpu.h"
#include "types/half.h"
#include "types/types.h"

#define INLINE static inline __attribute__((always_inline))
#define TOKENS_PER_TILE 4

static float f16_at(const uint8_t *p) { return slm_f16_to_f32(slm_read_u16le(p)); }

/* ---- quantized weights in blocks of 32 ------------------------------------------ */

typedef struct q32_layout {
    int block_bytes, act_bytes, qs_off;
    bool has_min;
} q32_layout;

INLINE q32_layout layout_of(slm_type type) {
    switch (type) {
    case SLM_TYPE_Q4_0: return (q32_layout){18, 34, 2, false};
    case SLM_TYPE_Q4_1: return (q32_layout){20, 36, 4, true};
    case SLM_TYPE_Q5_0: return (q32_layout){22, 34, 6, false};
    case SLM_TYPE_Q5_1: return (q32_layout){24, 36, 8, true};
    default: return (q32_layout){34, 34, 2, false}; /* Q8_0 */
    }
}

/* The 5th bits of 16 elements (bits 0..15 of h) as 0x10 bytes. */
INLINE uint8x16_t high_bits(uint32_t h) {
    static const uint8_t bit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    uint8x8_t lo = vdup_n_u8((uint8_t)(h & 0xff)), hi = vdup_n_u8((uint8_t)((h >> 8) & 0xff));
    uint8x16_t v = vcombine_u8(lo, hi);
    uint8x16_t set = vtstq_u8(v, vld1q_u8(bit));
    return vandq_u8(set, vdupq_n_u8(0x10));
}

/* A block's 32 weights as signed bytes (offset removed; the _1 types are 0..31). */
INLINE void unpack_q32(slm_type type, const uint8_t *b, int8x16_t q[2]) {
    const q32_layout L = layout_of(type);
    if (type == SLM_TYPE_Q8_0) {
        q[0] = vld1q_s8((const int8_t *)(b + 2));
        q[1] = vld1q_s8((const int8_t *)(b + 18));
        return;
    }
    uint8x16_t raw = vld1q_u8(b + L.qs_off);
    uint8x16_t lo = vandq_u8(raw, vdupq_n_u8(0x0f)), hi = vshrq_n_u8(raw, 4);
    if (type == SLM_TYPE_Q5_0 || type == SLM_TYPE_Q5_1) {
        uint32_t qh;
        memcpy(&qh, b + (type == SLM_TYPE_Q5_0 ? 2 : 4), 4);
        lo = vorrq_u8(lo, high_bits(qh));
        hi = vorrq_u8(hi, high_bits(qh >> 16));
    }
    int offset = type == SLM_TYPE_Q4_0 ? 8 : type == SLM_TYPE_Q5_0 ? 16 : 0;
    q[0] = vsubq_s8(vreinterpretq_s8_u8(lo), vdupq_n_s8((int8_t)offset));
    q[1] = vsubq_s8(vreinterpretq_s8_u8(hi), vdupq_n_s8((int8_t)offset));
}

INLINE int32x4_t dot16_mull(int8x16_t a, int8x16_t b, int32x4_t acc) {
    int16x8_t p = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    p = vmlal_s8(p, vget_high_s8(a), vget_high_s8(b)); /* |sum of 2| <= 2 * 128 * 127: fits */
    return vpadalq_s16(acc, p);
}

static int idot32_mull(const int8x16_t w[2], const int8_t *a) {
    int32x4_t s = dot16_mull(w[0], vld1q_s8(a), vdupq_n_s32(0));
    s = dot16_mull(w[1], vld1q_s8(a + 16), s);
    return vaddvq_s32(s);
}

#if defined(__GNUC__)
__attribute__((target("arch=armv8.2-a+dotprod")))
#endif
static int idot32_sdot(const int8x16_t w[2], const int8_t *a) {
    int32x4_t s = vdotq_s32(vdupq_n_s32(0), w[0], vld1q_s8(a));
    s = vdotq_s32(s, w[1], vld1q_s8(a + 16));
    return vaddvq_s32(s);
}

typedef int (*idot32_fn)(const int8x16_t w[2], const int8_t *a);

INLINE void gemm_q32(slm_type type, idot32_fn idot, const slm_gemm_args *g, int64_t r0, int64_t r1, int64_t t0,
                     int64_t t1) {
    const q32_layout L = layout_of(type);
    const int a_qs = L.has_min ? 4 : 2;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *wrow = g->w + (uint64_t)r * g->w_stride;
        for (int64_t t = t0; t < t1; t += TOKENS_PER_TILE) {
            int T = t1 - t < TOKENS_PER_TILE ? (int)(t1 - t) : TOKENS_PER_TILE;
            float sum[TOKENS_PER_TILE] = {0};
            for (int64_t ib = 0; ib < g->n / 32; ib++) {
                const uint8_t *wb = wrow + (uint64_t)ib * L.block_bytes;
                int8x16_t q[2];
                unpack_q32(type, wb, q);
                float dw = f16_at(wb), mw = L.has_min ? f16_at(wb + 2) : 0.0f;
                for (int j = 0; j < T; j++) {
                    const uint8_t *ab = (const uint8_t *)g->a + (uint64_t)(t + j) * g->a_stride + (uint64_t)ib * L.act_bytes;
                    int isum = idot(q, (const int8_t *)(ab + a_qs));
                    if (L.has_min) sum[j] += (dw * f16_at(ab)) * (float)isum + mw * f16_at(ab + 2);
                    else sum[j] += (dw * f16_at(ab)) * (float)isum;
                }
            }
            for (int j = 0; j < T; j++) g->y[(t + j) * g->y_stride + r] = sum[j];
        }
    }
}

#define DEFINE_Q32(NAME, TYPE, IDOT) \
    static void NAME(const slm_gemm_args *g, int64_t r0, int64_t r1, int64_t t0, int64_t t1) { \
        gemm_q32(TYPE, IDOT, g, r0, r1, t0, t1); \
    }
DEFINE_Q32(gemm_q4_0, SLM_TYPE_Q4_0, idot32_mull)
DEFINE_Q32(gemm_q4_1, SLM_TYPE_Q4_1, idot32_mull)
DEFINE_Q32(gemm_q5_0, SLM_TYPE_Q5_0, idot32_mull)
DEFINE_Q32(gemm_q5_1, SLM_TYPE_Q5_1, idot32_mull)
DEFINE_Q32(gemm_q8_0, SLM_TYPE_Q8_0, idot32_mull)
DEFINE_Q32(gemm_q4_0_dp, SLM_TYPE_Q4_0, idot32_sdot)
DEFINE_Q32(gemm_q4_1_dp, SLM_TYPE_Q4_1, idot32_sdot)
DEFINE_Q32(gemm_q5_0_dp, SLM_TYPE_Q5_0, idot32_sdot)
DEFINE_Q32(gemm_q5_1_dp, SLM_TYPE_Q5_1, idot32_sdot)
DEFINE_Q32(gemm_q8_0_dp, SLM_TYPE_Q8_0, idot32_sdot)

/* ---- float weights --------------------------------------------------------------- */

/* 4 weights from element i as floats. */
INLINE float32x4_t load_w4(slm_type type, const uint8_t *row, int64_t i) {
    switch (type) {
    case SLM_TYPE_F16: return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)(const void *)row + i)));
    case SLM_TYPE_BF16:
        return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16((const uint16_t *)(const void *)row + i), 16));
    default: return vld1q_f32((const float *)(const void *)row + i);
    }
}

INLINE float load_w1(slm_type type, const uint8_t *row, int64_t i) {
    switch (type) {
    case SLM_TYPE_F16: return slm_f16_to_f32(slm_read_u16le(row + 2 * i));
    case SLM_TYPE_BF16: return slm_bf16_to_f32(slm_read_u16le(row + 2 * i));
    default: {
        float f;
        memcpy(&f, row + 4 * i, 4);
        return f;
    }
    }
}

/* slm_dot_f32's order: lanes 0-3 in lo, 4-7 in hi, the tail, the pairwise sum. */
INLINE float dot_float(slm_type type, const uint8_t *w, const float *x, int64_t n) {
    float32x4_t lo = vdupq_n_f32(0.0f), hi = vdupq_n_f32(0.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        lo = vfmaq_f32(lo, load_w4(type, w, i), vld1q_f32(x + i));
        hi = vfmaq_f32(hi, load_w4(type, w, i + 4), vld1q_f32(x + i + 4));
    }
    float lane[8];
    vst1q_f32(lane, lo);
    vst1q_f32(lane + 4, hi);
    for (int k = 0; i < n; i++, k++) lane[k] = fmaf(load_w1(type, w, i), x[i], lane[k]);
    return ((lane[0] + lane[4]) + (lane[1] + lane[5])) + ((lane[2] + lane[6]) + (lane[3] + lane[7]));
}

INLINE void gemm_float(slm_type type, const slm_gemm_args *g, int64_t r0, int64_t r1, int64_t t0, int64_t t1) {
    for (int64_t r = r0; r < r1; r++)
        for (int64_t t = t0; t < t1; t++)
            g->y[t * g->y_stride + r] = dot_float(type, g->w + (uint64_t)r * g->w_stride,
                                                  (const float *)(const void *)((const uint8_t *)g->a + (uint64_t)t * g->a_stride), g->n);
}

static void gemm_f32(const slm_gemm_args *g, int64_t r0, int64_t r1, int64_t t0, int64_t t1) {
    gemm_float(SLM_TYPE_F32, g, r0, r1, t0, t1);
}
static void gemm_f16(const slm_gemm_args *g, int64_t r0, int64_t r1, int64_t t0, int64_t t1) {
    gemm_float(SLM_TYPE_F16, g, r0, r1, t0, t1);
}
static void gemm_bf16(const slm_gemm_args *g, int64_t r0, int64_t r1, int64_t t0, int64_t t1) {
    gemm_float(SLM_TYPE_BF16, g, r0, r1, t0, t1);
}

/* ---- activation conversion ------------------------------------------------------- */

/* The reference's block of 32: d = amax/127, q = round-to-nearest-even(x * 127/amax). */
static int quantize_32(const float *x, float *d_out, int8_t *q) {
    float32x4_t v[8];
    float32x4_t m = vdupq_n_f32(0.0f);
    for (int k = 0; k < 8; k++) {
        v[k] = vld1q_f32(x + 4 * k);
        m = vmaxq_f32(m, vabsq_f32(v[k]));
    }
    float amax = vmaxvq_f32(m);
    float32x4_t id = vdupq_n_f32(amax != 0.0f ? 127.0f / amax : 0.0f);
    *d_out = amax / 127.0f;
    int32x4_t sum = vdupq_n_s32(0);
    for (int k = 0; k < 8; k += 2) {
        int32x4_t a = vcvtnq_s32_f32(vmulq_f32(v[k], id)), b = vcvtnq_s32_f32(vmulq_f32(v[k + 1], id));
        sum = vaddq_s32(sum, vaddq_s32(a, b));
        int16x8_t h = vcombine_s16(vqmovn_s32(a), vqmovn_s32(b));
        vst1_s8(q + 4 * k, vqmovn_s16(h));
    }
    return vaddvq_s32(sum);
}

static void write_u16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }

static void convert_q8_0(const float *x, void *dst, int64_t n) {
    uint8_t *b = dst;
    for (int64_t i = 0; i < n; i += 32, x += 32, b += 34) {
        float d = 0.0f;
        quantize_32(x, &d, (int8_t *)(b + 2));
        write_u16(b, slm_f32_to_f16(d));
    }
}

static void convert_q8_1(const float *x, void *dst, int64_t n) {
    uint8_t *b = dst;
    for (int64_t i = 0; i < n; i += 32, x += 32, b += 36) {
        float d = 0.0f;
        int sum = quantize_32(x, &d, (int8_t *)(b + 4));
        write_u16(b, slm_f32_to_f16(d));
        write_u16(b + 2, slm_f32_to_f16(d * (float)sum));
    }
}

static void convert_f16(const float *x, void *out, int64_t n) {
    float *dst = out;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(dst + i, vcvt_f32_f16(vcvt_f16_f32(vld1q_f32(x + i))));
    for (; i < n; i++) dst[i] = slm_f16_to_f32(slm_f32_to_f16(x[i]));
}

void slm_kernels_neon(slm_kernels *k) {
    bool dp = (slm_cpu_features() & SLM_CPU_DOTPROD) != 0;
    k->name = dp ? "neon+dotprod" : "neon";
    k->gemm[SLM_TYPE_Q4_0] = dp ? gemm_q4_0_dp : gemm_q4_0;
    k->gemm[SLM_TYPE_Q4_1] = dp ? gemm_q4_1_dp : gemm_q4_1;
    k->gemm[SLM_TYPE_Q5_0] = dp ? gemm_q5_0_dp : gemm_q5_0;
    k->gemm[SLM_TYPE_Q5_1] = dp ? gemm_q5_1_dp : gemm_q5_1;
    k->gemm[SLM_TYPE_Q8_0] = dp ? gemm_q8_0_dp : gemm_q8_0;
    k->gemm[SLM_TYPE_F32] = gemm_f32;
    k->gemm[SLM_TYPE_F16] = gemm_f16;
    k->gemm[SLM_TYPE_BF16] = gemm_bf16;
    k->convert[SLM_TYPE_Q8_0] = convert_q8_0;
    k->convert[SLM_TYPE_Q8_1] = convert_q8_1;
    k->convert[SLM_TYPE_F16] = convert_f16;
    slm_kernels_neon_kquants(k);
}

#endif /* __aarch64__ */
