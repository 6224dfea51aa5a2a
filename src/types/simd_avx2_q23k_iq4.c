/* simd_avx2_q23k_iq4.c - AVX2 kernels for Q2_K, Q3_K and IQ4_XS (Q8_K
 * activations); built with the flags of simd_avx2.c and called from its
 * slm_kernels_avx2.  (IQ4_NL, a block of 32 with Q8_0 activations, is one of
 * simd_avx2.c's blocks of 32.)
 *
 * Bit for bit the scalar reference of kquants.c: the integer sum of a block
 * (sub-block scales applied in integer) is exact in any order; its 8 int32
 * partials per (row, token) pair are reduced with those of 7 other pairs, and
 * lane p then takes the reference's float steps for pair p.
 *
 * The IQ4 codebook is signed, so its products go through maddubs as
 * |w| * (a with w's sign); no codebook value is 0 and no activation is -128
 * (Q8_0 and Q8_K round to -127..127), so the sign moves exactly.  The
 * largest int16 pair sum is 2 * 127 * 127 < 32768.
 *
 * Tiles as in simd_avx2.c: 8 rows x 1 token for generation (with a prefetch
 * of the next 8 rows), 4 x 4 for prompts (measured 1.2-1.3x 4 x 2); IQ4_XS
 * generation walks one row at a time instead (row_iq4_xs). */
#include "types/gemm.h"

#if defined(__x86_64__)

#include <immintrin.h>
#include <string.h>

#include "types/kquants.h"
#include "types/simd_avx2.h"




INLINE __m256i load256(const uint8_t *p) { return _mm256_loadu_si256((const __m256i *)(const void *)p); }


/* 8 fp16 values (lanes 0..7) to floats. */
INLINE __m256 f16x8(const uint16_t h[8]) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)h)); }


/* The codebook in both 128-bit lanes, for shuffle_epi8 lookups by nibble. */
INLINE __m256i iq4_codebook(void) {
    return _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)slm_iq4nl_values));
}

/* ---- Q2_K: 2-bit quants, 4-bit scales and mins per 16 ------------------------- */

/* Byte shuffle that spreads scale byte 2m over lane 0 and 2m + 1 over lane 1
 * as int16 (high bytes zero): the scales of the two 16-element halves of a
 * 32-byte group. */
INLINE __m256i pair_scale_mask(int m) {
    const __m256i base = _mm256_setr_epi8(0, -128, 0, -128, 0, -128, 0, -128, 0, -128, 0, -128, 0, -128, 0, -128,
                                          1, -128, 1, -128, 1, -128, 1, -128, 1, -128, 1, -128, 1, -128, 1, -128);
    return _mm256_add_epi8(base, _mm256_set1_epi16((short)(2 * m)));
}

/* ---- Q3_K: 3-bit quants (offset 4), signed 6-bit scales per 16 ----------------- */

/* The 16 scales of a Q3_K block, offset removed, as int8 (kquants.h layout:
 * low nibbles in bytes 0..7, two high bits each in bytes 8..11). */
INLINE __m128i q3_K_scales(const uint8_t *s) {
    const uint32_t m2 = 0x0f0f0f0f, m1 = 0x03030303;
    const uint32_t lo0 = u32_at(s), lo1 = u32_at(s + 4), hi = u32_at(s + 8);
    const __m128i v = _mm_setr_epi32((int)((lo0 & m2) | ((hi & m1) << 4)), (int)((lo1 & m2) | (((hi >> 2) & m1) << 4)),
                                     (int)(((lo0 >> 4) & m2) | (((hi >> 4) & m1) << 4)),
                                     (int)(((lo1 >> 4) & m2) | (((hi >> 6) & m1) << 4)));
    return _mm_sub_epi8(v, _mm_set1_epi8(32));
}

/* Byte shuffle of 8 int16 scales (both lanes) that gives scale 2c in lane 0
 * and 2c + 1 in lane 1 (c = 0..3). */
INLINE __m256i pair_scale16_mask(int c) {
    const __m256i base = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1,
                                          2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
    return _mm256_add_epi8(base, _mm256_set1_epi8((char)(4 * c)));
}

/* The third bit of group (h, k) moved to bit 2 of each byte. */
INLINE __m256i q3_K_high_bit(__m256i hmask, int bit) {
    __m256i v = bit >= 2 ? _mm256_srli_epi16(hmask, bit - 2) : _mm256_slli_epi16(hmask, 2 - bit);
    return _mm256_and_si256(v, _mm256_set1_epi8(4));
}

/* ---- IQ4_XS: codebook quants, signed 6-bit scales per 32 ----------------------- */

/* The 8 scales (offset removed), each int32 lane holding its scale in both
 * int16 halves, ready to be spread by permutevar8x32. */
INLINE __m256i iq4_xs_scales(const uint8_t *x) {
    const __m256i lo = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)u32_at(x + 4)),
                                                          _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28)),
                                        _mm256_set1_epi32(0x0f));
    const __m256i hi = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)u16_at(x + 2)),
                                                          _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14)),
                                        _mm256_set1_epi32(3));
    const __m256i s = _mm256_sub_epi32(_mm256_or_si256(lo, _mm256_slli_epi32(hi, 4)), _mm256_set1_epi32(32));
    return _mm256_or_si256(_mm256_and_si256(s, _mm256_set1_epi32(0xffff)), _mm256_slli_epi32(s, 16));
}

/* The activations of sub-blocks 2c, 2c + 1 regrouped as the weights come out
 * of 32 bytes of nibbles: lo = elements 0..15 of both, hi = 16..31 of both. */
typedef struct act_pair {
    __m256i lo, hi;
} act_pair;

INLINE act_pair iq4_xs_act(const uint8_t *y, int c) {
    const __m256i a0 = load256(y + 4 + 64 * c), a1 = load256(y + 4 + 64 * c + 32);
    return (act_pair){_mm256_permute2x128_si256(a0, a1, 0x20), _mm256_permute2x128_si256(a0, a1, 0x31)};
}

/* The integer sum of one IQ4_XS block against its Q8_K block, as 8 int32
 * partials (the tile's steps for one pair). */
INLINE __m256i iq4_xs_block(const uint8_t *x, const uint8_t *y) {
    const __m256i book = iq4_codebook(), m4 = _mm256_set1_epi8(0x0f), sc = iq4_xs_scales(x);
    __m256i part = _mm256_setzero_si256();
    UNROLL for (int c = 0; c < 4; c++) {
        const __m256i idx = _mm256_setr_epi32(2 * c, 2 * c, 2 * c, 2 * c, 2 * c + 1, 2 * c + 1, 2 * c + 1, 2 * c + 1);
        const act_pair act = iq4_xs_act(y, c);
        const __m256i bits = load256(x + 8 + 32 * c);
        const __m256i wl = _mm256_shuffle_epi8(book, _mm256_and_si256(bits, m4));
        const __m256i wh = _mm256_shuffle_epi8(book, _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4));
        const __m256i s = _mm256_permutevar8x32_epi32(sc, idx);
        __m256i pl = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(wl, wl), _mm256_sign_epi8(act.lo, wl)), s);
        __m256i ph = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(wh, wh), _mm256_sign_epi8(act.hi, wh)), s);
        part = _mm256_add_epi32(part, _mm256_add_epi32(pl, ph));
    }
    return part;
}

/* One token, one IQ4_XS row, as row_q6_K in simd_avx2.c: blocks in groups of
 * 8 in the lanes, the float steps in block order, the row read as one
 * prefetched stream.  llama3.2-1b IQ4_XS generation, alternating with the
 * 8-row tiles: 16.1-20.3 -> 19.2-22.3 t/s (4 of 5 rounds faster). */
INLINE float row_iq4_xs(const slm_gemm_args *g, int64_t r, int64_t t) {
    const uint8_t *w = g->w + (uint64_t)r * g->w_stride;
    const uint8_t *a = (const uint8_t *)g->a + (uint64_t)t * g->a_stride;
    const int64_t nb = g->n / 256;
    float sum = 0.0f;
    for (int64_t b0 = 0; b0 < nb; b0 += 8) {
        const int64_t nk = nb - b0 < 8 ? nb - b0 : 8;
        uint16_t dw[8] = {0};
        float da[8] = {0}, term[8];
        __m256i h[4];
        UNROLL for (int q = 0; q < 4; q++) {
            __m256i v[2];
            UNROLL for (int k = 0; k < 2; k++) {
                const int p = 2 * q + k;
                v[k] = _mm256_setzero_si256();
                if (p < nk) {
                    const uint8_t *xb = w + (uint64_t)(b0 + p) * 136, *yb = a + (uint64_t)(b0 + p) * 292;
                    prefetch_stream(xb, 136);
                    v[k] = iq4_xs_block(xb, yb);
                    dw[p] = u16_at(xb);
                    memcpy(&da[p], yb, 4);
                }
            }
            h[q] = _mm256_hadd_epi32(v[0], v[1]);
        }
        const __m256 d = _mm256_mul_ps(f16x8(dw), _mm256_loadu_ps(da));
        _mm256_storeu_ps(term, _mm256_mul_ps(d, _mm256_cvtepi32_ps(sum_lanes_8_folded(h))));
        for (int64_t k = 0; k < nk; k++) sum += term[k];
    }
    return sum;
}

/* ---- the K-quant tile ------------------------------------------------------------ */

INLINE int block_bytes_of(slm_type type) {
    return type == SLM_TYPE_Q2_K ? 84 : type == SLM_TYPE_Q3_K ? 110 : 136;
}

/* Offset of the block's f16 d. */
INLINE int d_offset_of(slm_type type) {
    return type == SLM_TYPE_Q2_K ? 80 : type == SLM_TYPE_Q3_K ? 108 : 0;
}

/* What the groups of one weight block share: its scales, ready to shuffle
 * (Q2_K: the 16 4-bit scales in both lanes; Q3_K: int16 scales 0..7 and
 * 8..15, each in both lanes; IQ4_XS: iq4_xs_scales). */
typedef struct row_scales {
    __m256i s0, s1;
} row_scales;

INLINE row_scales prep_row(slm_type type, const uint8_t *x) {
    if (type == SLM_TYPE_Q2_K) {
        __m256i sc = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)x));
        return (row_scales){_mm256_and_si256(sc, _mm256_set1_epi8(0x0f)), _mm256_setzero_si256()};
    }
    if (type == SLM_TYPE_Q3_K) {
        __m256i sc16 = _mm256_cvtepi8_epi16(q3_K_scales(x + 96));
        return (row_scales){_mm256_permute4x64_epi64(sc16, 0x44), _mm256_permute4x64_epi64(sc16, 0xee)};
    }
    return (row_scales){iq4_xs_scales(x), _mm256_setzero_si256()};
}

/* The int32 partials a pair starts a block with: Q3_K's -4 x scale x bsum
 * (the quants go through maddubs as q + 4), Q2_K's mins x bsums apart. */
INLINE void init_pair(slm_type type, const uint8_t *x, const uint8_t *y, row_scales rs, __m256i *part, __m256i *mpart) {
    *part = *mpart = _mm256_setzero_si256();
    if (type == SLM_TYPE_Q2_K) {
        __m128i m = _mm_and_si128(_mm_srli_epi16(_mm_loadu_si128((const __m128i *)(const void *)x), 4), _mm_set1_epi8(0x0f));
        *mpart = _mm256_madd_epi16(_mm256_cvtepu8_epi16(m), load256(y + 260));
    } else if (type == SLM_TYPE_Q3_K) {
        __m256i sc16 = _mm256_blend_epi32(rs.s0, rs.s1, 0xf0);
        *part = _mm256_sub_epi32(*part, _mm256_slli_epi32(_mm256_madd_epi16(sc16, load256(y + 260)), 2));
    }
}

/* Group c of a Q2_K / Q3_K block: 32 quants (elements 32c..32c+31, two
 * sub-blocks of 16) as unsigned bytes and their two scales as int16. */
INLINE __m256i q23_group(slm_type type, const uint8_t *x, int c, row_scales rs, __m256i *s) {
    const int h = c / 4, k = c % 4;
    if (type == SLM_TYPE_Q2_K) {
        *s = _mm256_shuffle_epi8(rs.s0, pair_scale_mask(c));
        return _mm256_and_si256(_mm256_srli_epi16(load256(x + 16 + 32 * h), 2 * k), _mm256_set1_epi8(3));
    }
    *s = _mm256_shuffle_epi8(h ? rs.s1 : rs.s0, pair_scale16_mask(k));
    __m256i lo = _mm256_and_si256(_mm256_srli_epi16(load256(x + 32 + 32 * h), 2 * k), _mm256_set1_epi8(3));
    return _mm256_or_si256(lo, q3_K_high_bit(load256(x), c));
}

/* One tile of R rows x T tokens (R * T <= 16), all blocks, group by group so
 * that a row's unpacked group serves all T tokens and a token's activations
 * all R rows.  Reference float steps per pair: Q2_K
 * sum += (dy*d)*isum - (dy*dmin)*summs, the others sum += (d*dy)*isum. */
INLINE void tile_k(slm_type type, const slm_gemm_args *g, int64_t r, int64_t t, int R, int T) {
    const int bb = block_bytes_of(type), doff = d_offset_of(type);
    const int G = type == SLM_TYPE_IQ4_XS ? 4 : 8;
    const uint8_t *w = g->w + (uint64_t)r * g->w_stride;
    const uint8_t *a = (const uint8_t *)g->a + (uint64_t)t * g->a_stride;
    const int P = R * T;
    __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t ib = 0; ib < g->n / 256; ib++) {
        if (T == 1 && R == 8) prefetch_next_tile(g, w, R, ib, bb);
        const uint8_t *xb[8], *yb[8];
        row_scales rs[8];
        __m256i part[16], mpart[16];
        uint16_t dw[16] = {0}, dm[16] = {0};
        float da[16] = {0};
        UNROLL for (int p = P; p < 16; p++) part[p] = mpart[p] = _mm256_setzero_si256();
        UNROLL for (int i = 0; i < R; i++) {
            xb[i] = w + (uint64_t)i * g->w_stride + (uint64_t)ib * bb;
            rs[i] = prep_row(type, xb[i]);
        }
        UNROLL for (int j = 0; j < T; j++) yb[j] = a + (uint64_t)j * g->a_stride + (uint64_t)ib * 292;
        UNROLL for (int i = 0; i < R; i++) UNROLL for (int j = 0; j < T; j++) {
            const int p = i * T + j;
            init_pair(type, xb[i], yb[j], rs[i], &part[p], &mpart[p]);
            dw[p] = u16_at(xb[i] + doff);
            if (type == SLM_TYPE_Q2_K) dm[p] = u16_at(xb[i] + 82);
            memcpy(&da[p], yb[j], 4);
        }
        UNROLL for (int c = 0; c < G; c++) {
            if (type == SLM_TYPE_IQ4_XS) {
                const __m256i book = iq4_codebook(), m4 = _mm256_set1_epi8(0x0f);
                const __m256i idx = _mm256_setr_epi32(2 * c, 2 * c, 2 * c, 2 * c, 2 * c + 1, 2 * c + 1, 2 * c + 1, 2 * c + 1);
                act_pair act[8];
                UNROLL for (int j = 0; j < T; j++) act[j] = iq4_xs_act(yb[j], c);
                UNROLL for (int i = 0; i < R; i++) {
                    const __m256i bits = load256(xb[i] + 8 + 32 * c);
                    const __m256i wl = _mm256_shuffle_epi8(book, _mm256_and_si256(bits, m4));
                    const __m256i wh = _mm256_shuffle_epi8(book, _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4));
                    const __m256i al = _mm256_sign_epi8(wl, wl), ah = _mm256_sign_epi8(wh, wh);
                    const __m256i s = _mm256_permutevar8x32_epi32(rs[i].s0, idx);
                    UNROLL for (int j = 0; j < T; j++) {
                        __m256i pl = _mm256_madd_epi16(_mm256_maddubs_epi16(al, _mm256_sign_epi8(act[j].lo, wl)), s);
                        __m256i ph = _mm256_madd_epi16(_mm256_maddubs_epi16(ah, _mm256_sign_epi8(act[j].hi, wh)), s);
                        part[i * T + j] = _mm256_add_epi32(part[i * T + j], _mm256_add_epi32(pl, ph));
                    }
                }
            } else {
                __m256i av[8];
                UNROLL for (int j = 0; j < T; j++) av[j] = load256(yb[j] + 4 + 32 * c);
                UNROLL for (int i = 0; i < R; i++) {
                    __m256i s;
                    const __m256i q = q23_group(type, xb[i], c, rs[i], &s);
                    UNROLL for (int j = 0; j < T; j++)
                        part[i * T + j] = _mm256_add_epi32(part[i * T + j], _mm256_madd_epi16(_mm256_maddubs_epi16(q, av[j]), s));
                }
            }
        }
        UNROLL for (int h = 0; h < (P + 7) / 8; h++) {
            const __m256 dy = _mm256_loadu_ps(da + 8 * h);
            __m256 term = _mm256_mul_ps(_mm256_mul_ps(f16x8(dw + 8 * h), dy), _mm256_cvtepi32_ps(sum_lanes_8(part + 8 * h)));
            if (type == SLM_TYPE_Q2_K)
                term = _mm256_sub_ps(term, _mm256_mul_ps(_mm256_mul_ps(dy, f16x8(dm + 8 * h)),
                                                         _mm256_cvtepi32_ps(sum_lanes_8(mpart + 8 * h))));
            acc[h] = _mm256_add_ps(acc[h], term);
        }
    }
    store_pairs(acc, R, T, g, r, t);
}

/* ---- tiling (DEFINE_GEMM, simd_avx2.h) -------------------------------------------- */

#define Q2_K_TILE(g, r, t, R, T) tile_k(SLM_TYPE_Q2_K, g, r, t, R, T)
#define Q3_K_TILE(g, r, t, R, T) tile_k(SLM_TYPE_Q3_K, g, r, t, R, T)
#define IQ4_XS_TILE(g, r, t, R, T) tile_k(SLM_TYPE_IQ4_XS, g, r, t, R, T)

DEFINE_GEMM(gemm_q2_K, Q2_K_TILE, 4, 4)
DEFINE_GEMM(gemm_q3_K, Q3_K_TILE, 4, 4)
DEFINE_GEMM(gemm_iq4_xs_tiles, IQ4_XS_TILE, 4, 4)

DEFINE_GEMM_ROW_WALK(gemm_iq4_xs, gemm_iq4_xs_tiles, row_iq4_xs)

void slm_kernels_avx2_q23k_iq4(slm_kernels *k) {
    k->gemm[SLM_TYPE_Q2_K] = gemm_q2_K;
    k->gemm[SLM_TYPE_Q3_K] = gemm_q3_K;
    k->gemm[SLM_TYPE_IQ4_XS] = gemm_iq4_xs;
}

#endif /* __x86_64__ */
