/* simd_neon_kquants.c - aarch64 kernels for the K-quants (Q2_K..Q6_K) and
 * IQ4_XS with Q8_K activations, IQ4_NL with Q8_0 activations, and the Q8_K
 * activation converter.  Each gemm comes twice: plain NEON (int8 products
 * widened through int16) and SDOT, chosen at run time as in simd_neon.c.
 *
 * Bit-identical to the scalar references (kquants.c, dot.c, quantize_act.c):
 * a weight block is unpacked into 256 signed bytes and its sub-block scales
 * (and mins); the integer sums of a block (sum over groups of scale * group
 * dot, and the mins against the activation's bsums) are exact whatever the
 * order; the float steps of each (row, token) pair are the reference's own,
 * done in scalar floats (see add_block; no FMA: -ffp-contract=off).
 *
 * Tiles: R weight rows x T tokens.  Each weight block of a tile is unpacked
 * once and used for its T tokens; one token (generation) walks 8 rows at a
 * time and prefetches the next 8 rows' blocks, prompts use 4 x 4. */
#include "types/gemm.h"

#if defined(__aarch64__)

#include <arm_neon.h>
#include <math.h>
#include <string.h>

#include "runtime/cpu.h"
#include "types/kquants.h"

#define INLINE static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")
#define DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))

#define QK 256         /* elements per K-quant / Q8_K block */
#define Q8K_BYTES 292  /* f32 d, i8 q[256], i16 bsums[16] */
#define Q8K_BSUMS 260
#define Q8_0_BYTES 34  /* f16 d, i8 q[32] */
#define IQ4_NL_BYTES 18
#define GEN_ROWS 8
#define PROMPT_ROWS 4
#define PROMPT_TOKENS 4
#define MAX_PAIRS 16 /* GEN_ROWS x 1 and PROMPT_ROWS x PROMPT_TOKENS */

/* fp16 to float is exact, so the hardware conversion gives the reference's value. */
static inline float f16_at(const uint8_t *p) {
    __fp16 h;
    memcpy(&h, p, sizeof h);
    return (float)h;
}

static inline float f32_at(const uint8_t *p) {
    float f;
    memcpy(&f, p, sizeof f);
    return f;
}

static inline uint32_t u32_at(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

INLINE int8x16_t s8(uint8x16_t v) { return vreinterpretq_s8_u8(v); }

/* ---- integer dot of 16 weights with 16 activations, as 4 int32 partials ---------- */

typedef int32x4_t (*dot16_fn)(int32x4_t acc, int8x16_t w, int8x16_t a);

/* Without SDOT: int16 products, two per lane (|w|, |a| <= 127 for every weight
 * type here and |a| <= 127 for Q8_K/Q8_0, so a pair stays below 2^15), widened. */
INLINE int32x4_t dot16_mull(int32x4_t acc, int8x16_t w, int8x16_t a) {
    int16x8_t p = vmull_s8(vget_low_s8(w), vget_low_s8(a));
    p = vmlal_s8(p, vget_high_s8(w), vget_high_s8(a));
    return vpadalq_s16(acc, p);
}

/* Only ever reached through the DOTPROD kernels below (inlined there). */
DOTPROD INLINE int32x4_t dot16_sdot(int32x4_t acc, int8x16_t w, int8x16_t a) { return vdotq_s32(acc, w, a); }

/* ---- an unpacked 256-weight block ------------------------------------------------- */

typedef struct kblock {
    int8x16_t q[16];  /* the weights, signed, offsets removed, 16 per vector in element order */
    int32x4_t sc[4];  /* scales: lane k of sc[v] scales group 4v + k (groups of 16), or
                         sub-block 4v + k (groups of 32: sc[0], sc[1] only) */
    int16x8_t m[2];   /* Q2_K/Q4_K/Q5_K: the min of each group of 16 */
    float d, dmin;
} kblock;

INLINE void widen_scales16(int8x16_t s, int32x4_t sc[4]) {
    int16x8_t lo = vmovl_s8(vget_low_s8(s)), hi = vmovl_high_s8(s);
    sc[0] = vmovl_s16(vget_low_s16(lo));
    sc[1] = vmovl_high_s16(lo);
    sc[2] = vmovl_s16(vget_low_s16(hi));
    sc[3] = vmovl_high_s16(hi);
}

/* Q2_K: element 128h + 32k + l is bits 2k..2k+1 of qs[32h + l], group 8h + 2k + l/16. */
INLINE void unpack_q2_K(const uint8_t *x, kblock *kb) {
    const uint8x16_t m3 = vdupq_n_u8(3);
    UNROLL for (int h = 0; h < 2; h++) UNROLL for (int half = 0; half < 2; half++) {
        uint8x16_t b = vld1q_u8(x + 16 + 32 * h + 16 * half);
        int8x16_t *q = kb->q + 8 * h + half;
        q[0] = s8(vandq_u8(b, m3));
        q[2] = s8(vandq_u8(vshrq_n_u8(b, 2), m3));
        q[4] = s8(vandq_u8(vshrq_n_u8(b, 4), m3));
        q[6] = s8(vshrq_n_u8(b, 6));
    }
    uint8x16_t s = vld1q_u8(x);
    widen_scales16(s8(vandq_u8(s, vdupq_n_u8(0x0f))), kb->sc);
    uint8x16_t mins = vshrq_n_u8(s, 4);
    kb->m[0] = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(mins)));
    kb->m[1] = vreinterpretq_s16_u16(vmovl_high_u8(mins));
    kb->d = f16_at(x + 80);
    kb->dmin = f16_at(x + 82);
}

/* Q3_K: Q2_K's planes minus 4 where the hmask bit 4h + k of hmask[l] is clear;
 * 16 scales of 6 bits (low nibbles in scales[0..7], high bit pairs in
 * scales[8..11]), offset 32. */
INLINE void unpack_q3_K(const uint8_t *x, kblock *kb) {
    const uint8x16_t m3 = vdupq_n_u8(3), four = vdupq_n_u8(4);
    UNROLL for (int h = 0; h < 2; h++) UNROLL for (int half = 0; half < 2; half++) {
        uint8x16_t b = vld1q_u8(x + 32 + 32 * h + 16 * half), hm = vld1q_u8(x + 16 * half);
        uint8x16_t lo[4] = {vandq_u8(b, m3), vandq_u8(vshrq_n_u8(b, 2), m3), vandq_u8(vshrq_n_u8(b, 4), m3),
                            vshrq_n_u8(b, 6)};
        UNROLL for (int k = 0; k < 4; k++) {
            uint8x16_t set = vtstq_u8(hm, vdupq_n_u8((uint8_t)(1u << (4 * h + k))));
            kb->q[8 * h + 2 * k + half] = vsubq_s8(s8(lo[k]), s8(vbicq_u8(four, set)));
        }
    }
    static const int8_t hi_shift[16] = {0, 0, 0, 0, -2, -2, -2, -2, -4, -4, -4, -4, -6, -6, -6, -6};
    uint8x8_t s07 = vld1_u8(x + 96);
    uint8x16_t lo = vcombine_u8(vand_u8(s07, vdup_n_u8(0x0f)), vshr_n_u8(s07, 4));
    /* byte j of hi = scales[8 + j % 4], shifted right by 2 * (j / 4) */
    uint8x16_t hi = vreinterpretq_u8_u32(vdupq_n_u32(u32_at(x + 104)));
    hi = vandq_u8(vshlq_u8(hi, vld1q_s8(hi_shift)), m3);
    widen_scales16(vsubq_s8(s8(vorrq_u8(lo, vshlq_n_u8(hi, 4))), vdupq_n_s8(32)), kb->sc);
    kb->d = f16_at(x + 108);
}

/* Q4_K/Q5_K scales[12]: 8 scales and 8 mins of 6 bits.  With a, b, c the three
 * little-endian words: scales 0-3 = a & 63, 4-7 = low nibbles of c with a's top
 * bits; mins 0-3 = b & 63, 4-7 = high nibbles of c with b's top bits. */
INLINE void unpack_scales_q45(const uint8_t *s, kblock *kb) {
    uint32_t a = u32_at(s), b = u32_at(s + 4), c = u32_at(s + 8);
    uint32_t sc_lo = a & 0x3f3f3f3fu, sc_hi = (c & 0x0f0f0f0fu) | ((a >> 2) & 0x30303030u);
    uint32_t m_lo = b & 0x3f3f3f3fu, m_hi = ((c >> 4) & 0x0f0f0f0fu) | ((b >> 2) & 0x30303030u);
    uint16x8_t sc = vmovl_u8(vcreate_u8((uint64_t)sc_hi << 32 | sc_lo));
    kb->sc[0] = vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(sc)));
    kb->sc[1] = vreinterpretq_s32_u32(vmovl_high_u16(sc));
    uint8x8_t m = vcreate_u8((uint64_t)m_hi << 32 | m_lo);
    uint8x8x2_t per16 = vzip_u8(m, m); /* each min for both groups of 16 of its sub-block */
    kb->m[0] = vreinterpretq_s16_u16(vmovl_u8(per16.val[0]));
    kb->m[1] = vreinterpretq_s16_u16(vmovl_u8(per16.val[1]));
}

/* Q4_K/Q5_K: element 64j + l is the low nibble of qs[32j + l], 64j + 32 + l the
 * high one; Q5_K's fifth bits are bits 2j, 2j + 1 of qh[l]. */
INLINE void unpack_q45_K(const uint8_t *x, const uint8_t *qh, const uint8_t *qs, kblock *kb) {
    const uint8x16_t m4 = vdupq_n_u8(0x0f), bit5 = vdupq_n_u8(0x10);
    UNROLL for (int j = 0; j < 4; j++) UNROLL for (int half = 0; half < 2; half++) {
        uint8x16_t b = vld1q_u8(qs + 32 * j + 16 * half);
        uint8x16_t lo = vandq_u8(b, m4), hi = vshrq_n_u8(b, 4);
        if (qh) {
            uint8x16_t h = vld1q_u8(qh + 16 * half);
            lo = vorrq_u8(lo, vandq_u8(vtstq_u8(h, vdupq_n_u8((uint8_t)(1u << (2 * j)))), bit5));
            hi = vorrq_u8(hi, vandq_u8(vtstq_u8(h, vdupq_n_u8((uint8_t)(2u << (2 * j)))), bit5));
        }
        kb->q[4 * j + half] = s8(lo);
        kb->q[4 * j + 2 + half] = s8(hi);
    }
    unpack_scales_q45(x + 4, kb);
    kb->d = f16_at(x);
    kb->dmin = f16_at(x + 2);
}

/* Q6_K: element 128h + 32k + l is 4 bits of ql[64h + 32(k % 2) + l] (low nibble
 * for k < 2) and bits 2k..2k+1 of qh[32h + l] above them, minus 32; group
 * 8h + 2k + l/16 with a signed 8-bit scale. */
INLINE void unpack_q6_K(const uint8_t *x, kblock *kb) {
    const uint8x16_t m4 = vdupq_n_u8(0x0f), m30 = vdupq_n_u8(0x30);
    const int8x16_t off = vdupq_n_s8(32);
    UNROLL for (int h = 0; h < 2; h++) UNROLL for (int half = 0; half < 2; half++) {
        const uint8_t *ql = x + 64 * h + 16 * half;
        uint8x16_t l0 = vld1q_u8(ql), l1 = vld1q_u8(ql + 32), hb = vld1q_u8(x + 128 + 32 * h + 16 * half);
        uint8x16_t v[4] = {vorrq_u8(vandq_u8(l0, m4), vandq_u8(vshlq_n_u8(hb, 4), m30)),
                           vorrq_u8(vandq_u8(l1, m4), vandq_u8(vshlq_n_u8(hb, 2), m30)),
                           vorrq_u8(vshrq_n_u8(l0, 4), vandq_u8(hb, m30)),
                           vorrq_u8(vshrq_n_u8(l1, 4), vandq_u8(vshrq_n_u8(hb, 2), m30))};
        UNROLL for (int k = 0; k < 4; k++) kb->q[8 * h + 2 * k + half] = vsubq_s8(s8(v[k]), off);
    }
    widen_scales16(vld1q_s8((const int8_t *)(x + 192)), kb->sc);
    kb->d = f16_at(x + 208);
}

/* IQ4_XS: sub-block ib's 16 bytes hold elements j (low nibble) and j + 16 (high)
 * as codebook indices; 6-bit scales, offset 32 (low nibbles in scales_l, bit
 * pairs in scales_h). */
INLINE void unpack_iq4_xs(const uint8_t *x, kblock *kb) {
    const int8x16_t book = vld1q_s8(slm_iq4nl_values);
    const uint8x16_t m4 = vdupq_n_u8(0x0f);
    UNROLL for (int ib = 0; ib < 8; ib++) {
        uint8x16_t b = vld1q_u8(x + 8 + 16 * ib);
        kb->q[2 * ib] = vqtbl1q_s8(book, vandq_u8(b, m4));
        kb->q[2 * ib + 1] = vqtbl1q_s8(book, vshrq_n_u8(b, 4));
    }
    static const int16_t hi_shift[8] = {0, -2, -4, -6, -8, -10, -12, -14};
    uint8x8_t sl = vcreate_u8(u32_at(x + 4));
    uint8x8_t lo = vzip1_u8(vand_u8(sl, vdup_n_u8(0x0f)), vshr_n_u8(sl, 4));
    uint16x8_t hi16 = vshlq_u16(vdupq_n_u16((uint16_t)(x[2] | x[3] << 8)), vld1q_s16(hi_shift));
    uint8x8_t hi = vand_u8(vmovn_u16(hi16), vdup_n_u8(3));
    int16x8_t sc = vmovl_s8(vsub_s8(vreinterpret_s8_u8(vorr_u8(lo, vshl_n_u8(hi, 4))), vdup_n_s8(32)));
    kb->sc[0] = vmovl_s16(vget_low_s16(sc));
    kb->sc[1] = vmovl_high_s16(sc);
    kb->d = f16_at(x);
}

INLINE void unpack_k(slm_type type, const uint8_t *x, kblock *kb) {
    switch (type) {
    case SLM_TYPE_Q2_K: unpack_q2_K(x, kb); break;
    case SLM_TYPE_Q3_K: unpack_q3_K(x, kb); break;
    case SLM_TYPE_Q4_K: unpack_q45_K(x, NULL, x + 16, kb); break;
    case SLM_TYPE_Q5_K: unpack_q45_K(x, x + 16, x + 48, kb); break;
    case SLM_TYPE_Q6_K: unpack_q6_K(x, kb); break;
    default: unpack_iq4_xs(x, kb); break;
    }
}

INLINE int block_bytes_k(slm_type type) {
    switch (type) {
    case SLM_TYPE_Q2_K: return 84;
    case SLM_TYPE_Q3_K: return 110;
    case SLM_TYPE_Q4_K: return 144;
    case SLM_TYPE_Q5_K: return 176;
    case SLM_TYPE_Q6_K: return 210;
    default: return 136; /* IQ4_XS */
    }
}

INLINE bool scales_per_32(slm_type type) {
    return type == SLM_TYPE_Q4_K || type == SLM_TYPE_Q5_K || type == SLM_TYPE_IQ4_XS;
}

INLINE bool has_min(slm_type type) { return type == SLM_TYPE_Q2_K || type == SLM_TYPE_Q4_K || type == SLM_TYPE_Q5_K; }

/* ---- block sums (exact integers) ------------------------------------------------- */

/* sum over the 16 groups of 16: scale * (weights . activations) */
INLINE int32_t isum_groups16(const kblock *kb, const int8_t *a, dot16_fn dot) {
    const int32x4_t z = vdupq_n_s32(0);
    int32x4_t acc = z;
    UNROLL for (int v = 0; v < 4; v++) {
        int32x4_t p[4];
        UNROLL for (int k = 0; k < 4; k++) p[k] = dot(z, kb->q[4 * v + k], vld1q_s8(a + 64 * v + 16 * k));
        int32x4_t s = vpaddq_s32(vpaddq_s32(p[0], p[1]), vpaddq_s32(p[2], p[3])); /* lane k: group 4v + k */
        acc = vmlaq_s32(acc, s, kb->sc[v]);
    }
    return vaddvq_s32(acc);
}

/* the same over the 8 sub-blocks of 32 */
INLINE int32_t isum_groups32(const kblock *kb, const int8_t *a, dot16_fn dot) {
    const int32x4_t z = vdupq_n_s32(0);
    int32x4_t acc = z;
    UNROLL for (int v = 0; v < 2; v++) {
        int32x4_t p[4];
        UNROLL for (int k = 0; k < 4; k++) {
            int sb = 4 * v + k;
            p[k] = dot(dot(z, kb->q[2 * sb], vld1q_s8(a + 32 * sb)), kb->q[2 * sb + 1], vld1q_s8(a + 32 * sb + 16));
        }
        int32x4_t s = vpaddq_s32(vpaddq_s32(p[0], p[1]), vpaddq_s32(p[2], p[3]));
        acc = vmlaq_s32(acc, s, kb->sc[v]);
    }
    return vaddvq_s32(acc);
}

/* sum over the groups of 16: min * the activation's bsum */
INLINE int32_t isum_mins(const kblock *kb, const uint8_t *y) {
    int16x8_t b0 = vld1q_s16((const int16_t *)(const void *)(y + Q8K_BSUMS));
    int16x8_t b1 = vld1q_s16((const int16_t *)(const void *)(y + Q8K_BSUMS + 16));
    int32x4_t acc = vmull_s16(vget_low_s16(kb->m[0]), vget_low_s16(b0));
    acc = vmlal_high_s16(acc, kb->m[0], b0);
    acc = vmlal_s16(acc, vget_low_s16(kb->m[1]), vget_low_s16(b1));
    acc = vmlal_high_s16(acc, kb->m[1], b1);
    return vaddvq_s32(acc);
}

/* The reference's float steps for one block of one (row, token) pair. */
INLINE float add_block(slm_type type, float sum, const kblock *kb, float dy, int32_t isum, int32_t summs) {
    switch (type) {
    case SLM_TYPE_Q2_K: return sum + ((dy * kb->d) * (float)isum - (dy * kb->dmin) * (float)summs);
    case SLM_TYPE_Q4_K:
    case SLM_TYPE_Q5_K: return sum + ((kb->d * dy) * (float)isum - (kb->dmin * dy) * (float)summs);
    default: return sum + (kb->d * dy) * (float)isum; /* Q3_K, Q6_K, IQ4_XS */
    }
}

/* ---- tiles ------------------------------------------------------------------------- */

typedef void (*tile_fn)(slm_type type, dot16_fn dot, const slm_gemm_args *g, int64_t r, int64_t t, int R, int T);

INLINE void store_tile(const slm_gemm_args *g, int64_t r, int64_t t, int R, int T, const float *sum) {
    for (int i = 0; i < R; i++)
        for (int j = 0; j < T; j++) g->y[(t + j) * g->y_stride + r + i] = sum[i * T + j];
}

/* One token streams each weight row once: ask for the block R rows below
 * (the next tile's) while this one is computed.  Prefetches never fault. */
INLINE void prefetch_block(const uint8_t *p, int bytes) {
    for (int off = 0; off < bytes; off += 64) __builtin_prefetch(p + off);
}

INLINE void tile_k(slm_type type, dot16_fn dot, const slm_gemm_args *g, int64_t r, int64_t t, int R, int T) {
    const int bb = block_bytes_k(type);
    const uint8_t *w = g->w + (uint64_t)r * g->w_stride;
    const uint8_t *a = (const uint8_t *)g->a + (uint64_t)t * g->a_stride;
    float sum[MAX_PAIRS] = {0};
    for (int64_t ib = 0; ib < g->n / QK; ib++) {
        for (int i = 0; i < R; i++) {
            const uint8_t *x = w + (uint64_t)i * g->w_stride + (uint64_t)ib * bb;
            if (T == 1) prefetch_block(x + (uint64_t)R * g->w_stride, bb);
            kblock kb;
            unpack_k(type, x, &kb);
            for (int j = 0; j < T; j++) {
                const uint8_t *y = a + (uint64_t)j * g->a_stride + (uint64_t)ib * Q8K_BYTES;
                const int8_t *q8 = (const int8_t *)(y + 4);
                int32_t isum = scales_per_32(type) ? isum_groups32(&kb, q8, dot) : isum_groups16(&kb, q8, dot);
                int32_t summs = has_min(type) ? isum_mins(&kb, y) : 0;
                sum[i * T + j] = add_block(type, sum[i * T + j], &kb, f32_at(y), isum, summs);
            }
        }
    }
    store_tile(g, r, t, R, T, sum);
}

/* IQ4_NL x Q8_0, blocks of 32: sum += (d_a * d_w) * isum. */
INLINE void tile_iq4_nl(slm_type type, dot16_fn dot, const slm_gemm_args *g, int64_t r, int64_t t, int R, int T) {
    (void)type;
    const int8x16_t book = vld1q_s8(slm_iq4nl_values);
    const int32x4_t z = vdupq_n_s32(0);
    const uint8_t *w = g->w + (uint64_t)r * g->w_stride;
    const uint8_t *a = (const uint8_t *)g->a + (uint64_t)t * g->a_stride;
    float sum[MAX_PAIRS] = {0};
    for (int64_t ib = 0; ib < g->n / 32; ib++) {
        for (int i = 0; i < R; i++) {
            const uint8_t *x = w + (uint64_t)i * g->w_stride + (uint64_t)ib * IQ4_NL_BYTES;
            if (T == 1 && ib % 4 == 0) __builtin_prefetch(x + (uint64_t)R * g->w_stride + 64);
            uint8x16_t b = vld1q_u8(x + 2);
            int8x16_t q0 = vqtbl1q_s8(book, vandq_u8(b, vdupq_n_u8(0x0f))), q1 = vqtbl1q_s8(book, vshrq_n_u8(b, 4));
            float dx = f16_at(x);
            for (int j = 0; j < T; j++) {
                const uint8_t *y = a + (uint64_t)j * g->a_stride + (uint64_t)ib * Q8_0_BYTES;
                const int8_t *q8 = (const int8_t *)(y + 2);
                int32_t isum = vaddvq_s32(dot(dot(z, q0, vld1q_s8(q8)), q1, vld1q_s8(q8 + 16)));
                sum[i * T + j] += (f16_at(y) * dx) * (float)isum;
            }
        }
    }
    store_tile(g, r, t, R, T, sum);
}

/* [r0, r1) x [t0, t1) in tiles: GEN_ROWS x 1 for one token, PROMPT_ROWS x
 * PROMPT_TOKENS for more; edge tiles are smaller (same per-pair arithmetic). */
INLINE void gemm_tiles(tile_fn tile, slm_type type, dot16_fn dot, const slm_gemm_args *g, int64_t r0, int64_t r1,
                       int64_t t0, int64_t t1) {
    const int64_t rows = t1 - t0 == 1 ? GEN_ROWS : PROMPT_ROWS;
    for (int64_t r = r0; r < r1; r += rows) {
        int R = (int)(r1 - r < rows ? r1 - r : rows);
        for (int64_t t = t0; t < t1; t += PROMPT_TOKENS) {
            int T = (int)(t1 - t < PROMPT_TOKENS ? t1 - t : PROMPT_TOKENS);
            tile(type, dot, g, r, t, R, T);
        }
    }
}

#define DEFINE_GEMM(NAME, ATTR, TILE, TYPE, DOT) \
    ATTR static void NAME(const slm_gemm_args *g, int64_t r0, int64_t r1, int64_t t0, int64_t t1) { \
        gemm_tiles(TILE, TYPE, DOT, g, r0, r1, t0, t1); \
    }
#define NO_ATTR
DEFINE_GEMM(gemm_q2_K, NO_ATTR, tile_k, SLM_TYPE_Q2_K, dot16_mull)
DEFINE_GEMM(gemm_q3_K, NO_ATTR, tile_k, SLM_TYPE_Q3_K, dot16_mull)
DEFINE_GEMM(gemm_q4_K, NO_ATTR, tile_k, SLM_TYPE_Q4_K, dot16_mull)
DEFINE_GEMM(gemm_q5_K, NO_ATTR, tile_k, SLM_TYPE_Q5_K, dot16_mull)
DEFINE_GEMM(gemm_q6_K, NO_ATTR, tile_k, SLM_TYPE_Q6_K, dot16_mull)
DEFINE_GEMM(gemm_iq4_xs, NO_ATTR, tile_k, SLM_TYPE_IQ4_XS, dot16_mull)
DEFINE_GEMM(gemm_iq4_nl, NO_ATTR, tile_iq4_nl, SLM_TYPE_IQ4_NL, dot16_mull)
DEFINE_GEMM(gemm_q2_K_dp, DOTPROD, tile_k, SLM_TYPE_Q2_K, dot16_sdot)
DEFINE_GEMM(gemm_q3_K_dp, DOTPROD, tile_k, SLM_TYPE_Q3_K, dot16_sdot)
DEFINE_GEMM(gemm_q4_K_dp, DOTPROD, tile_k, SLM_TYPE_Q4_K, dot16_sdot)
DEFINE_GEMM(gemm_q5_K_dp, DOTPROD, tile_k, SLM_TYPE_Q5_K, dot16_sdot)
DEFINE_GEMM(gemm_q6_K_dp, DOTPROD, tile_k, SLM_TYPE_Q6_K, dot16_sdot)
DEFINE_GEMM(gemm_iq4_xs_dp, DOTPROD, tile_k, SLM_TYPE_IQ4_XS, dot16_sdot)
DEFINE_GEMM(gemm_iq4_nl_dp, DOTPROD, tile_iq4_nl, SLM_TYPE_IQ4_NL, dot16_sdot)

/* ---- Q8_K activations ------------------------------------------------------------ */

/* The first of x[0..255] whose magnitude is amax (the reference's "max"). */
static float first_of_magnitude(const float *x, float amax) {
    const float32x4_t m = vdupq_n_f32(amax);
    for (int j = 0; j < QK; j += 4)
        if (vmaxvq_u32(vceqq_f32(vabsq_f32(vld1q_f32(x + j)), m)))
            for (int k = j; k < j + 4; k++)
                if (fabsf(x[k]) == amax) return x[k];
    return amax;
}

/* The reference's steps: iscale = -127/max, q = min(127, round_even(iscale * x)),
 * d = 1/iscale, bsums of 16.  The max is exact in any order; maxnm skips NaNs
 * as the reference's compare does. */
static void convert_q8_K(const float *x, void *dst, int64_t n) {
    uint8_t *b = dst;
    for (int64_t i = 0; i < n; i += QK, x += QK, b += Q8K_BYTES) {
        float32x4_t m[4] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
        for (int j = 0; j < QK; j += 16)
            UNROLL for (int k = 0; k < 4; k++) m[k] = vmaxnmq_f32(m[k], vabsq_f32(vld1q_f32(x + j + 4 * k)));
        float amax = vmaxnmvq_f32(vmaxnmq_f32(vmaxnmq_f32(m[0], m[1]), vmaxnmq_f32(m[2], m[3]))), d = 0.0f;
        int8_t *q = (int8_t *)(b + 4);
        if (amax != 0.0f) {
            float iscale = -127.0f / first_of_magnitude(x, amax);
            const float32x4_t is = vdupq_n_f32(iscale);
            const int32x4_t top = vdupq_n_s32(127);
            for (int j = 0; j < QK; j += 16) {
                int32x4_t v[4];
                UNROLL for (int k = 0; k < 4; k++) v[k] = vminq_s32(vcvtnq_s32_f32(vmulq_f32(is, vld1q_f32(x + j + 4 * k))), top);
                int16x8_t lo = vcombine_s16(vqmovn_s32(v[0]), vqmovn_s32(v[1]));
                int16x8_t hi = vcombine_s16(vqmovn_s32(v[2]), vqmovn_s32(v[3]));
                vst1q_s8(q + j, vcombine_s8(vqmovn_s16(lo), vqmovn_s16(hi)));
            }
            d = 1.0f / iscale;
        } else {
            memset(q, 0, QK);
        }
        memcpy(b, &d, sizeof d);
        for (int s = 0; s < 16; s++) {
            int16_t v = vaddlvq_s8(vld1q_s8(q + 16 * s));
            memcpy(b + Q8K_BSUMS + 2 * s, &v, sizeof v);
        }
    }
}

void slm_kernels_neon_kquants(slm_kernels *k) {
    bool dp = (slm_cpu_features() & SLM_CPU_DOTPROD) != 0;
    k->gemm[SLM_TYPE_Q2_K] = dp ? gemm_q2_K_dp : gemm_q2_K;
    k->gemm[SLM_TYPE_Q3_K] = dp ? gemm_q3_K_dp : gemm_q3_K;
    k->gemm[SLM_TYPE_Q4_K] = dp ? gemm_q4_K_dp : gemm_q4_K;
    k->gemm[SLM_TYPE_Q5_K] = dp ? gemm_q5_K_dp : gemm_q5_K;
    k->gemm[SLM_TYPE_Q6_K] = dp ? gemm_q6_K_dp : gemm_q6_K;
    k->gemm[SLM_TYPE_IQ4_XS] = dp ? gemm_iq4_xs_dp : gemm_iq4_xs;
    k->gemm[SLM_TYPE_IQ4_NL] = dp ? gemm_iq4_nl_dp : gemm_iq4_nl;
    k->convert[SLM_TYPE_Q8_K] = convert_q8_K;
}

#endif /* __aarch64__ */
