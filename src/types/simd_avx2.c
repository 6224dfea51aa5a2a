/* simd_avx2.c - x86-64 kernels with AVX2, FMA and F16C (this file alone is
 * compiled with -mavx2 -mfma -mf16c; gemm.c calls in only when cpuid says
 * the processor has them).
 *
 * Every kernel reproduces the scalar reference of dot.c / quantize_act.c
 * bit for bit, so that the choice of kernels never changes a result:
 *
 *   - Quantized weights: the integer dot product of a block is exact, in any
 *     order.  Each (row, token) pair gets its 8 int32 partial sums from
 *     maddubs/madd; a horizontal-add tree turns the partials of 8 pairs into
 *     one vector holding 8 block sums, and then lane p follows the scalar
 *     float steps of pair p: sum += (d_w * d_a) * (float)isum.
 *   - Float weights: 8 lanes, element i in lane i % 8, one FMA per element
 *     (the reference calls fmaf there, which rounds the same way), then the
 *     reference's pairwise sum.  Nothing else is fused: the build uses
 *     -ffp-contract=off.
 *
 * Tiles: a tile is R weight rows x T tokens (R*T <= 12 pairs).  Float
 * generation (one token) uses 8 x 1, prompts 4 x 2 or 3 x 4, so the weights
 * are read once per tile, not once per token.  Q8_0 and Q6_K generation
 * (and Q4_K, Q5_K, IQ4_XS in the other AVX2 files) walk one row at a time
 * instead, as one prefetched stream (row_q8_0, row_q6_K), with 8 of the
 * row's blocks in the lanes.  The other blocks of 32 turn 8 rows into the 8
 * lanes (tile_x8_*, below), for prompts and for generation.  The tile shape
 * changes which lanes hold which pair, never the operations of a pair. */
#include "types/gemm.h"

#if defined(__x86_64__)

#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "types/dot.h"
#include "types/kquants.h"
#include "types/simd_avx2.h"
#include "types/types.h"

/* ---- small helpers ---------------------------------------------------------- */

/* ---- quantized weights in blocks of 32 (Q8_0 / Q8_1 activations) ------------- */

/* Expands 32 bits into 32 bytes: 0xff where the bit is set. */
INLINE __m256i bits_to_bytes(uint32_t bits) {
    const __m256i shuf = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2,
                                          3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), shuf);
    return _mm256_cmpeq_epi8(_mm256_or_si256(v, bit), _mm256_set1_epi64x(-1));
}

/* 16 bytes of nibbles -> 32 bytes: elements 0..15 the low nibbles, 16..31 the high. */
INLINE __m256i nibbles_to_bytes(const uint8_t *qs) {
    __m128i b = _mm_loadu_si128((const __m128i *)(const void *)qs);
    __m128i lo = _mm_and_si128(b, _mm_set1_epi8(0x0f));
    __m128i hi = _mm_and_si128(_mm_srli_epi16(b, 4), _mm_set1_epi8(0x0f));
    return _mm256_set_m128i(hi, lo);
}

typedef struct q32_layout {
    int block_bytes, act_bytes; /* weight block, activation block (Q8_0 34, Q8_1 36) */
    bool has_min;               /* _1 types: x = d q + m, weights unsigned */
    int offset;                 /* Q4_0, Q5_0: stored unsigned, the weight is q - offset */
} q32_layout;

INLINE q32_layout layout_of(slm_type type) {
    switch (type) {
    case SLM_TYPE_Q4_0: return (q32_layout){18, 34, false, 8};
    case SLM_TYPE_Q4_1: return (q32_layout){20, 36, true, 0};
    case SLM_TYPE_Q5_0: return (q32_layout){22, 34, false, 16};
    case SLM_TYPE_Q5_1: return (q32_layout){24, 36, true, 0};
    case SLM_TYPE_IQ4_NL: return (q32_layout){18, 34, false, 0};
    default: return (q32_layout){34, 34, false, 0}; /* Q8_0 */
    }
}

/* Q8_0 and IQ4_NL weights are signed bytes, the others' stored values unsigned. */
INLINE bool signed_q32(slm_type type) { return type == SLM_TYPE_Q8_0 || type == SLM_TYPE_IQ4_NL; }

/* IQ4_NL's 16 codebook values in both 128-bit lanes, for shuffle lookups by nibble. */
INLINE __m256i iq4_nl_book(void) {
    return _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)slm_iq4nl_values));
}

/* The 32 weights of a block as bytes: signed for Q8_0 and IQ4_NL (the
 * codebook values), the stored unsigned values for the others (the _0
 * types' offset is taken off later). */
INLINE __m256i unpack_q32(slm_type type, const uint8_t *b) {
    switch (type) {
    case SLM_TYPE_IQ4_NL: return _mm256_shuffle_epi8(iq4_nl_book(), nibbles_to_bytes(b + 2));
    case SLM_TYPE_Q4_0: return nibbles_to_bytes(b + 2);
    case SLM_TYPE_Q4_1: return nibbles_to_bytes(b + 4);
    case SLM_TYPE_Q5_0: {
        uint32_t qh;
        memcpy(&qh, b + 2, 4);
        __m256i hi = _mm256_and_si256(bits_to_bytes(qh), _mm256_set1_epi8(0x10));
        return _mm256_or_si256(nibbles_to_bytes(b + 6), hi);
    }
    case SLM_TYPE_Q5_1: {
        uint32_t qh;
        memcpy(&qh, b + 4, 4);
        __m256i hi = _mm256_and_si256(bits_to_bytes(qh), _mm256_set1_epi8(0x10));
        return _mm256_or_si256(nibbles_to_bytes(b + 8), hi);
    }
    default: return _mm256_loadu_si256((const __m256i *)(const void *)(b + 2));
    }
}

/* 8 int32 partial sums of (w - offset) . a for 32 bytes each: w signed
 * (Q8_0, through |w| and a's sign flipped with w's), or unsigned, the offset
 * then taken off the pair sums as a_off = offset * (a0 + a1) (no int16 can
 * overflow: |w a0 + w a1| <= 31 * 127 * 2, a_off <= 16 * 254). */
INLINE __m256i dot_bytes(bool w_unsigned, __m256i w, __m256i w_abs, __m256i a, __m256i a_off) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i p16 = w_unsigned ? _mm256_sub_epi16(_mm256_maddubs_epi16(w, a), a_off)
                             : _mm256_maddubs_epi16(w_abs, _mm256_sign_epi8(a, w));
    return _mm256_madd_epi16(p16, ones);
}

/* The 8 int32 of v added up. */
INLINE int32_t hsum_epi32(__m256i v) {
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s4 = _mm_add_epi32(s4, _mm_unpackhi_epi64(s4, s4));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 1));
    return _mm_cvtsi128_si32(s4);
}

/* One (row, token) pair, all blocks, in the reference's steps: the rows
 * past the last whole tile of 8. */
INLINE float pair_q32(slm_type type, const slm_gemm_args *g, int64_t r, int64_t t) {
    const q32_layout L = layout_of(type);
    const int off = L.has_min ? 4 : 2;
    const uint8_t *w = g->w + (uint64_t)r * g->w_stride;
    const uint8_t *a = (const uint8_t *)g->a + (uint64_t)t * g->a_stride;
    float sum = 0.0f;
    for (int64_t ib = 0; ib < g->n / 32; ib++) {
        const uint8_t *wb = w + (uint64_t)ib * L.block_bytes, *ab = a + (uint64_t)ib * L.act_bytes;
        const __m256i wq = unpack_q32(type, wb);
        const __m256i wabs = signed_q32(type) ? _mm256_sign_epi8(wq, wq) : wq;
        const __m256i av = _mm256_loadu_si256((const __m256i *)(const void *)(ab + off));
        const __m256i a_off = L.offset ? _mm256_maddubs_epi16(_mm256_set1_epi8((char)L.offset), av) : _mm256_setzero_si256();
        const int32_t isum = hsum_epi32(dot_bytes(!signed_q32(type), wq, wabs, av, a_off));
        float term = (f16_at(wb) * f16_at(ab)) * (float)isum;
        if (L.has_min) term = term + f16_at(wb + 2) * f16_at(ab + 2);
        sum += term;
    }
    return sum;
}

/* ---- prompt tiles with 8 weight rows in the 8 lanes ---------------------------
 *
 * For several tokens it pays to turn a block of 8 rows on its side once: the
 * 4-byte groups of the rows are transposed so that vector g holds group g of
 * row i in lane i.  A token's group g, broadcast to all lanes, then meets all
 * 8 rows in one maddubs, and a block's integer dot for the 8 rows is a sum of
 * vectors: no horizontal reduction per (row, token) pair.  The float steps
 * per lane are the reference's: sum += (d_w * d_a) * (float)isum. */

/* Group k (bytes 4k..4k+3) of the 16 bytes at p[i] for rows i = 0..7 -> lane i of v[k]. */
INLINE void transpose_8x16(const uint8_t *const p[8], __m256i v[4]) {
    __m256i y0 = _mm256_loadu2_m128i((const __m128i *)(const void *)p[4], (const __m128i *)(const void *)p[0]);
    __m256i y1 = _mm256_loadu2_m128i((const __m128i *)(const void *)p[5], (const __m128i *)(const void *)p[1]);
    __m256i y2 = _mm256_loadu2_m128i((const __m128i *)(const void *)p[6], (const __m128i *)(const void *)p[2]);
    __m256i y3 = _mm256_loadu2_m128i((const __m128i *)(const void *)p[7], (const __m128i *)(const void *)p[3]);
    __m256i t0 = _mm256_unpacklo_epi32(y0, y1), t1 = _mm256_unpackhi_epi32(y0, y1);
    __m256i t2 = _mm256_unpacklo_epi32(y2, y3), t3 = _mm256_unpackhi_epi32(y2, y3);
    v[0] = _mm256_unpacklo_epi64(t0, t2);
    v[1] = _mm256_unpackhi_epi64(t0, t2);
    v[2] = _mm256_unpacklo_epi64(t1, t3);
    v[3] = _mm256_unpackhi_epi64(t1, t3);
}

/* The f16 scales at p[i] + off of 8 rows as floats, lane i. */
INLINE __m256 scales_8(const uint8_t *const p[8], int off) {
    return _mm256_cvtph_ps(_mm_setr_epi16((short)u16_at(p[0] + off), (short)u16_at(p[1] + off), (short)u16_at(p[2] + off),
                                          (short)u16_at(p[3] + off), (short)u16_at(p[4] + off), (short)u16_at(p[5] + off),
                                          (short)u16_at(p[6] + off), (short)u16_at(p[7] + off)));
}

INLINE __m256i bcast_group(const uint8_t *q, int g) {
    uint32_t v;
    memcpy(&v, q + 4 * g, 4);
    return _mm256_set1_epi32((int)v);
}

/* The fifth bits of 8 rows' Q5 blocks (qh[i] of row i in lane i), for
 * element group e (elements 4e..4e+3, bits 4e..4e+3 of qh): 0x10 in the
 * byte of each element whose bit is set.  One shuffle copies byte e / 2 of
 * each lane's qh to its 4 bytes; or-ing all bits but the element's own and
 * comparing with all-ones tests it (bits_to_bytes' trick). */
INLINE __m256i fifth_bits_x8(__m256i qh, int e) {
    const char b = (char)(e / 2);
    const __m256i pick = _mm256_setr_epi8(b, b, b, b, b + 4, b + 4, b + 4, b + 4, b + 8, b + 8, b + 8, b + 8, b + 12,
                                          b + 12, b + 12, b + 12, b, b, b, b, b + 4, b + 4, b + 4, b + 4, b + 8, b + 8,
                                          b + 8, b + 8, b + 12, b + 12, b + 12, b + 12);
    const __m256i others = e % 2 ? _mm256_set1_epi32((int)0x7fbfdfefu) : _mm256_set1_epi32((int)0xf7fbfdfeu);
    __m256i set = _mm256_cmpeq_epi8(_mm256_or_si256(_mm256_shuffle_epi8(qh, pick), others), _mm256_set1_epi8(-1));
    return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
}

/* Q4_0, Q4_1, Q5_0, Q5_1 x Q8_0 / Q8_1, 8 rows x T tokens.  Weights stay
 * unsigned (0..15 or 0..31) for maddubs.  Int16 pair sums: 8 groups of 4-bit
 * weights cannot overflow (8 * 2 * 15 * 127 < 32768), 5-bit ones are widened
 * every 4 groups (4 * 2 * 31 * 127 < 32768).  The offset of Q4_0 (8) and
 * Q5_0 (16) is taken off as off[j * nb + ib] = offset * (sum of token j's
 * block ib); the _1 types add their min term m_w * s_a per block, as the
 * reference does. */
INLINE void tile_x8_q32(slm_type type, const slm_gemm_args *g, int64_t r, int64_t t, int T, const int32_t *off) {
    const q32_layout L = layout_of(type);
    const bool five = type == SLM_TYPE_Q5_0 || type == SLM_TYPE_Q5_1;
    const int qs_at = (L.has_min ? 4 : 2) + (five ? 4 : 0), a_qs = L.has_min ? 4 : 2;
    const __m256i m4 = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi16(1);
    const int64_t nb = g->n / 32;
    const uint8_t *w = g->w + (uint64_t)r * g->w_stride;
    const uint8_t *a = (const uint8_t *)g->a + (uint64_t)t * g->a_stride;
    __m256 acc[8];
    UNROLL for (int j = 0; j < T; j++) acc[j] = _mm256_setzero_ps();
    for (int64_t ib = 0; ib < nb; ib++) {
        prefetch_next_tile(g, w, 8, ib, L.block_bytes); /* few tokens: the weights stream from memory */
        const uint8_t *wb[8], *qs[8];
        UNROLL for (int i = 0; i < 8; i++) {
            wb[i] = w + (uint64_t)i * g->w_stride + (uint64_t)ib * L.block_bytes;
            qs[i] = wb[i] + qs_at;
        }
        __m256i v[4], wq[8];
        transpose_8x16(qs, v);
        UNROLL for (int k = 0; k < 4; k++) {
            wq[k] = _mm256_and_si256(v[k], m4);
            wq[k + 4] = _mm256_and_si256(_mm256_srli_epi16(v[k], 4), m4);
        }
        if (five) {
            const int at = qs_at - 4;
            const __m256i qh = _mm256_setr_epi32((int)u32_at(wb[0] + at), (int)u32_at(wb[1] + at), (int)u32_at(wb[2] + at),
                                                 (int)u32_at(wb[3] + at), (int)u32_at(wb[4] + at), (int)u32_at(wb[5] + at),
                                                 (int)u32_at(wb[6] + at), (int)u32_at(wb[7] + at));
            UNROLL for (int e = 0; e < 8; e++) wq[e] = _mm256_or_si256(wq[e], fifth_bits_x8(qh, e));
        }
        const __m256 dw = scales_8(wb, 0);
        const __m256 mw = L.has_min ? scales_8(wb, 2) : _mm256_setzero_ps();
        UNROLL for (int j = 0; j < T; j++) {
            const uint8_t *ab = a + (uint64_t)j * g->a_stride + (uint64_t)ib * L.act_bytes;
            __m256i isum;
            if (five) {
                __m256i s0 = _mm256_maddubs_epi16(wq[0], bcast_group(ab + a_qs, 0));
                __m256i s1 = _mm256_maddubs_epi16(wq[4], bcast_group(ab + a_qs, 4));
                UNROLL for (int k = 1; k < 4; k++) {
                    s0 = _mm256_add_epi16(s0, _mm256_maddubs_epi16(wq[k], bcast_group(ab + a_qs, k)));
                    s1 = _mm256_add_epi16(s1, _mm256_maddubs_epi16(wq[k + 4], bcast_group(ab + a_qs, k + 4)));
                }
                isum = _mm256_add_epi32(_mm256_madd_epi16(s0, ones), _mm256_madd_epi16(s1, ones));
            } else {
                __m256i s16 = _mm256_maddubs_epi16(wq[0], bcast_group(ab + a_qs, 0));
                UNROLL for (int k = 1; k < 8; k++) s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(wq[k], bcast_group(ab + a_qs, k)));
                isum = _mm256_madd_epi16(s16, ones);
            }
            if (L.offset) isum = _mm256_sub_epi32(isum, _mm256_set1_epi32(off[j * nb + ib]));
            __m256 d = _mm256_mul_ps(dw, _mm256_set1_ps(f16_at(ab)));
            __m256 term = _mm256_mul_ps(d, _mm256_cvtepi32_ps(isum));
            if (L.has_min) term = _mm256_add_ps(term, _mm256_mul_ps(mw, _mm256_set1_ps(f16_at(ab + 2))));
            acc[j] = _mm256_add_ps(acc[j], term);
        }
    }
    UNROLL for (int j = 0; j < T; j++) _mm256_storeu_ps(g->y + (t + j) * g->y_stride + r, acc[j]);
}

/* offset * (sum of the 32 int8 of each Q8_0 block) of tokens [t, t + T), token-major. */
static void block_sums_x8(const slm_gemm_args *g, int offset, int64_t t, int64_t T, int32_t *off) {
    const int64_t nb = g->n / 32;
    for (int64_t j = 0; j < T; j++) {
        const int8_t *q = (const int8_t *)g->a + (uint64_t)(t + j) * g->a_stride + 2;
        for (int64_t ib = 0; ib < nb; ib++, q += 34) {
            int sum = 0;
            for (int e = 0; e < 32; e++) sum += q[e];
            off[j * nb + ib] = offset * sum;
        }
    }
}

/* Tokens per chunk: as many whole tiles of 8 as keep the chunk's activations
 * within 16 KiB (half of a typical L1 data cache) while every 8-row tile
 * passes over them, at least 8 and at most 32 (32 tokens' n / 32 block sums
 * fill the n floats of row_buf). */
static int64_t chunk_tokens(const slm_gemm_args *g) {
    int64_t c = (int64_t)(16384 / g->a_stride) / 8 * 8;
    return c < 8 ? 8 : c > 32 ? 32 : c;
}

/* Q8_0 or IQ4_NL x Q8_0, 8 rows x T tokens: signed x signed through |w| and
 * the token's bytes with w's signs; one madd per group (two groups' int16
 * sums could overflow).  IQ4_NL's nibbles are transposed like Q4_0's and then
 * looked up in its codebook. */
INLINE void tile_x8_signed(slm_type type, const slm_gemm_args *g, int64_t r, int64_t t, int T) {
    const int block_bytes = layout_of(type).block_bytes;
    const __m256i ones = _mm256_set1_epi16(1);
    const uint8_t *w = g->w + (uint64_t)r * g->w_stride;
    const uint8_t *a = (const uint8_t *)g->a + (uint64_t)t * g->a_stride;
    __m256 acc[8];
    UNROLL for (int j = 0; j < T; j++) acc[j] = _mm256_setzero_ps();
    for (int64_t ib = 0; ib < g->n / 32; ib++) {
        prefetch_next_tile(g, w, 8, ib, block_bytes); /* few tokens: the weights stream from memory */
        const uint8_t *wb[8], *lo[8], *hi[8];
        UNROLL for (int i = 0; i < 8; i++) {
            wb[i] = w + (uint64_t)i * g->w_stride + (uint64_t)ib * block_bytes;
            lo[i] = wb[i] + 2;
            hi[i] = wb[i] + 18;
        }
        __m256i wq[8], wabs[8];
        if (type == SLM_TYPE_IQ4_NL) {
            const __m256i book = iq4_nl_book(), m4 = _mm256_set1_epi8(0x0f);
            __m256i v[4];
            transpose_8x16(lo, v);
            UNROLL for (int k = 0; k < 4; k++) {
                wq[k] = _mm256_shuffle_epi8(book, _mm256_and_si256(v[k], m4));
                wq[k + 4] = _mm256_shuffle_epi8(book, _mm256_and_si256(_mm256_srli_epi16(v[k], 4), m4));
            }
        } else {
            transpose_8x16(lo, wq);
            transpose_8x16(hi, wq + 4);
        }
        UNROLL for (int k = 0; k < 8; k++) wabs[k] = _mm256_sign_epi8(wq[k], wq[k]);
        const __m256 dw = scales_8(wb, 0);
        UNROLL for (int j = 0; j < T; j++) {
            const uint8_t *ab = a + (uint64_t)j * g->a_stride + (uint64_t)ib * 34;
            __m256i s32 = _mm256_madd_epi16(_mm256_maddubs_epi16(wabs[0], _mm256_sign_epi8(bcast_group(ab + 2, 0), wq[0])), ones);
            UNROLL for (int k = 1; k < 8; k++)
                s32 = _mm256_add_epi32(s32, _mm256_madd_epi16(_mm256_maddubs_epi16(wabs[k], _mm256_sign_epi8(bcast_group(ab + 2, k), wq[k])), ones));
            __m256 d = _mm256_mul_ps(dw, _mm256_set1_ps(f16_at(ab)));
            acc[j] = _mm256_add_ps(acc[j], _mm256_mul_ps(d, _mm256_cvtepi32_ps(s32)));
        }
    }
    UNROLL for (int j = 0; j < T; j++) _mm256_storeu_ps(g->y + (t + j) * g->y_stride + r, acc[j]);
}

/* The 8-rows-in-lanes tile of a type (off8: Q4_0's or Q5_0's block sums of token t on). */
INLINE void tile_x8(slm_type type, const slm_gemm_args *g, int64_t r, int64_t t, int T, const int32_t *off8) {
    if (signed_q32(type)) tile_x8_signed(type, g, r, t, T);
    else tile_x8_q32(type, g, r, t, T, off8);
}

/* The integer dot of one Q8_0 block with one Q8_0 activation block, as 8 int32 partials. */
INLINE __m256i dot_q8_0_block(const uint8_t *w, const uint8_t *a) {
    const __m256i wq = _mm256_loadu_si256((const __m256i *)(const void *)(w + 2));
    const __m256i av = _mm256_loadu_si256((const __m256i *)(const void *)(a + 2));
    return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(wq, wq), _mm256_sign_epi8(av, wq)),
                             _mm256_set1_epi16(1));
}

/* One token, one Q8_0 row, as row_q6_K below: groups of 8 blocks in the
 * lanes, the float steps in block order, the row read as one prefetched
 * stream.  da: the token's block scales as floats.  Two threads streaming
 * a Q8_0 matrix (65536 x 2048): 17.5-20.0 GB/s against 15.6-16.0 for the
 * 8-row tiles used before and 14.8-16.2 for llama.cpp's row kernel in the
 * same runs; one thread in cache 21 against 30 GB/s for the tiles, which
 * is still twice what each thread needs. */
INLINE float row_q8_0(const uint8_t *w, const uint8_t *a, const float *da, int64_t nb) {
    float sum = 0.0f;
    int64_t b0 = 0;
    for (; b0 + 8 <= nb; b0 += 8) {
        const uint8_t *wb[8];
        __m256i h[4];
        float term[8];
        UNROLL for (int q = 0; q < 4; q++) {
            __m256i v[2];
            UNROLL for (int k = 0; k < 2; k++) {
                const int64_t b = b0 + 2 * q + k;
                wb[2 * q + k] = w + (uint64_t)b * 34;
                prefetch_stream(wb[2 * q + k], 34);
                v[k] = dot_q8_0_block(wb[2 * q + k], a + (uint64_t)b * 34);
            }
            h[q] = _mm256_hadd_epi32(v[0], v[1]);
        }
        const __m256 d = _mm256_mul_ps(scales_8(wb, 0), _mm256_loadu_ps(da + b0));
        _mm256_storeu_ps(term, _mm256_mul_ps(d, _mm256_cvtepi32_ps(sum_lanes_8_folded(h))));
        UNROLL for (int k = 0; k < 8; k++) sum += term[k];
    }
    for (; b0 < nb; b0++) {
        const int32_t isum = hsum_epi32(dot_q8_0_block(w + (uint64_t)b0 * 34, a + (uint64_t)b0 * 34));
        sum += (f16_at(w + (uint64_t)b0 * 34) * da[b0]) * (float)isum;
    }
    return sum;
}

/* The blocks of 32 (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL) for rows [r0, r1)
 * x tokens [t0, t1): tokens in chunks (chunk_tokens), the _0 types' block
 * sums of a chunk in row_buf, 8 rows x 8, 4 or 1 tokens per tile; the rows
 * that do not fill a tile of 8 take pair_q32.  One Q8_0 token walks row by
 * row (row_q8_0; row_buf holds the token's block scales): for it the
 * transposed tile is slower (single thread, in cache, 21 against 26 GMAC/s
 * for 8 x 1 pair tiles, which row_q8_0 outruns when the weights stream from
 * memory); for the 4- and 5-bit
 * types it is faster (Q4_0 31 against 21, Q5_0 16 against 12; streaming from
 * memory 24 against 19 and 17 against 13) and for IQ4_NL as fast as the
 * 8 x 1 pair tiles (17 against 15).  For prompts the transposed tiles
 * gave 1.7-1.9x the 4 x 4 pair tiles on Q4_1, Q5_0 and Q5_1, 1.5x on IQ4_NL. */
INLINE void gemm_x8(slm_type type, const slm_gemm_args *g, int64_t r0, int64_t r1, int64_t t0, int64_t t1) {
    int64_t r = r0;
    if (t1 - t0 == 1 && type == SLM_TYPE_Q8_0) {
        const int64_t nb = g->n / 32;
        const uint8_t *a = (const uint8_t *)g->a + (uint64_t)t0 * g->a_stride;
        for (int64_t b = 0; b < nb; b++) g->row_buf[b] = f16_at(a + (uint64_t)b * 34);
        for (; r < r1; r++) g->y[t0 * g->y_stride + r] = row_q8_0(g->w + (uint64_t)r * g->w_stride, a, g->row_buf, nb);
        return;
    }
    const int64_t chunk = chunk_tokens(g), nb = g->n / 32;
    int32_t *off8 = (int32_t *)(void *)g->row_buf;
    for (int64_t tc = t0; tc < t1; tc += chunk) {
        int64_t tn = t1 - tc < chunk ? t1 - tc : chunk;
        if (layout_of(type).offset) block_sums_x8(g, layout_of(type).offset, tc, tn, off8);
        for (r = r0; r + 8 <= r1; r += 8) {
            int64_t j = 0;
            for (; j + 8 <= tn; j += 8) tile_x8(type, g, r, tc + j, 8, off8 + j * nb);
            for (; j + 4 <= tn; j += 4) tile_x8(type, g, r, tc + j, 4, off8 + j * nb);
            for (; j < tn; j++) tile_x8(type, g, r, tc + j, 1, off8 + j * nb);
        }
        for (; r < r1; r++)
            for (int64_t t = tc; t < tc + tn; t++) g->y[t * g->y_stride + r] = pair_q32(type, g, r, t);
    }
}

/* ---- Q6_K weights (Q8_K activations) ------------------------------------------ */


/* Integer dot of one Q6_K block with one Q8_K block, as 8 int32 partials:
 * sum over 16 groups of scale * sum((q - 32) * a), the -32 taken out through
 * the activation's group sums (bsums). */
INLINE __m256i dot_q6_K_block(const uint8_t *x, const uint8_t *y) {
    const __m256i m4 = _mm256_set1_epi8(0x0f), m30 = _mm256_set1_epi8(0x30);
    const int8_t *sc = (const int8_t *)(x + 192);
    const int8_t *q8 = (const int8_t *)(y + 4);
    /* the 16 scales as int16; a half's 8 of them in both 128-bit lanes, from
     * which one shuffle per 32 elements spreads scale s (low lane) and s + 1
     * (high lane) over all int16 of their lane */
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)sc));
    __m256i sum = _mm256_setzero_si256();
    for (int half = 0; half < 2; half++) {
        const uint8_t *ql = x + 64 * half, *qhp = x + 128 + 32 * half;
        const __m256i sc_half = half ? _mm256_permute4x64_epi64(sc16, 0xee) : _mm256_permute4x64_epi64(sc16, 0x44);
        __m256i l0 = _mm256_loadu_si256((const __m256i *)(const void *)ql);
        __m256i l1 = _mm256_loadu_si256((const __m256i *)(const void *)(ql + 32));
        __m256i qh = _mm256_loadu_si256((const __m256i *)(const void *)qhp);
        UNROLL for (int k = 0; k < 4; k++) {
            /* low 4 bits: l0, l1, then their high nibbles; bits 2k, 2k+1 of
             * qh moved to bits 4, 5 by one 16-bit shift, the mask dropping
             * what crossed over from the neighbouring byte.  Built here, not
             * ahead for all k: fewer live registers. */
            __m256i l = k & 1 ? l1 : l0;
            __m256i lo = _mm256_and_si256(k >= 2 ? _mm256_srli_epi16(l, 4) : l, m4);
            __m256i hs = k == 0 ? _mm256_slli_epi16(qh, 4) : k == 1 ? _mm256_slli_epi16(qh, 2) : k == 2 ? qh : _mm256_srli_epi16(qh, 2);
            __m256i q = _mm256_or_si256(lo, _mm256_and_si256(hs, m30));
            __m256i av = _mm256_loadu_si256((const __m256i *)(const void *)(q8 + 128 * half + 32 * k));
            const char b = (char)(4 * k);
            const __m256i pick = _mm256_setr_epi8(b, b + 1, b, b + 1, b, b + 1, b, b + 1, b, b + 1, b, b + 1, b, b + 1,
                                                  b, b + 1, b + 2, b + 3, b + 2, b + 3, b + 2, b + 3, b + 2, b + 3,
                                                  b + 2, b + 3, b + 2, b + 3, b + 2, b + 3, b + 2, b + 3);
            __m256i scv = _mm256_shuffle_epi8(sc_half, pick);
            sum = _mm256_add_epi32(sum, _mm256_madd_epi16(_mm256_maddubs_epi16(q, av), scv));
        }
    }
    __m256i bsums = _mm256_loadu_si256((const __m256i *)(const void *)(y + 260));
    __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(sc16, bsums), 5);
    return _mm256_sub_epi32(sum, corr);
}

INLINE void tile_q6_K(const slm_gemm_args *g, int64_t r, int64_t t, int R, int T) {
    const uint8_t *w = g->w + (uint64_t)r * g->w_stride;
    const uint8_t *a = (const uint8_t *)g->a + (uint64_t)t * g->a_stride;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t ib = 0; ib < g->n / 256; ib++) {
        const uint8_t *xb[8];
        float dw[8] = {0}, da[8] = {0};
        UNROLL for (int i = 0; i < R; i++) xb[i] = w + (uint64_t)i * g->w_stride + (uint64_t)ib * 210;
        /* pairs two by two, each two folded at once (sum_lanes_8's first
         * step), so that only four partial vectors stay live, not eight:
         * with eight the block arithmetic ran out of registers */
        __m256i h[4];
        UNROLL for (int q = 0; q < 4; q++) {
            __m256i v[2];
            UNROLL for (int k = 0; k < 2; k++) {
                int p = 2 * q + k;
                v[k] = p < R * T ? dot_q6_K_block(xb[p / T], a + (uint64_t)(p % T) * g->a_stride + (uint64_t)ib * 292)
                                 : _mm256_setzero_si256();
            }
            h[q] = _mm256_hadd_epi32(v[0], v[1]);
        }
        UNROLL for (int i = 0; i < R; i++) UNROLL for (int j = 0; j < T; j++) {
            dw[i * T + j] = f16_at(xb[i] + 208);
            memcpy(&da[i * T + j], a + (uint64_t)j * g->a_stride + (uint64_t)ib * 292, 4);
        }
        const __m256 d = _mm256_mul_ps(_mm256_loadu_ps(dw), _mm256_loadu_ps(da));
        acc = _mm256_add_ps(acc, _mm256_mul_ps(d, _mm256_cvtepi32_ps(sum_lanes_8_folded(h))));
    }
    store_pairs(&acc, R, T, g, r, t);
}

/* One token, one row: the row's blocks in groups of 8, whose 8 integer dots
 * fold into one vector (sum_lanes_8_folded); the float steps then run in
 * block order, as the reference's.  A row at a time reads the weights as one
 * sequential stream, prefetched STREAM_AHEAD bytes ahead.  Two threads
 * streaming a 210 MB matrix (128256 x 2048) read 13.5-13.9 GB/s with 8-row
 * tiles (tile_q6_K) and 14.5-15.4 GB/s this way; generation on llama3.2-1b
 * Q6_K went from 10.4-13.4 to 13.9-14.8 t/s.  The stream prefetch then
 * took a 131072 x 2048 matrix from 13.6-16.8 to 18.3-20.5 GB/s
 * (simd_avx2.h). */
INLINE float row_q6_K(const slm_gemm_args *g, int64_t r, int64_t t) {
    const uint8_t *w = g->w + (uint64_t)r * g->w_stride;
    const uint8_t *a = (const uint8_t *)g->a + (uint64_t)t * g->a_stride;
    const int64_t nb = g->n / 256;
    float sum = 0.0f;
    for (int64_t b0 = 0; b0 < nb; b0 += 8) {
        const int64_t nk = nb - b0 < 8 ? nb - b0 : 8;
        float dw[8] = {0}, da[8] = {0}, term[8];
        __m256i h[4];
        UNROLL for (int q = 0; q < 4; q++) {
            __m256i v[2];
            UNROLL for (int k = 0; k < 2; k++) {
                const int64_t b = b0 + 2 * q + k;
                if (2 * q + k < nk) {
                    prefetch_stream(w + (uint64_t)b * 210, 210);
                    v[k] = dot_q6_K_block(w + (uint64_t)b * 210, a + (uint64_t)b * 292);
                } else {
                    v[k] = _mm256_setzero_si256();
                }
            }
            h[q] = _mm256_hadd_epi32(v[0], v[1]);
        }
        for (int64_t k = 0; k < nk; k++) {
            dw[k] = f16_at(w + (uint64_t)(b0 + k) * 210 + 208);
            memcpy(&da[k], a + (uint64_t)(b0 + k) * 292, 4);
        }
        const __m256 d = _mm256_mul_ps(_mm256_loadu_ps(dw), _mm256_loadu_ps(da));
        _mm256_storeu_ps(term, _mm256_mul_ps(d, _mm256_cvtepi32_ps(sum_lanes_8_folded(h))));
        for (int64_t k = 0; k < nk; k++) sum += term[k];
    }
    return sum;
}

DEFINE_GEMM(gemm_q6_K_tiles, tile_q6_K, 4, 2)

DEFINE_GEMM_ROW_WALK(gemm_q6_K, gemm_q6_K_tiles, row_q6_K)

/* ---- float weights (F32, F16, BF16) with float activations -------------------- */

INLINE __m256 load_w8(slm_type type, const uint8_t *row, int64_t i) {
    switch (type) {
    case SLM_TYPE_F16: return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(row + 2 * i)));
    case SLM_TYPE_BF16: {
        __m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)(row + 2 * i)));
        return _mm256_castsi256_ps(_mm256_slli_epi32(h, 16));
    }
    default: return _mm256_loadu_ps((const float *)(const void *)row + i);
    }
}

INLINE float load_w1(slm_type type, const uint8_t *row, int64_t i) {
    switch (type) {
    case SLM_TYPE_F16: return _cvtsh_ss(u16_at(row + 2 * i));
    case SLM_TYPE_BF16: {
        uint32_t u = (uint32_t)u16_at(row + 2 * i) << 16;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    default: {
        float f;
        memcpy(&f, row + 4 * i, 4);
        return f;
    }
    }
}

/* The tail (n % 8 elements, element i to lane i % 8) and slm_dot_f32's final sum. */
INLINE float finish_f32(__m256 acc, slm_type type, const uint8_t *row, const float *x, int64_t i, int64_t n) {
    float lane[8];
    _mm256_storeu_ps(lane, acc);
    for (int k = 0; i < n; i++, k++) lane[k] = fmaf(load_w1(type, row, i), x[i], lane[k]);
    return ((lane[0] + lane[4]) + (lane[1] + lane[5])) + ((lane[2] + lane[6]) + (lane[3] + lane[7]));
}

INLINE void tile_float(slm_type type, const slm_gemm_args *g, int64_t r, int64_t t, int R, int T) {
    const uint8_t *w[8];
    const float *x[8];
    __m256 acc[12];
    UNROLL for (int i = 0; i < R; i++) w[i] = g->w + (uint64_t)(r + i) * g->w_stride;
    UNROLL for (int j = 0; j < T; j++)
        x[j] = (const float *)(const void *)((const uint8_t *)g->a + (uint64_t)(t + j) * g->a_stride);
    UNROLL for (int p = 0; p < R * T; p++) acc[p] = _mm256_setzero_ps();
    int64_t i0 = 0;
    for (; i0 + 8 <= g->n; i0 += 8) {
        __m256 wv[8];
        UNROLL for (int i = 0; i < R; i++) wv[i] = load_w8(type, w[i], i0);
        UNROLL for (int j = 0; j < T; j++) {
            __m256 xv = _mm256_loadu_ps(x[j] + i0);
            UNROLL for (int i = 0; i < R; i++) acc[i * T + j] = _mm256_fmadd_ps(wv[i], xv, acc[i * T + j]);
        }
    }
    UNROLL for (int i = 0; i < R; i++) UNROLL for (int j = 0; j < T; j++)
        g->y[(t + j) * g->y_stride + r + i] = finish_f32(acc[i * T + j], type, w[i], x[j], i0, g->n);
}

/* ---- tiling ------------------------------------------------------------------- */

#define F32_TILE(g, r, t, R, T) tile_float(SLM_TYPE_F32, g, r, t, R, T)
#define F16_TILE(g, r, t, R, T) tile_float(SLM_TYPE_F16, g, r, t, R, T)
#define BF16_TILE(g, r, t, R, T) tile_float(SLM_TYPE_BF16, g, r, t, R, T)

/* The blocks of 32: one gemm_x8 walker, one entry per type. */
#define DEFINE_GEMM_X8(NAME, TYPE)                                                             \
    static void NAME(const slm_gemm_args *g, int64_t r0, int64_t r1, int64_t t0, int64_t t1) { \
        gemm_x8(TYPE, g, r0, r1, t0, t1);                                                      \
    }
DEFINE_GEMM_X8(gemm_q4_0, SLM_TYPE_Q4_0)
DEFINE_GEMM_X8(gemm_q4_1, SLM_TYPE_Q4_1)
DEFINE_GEMM_X8(gemm_q5_0, SLM_TYPE_Q5_0)
DEFINE_GEMM_X8(gemm_q5_1, SLM_TYPE_Q5_1)
DEFINE_GEMM_X8(gemm_q8_0, SLM_TYPE_Q8_0)
DEFINE_GEMM_X8(gemm_iq4_nl, SLM_TYPE_IQ4_NL)

/* Prompt tiles for the others: 4 x 2 for Q6_K, 3 x 4 for the float types
 * (12 accumulators, 3 weight vectors and one token vector fill the 16
 * registers; with FMA 38 against 29 GMAC/s for 4 x 2 on F16; 4 x 3 spills). */
DEFINE_GEMM(gemm_f32, F32_TILE, 3, 4)
DEFINE_GEMM(gemm_f16, F16_TILE, 3, 4)
DEFINE_GEMM(gemm_bf16, BF16_TILE, 3, 4)

/* ---- activation conversion ---------------------------------------------------- */

/* One block of 32: the reference's d = amax/127, q = round_even(x * 127/amax);
 * returns sum q.  max and the per-element steps are the same operations. */
static int quantize_32(const float *x, float *d_out, int8_t *q) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 v[4], m = _mm256_setzero_ps();
    for (int k = 0; k < 4; k++) {
        v[k] = _mm256_loadu_ps(x + 8 * k);
        m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[k]));
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    float amax = _mm_cvtss_f32(m4);
    __m256 id = _mm256_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
    *d_out = amax / 127.0f;
    __m256i i32[4];
    for (int k = 0; k < 4; k++)
        i32[k] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[k], id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    /* packs works per 128-bit lane: put the 4-byte groups back in order */
    __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(i32[0], i32[1]), _mm256_packs_epi32(i32[2], i32[3]));
    b = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)(void *)q, b);
    __m256i s = _mm256_add_epi32(_mm256_add_epi32(i32[0], i32[1]), _mm256_add_epi32(i32[2], i32[3]));
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
    return _mm_cvtsi128_si32(s4);
}

static uint16_t to_f16(float f) { return _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT); }

static void convert_q8_0(const float *x, void *dst, int64_t n) {
    uint8_t *b = dst;
    for (int64_t i = 0; i < n; i += 32, x += 32, b += 34) {
        float d = 0.0f;
        quantize_32(x, &d, (int8_t *)(b + 2));
        uint16_t h = to_f16(d);
        memcpy(b, &h, 2);
    }
}

static void convert_q8_1(const float *x, void *dst, int64_t n) {
    uint8_t *b = dst;
    for (int64_t i = 0; i < n; i += 32, x += 32, b += 36) {
        float d = 0.0f;
        int sum = quantize_32(x, &d, (int8_t *)(b + 4));
        uint16_t h[2] = {to_f16(d), to_f16(d * (float)sum)}; /* s with the unrounded d */
        memcpy(b, h, 4);
    }
}

static void convert_f16(const float *x, void *out, int64_t n) {
    float *dst = out;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT)));
    for (; i < n; i++) dst[i] = _cvtsh_ss(_cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT));
}

void slm_kernels_avx2(slm_kernels *k) {
    k->name = "avx2";
    k->gemm[SLM_TYPE_Q4_0] = gemm_q4_0;
    k->gemm[SLM_TYPE_Q4_1] = gemm_q4_1;
    k->gemm[SLM_TYPE_Q5_0] = gemm_q5_0;
    k->gemm[SLM_TYPE_Q5_1] = gemm_q5_1;
    k->gemm[SLM_TYPE_Q8_0] = gemm_q8_0;
    k->gemm[SLM_TYPE_Q6_K] = gemm_q6_K;
    k->gemm[SLM_TYPE_F32] = gemm_f32;
    k->gemm[SLM_TYPE_F16] = gemm_f16;
    k->gemm[SLM_TYPE_BF16] = gemm_bf16;
    k->convert[SLM_TYPE_Q8_0] = convert_q8_0;
    k->convert[SLM_TYPE_Q8_1] = convert_q8_1;
    k->convert[SLM_TYPE_F16] = convert_f16;
    slm_kernels_avx2_q45k(k);
    slm_kernels_avx2_q23k_iq4(k);
    k->gemm[SLM_TYPE_IQ4_NL] = gemm_iq4_nl;
}

#endif /* __x86_64__ */
