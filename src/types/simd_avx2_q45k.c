/* simd_avx2_q45k.c - AVX2 kernels for Q4_K and Q5_K weights with Q8_K
 * activations (built with -mavx2 -mfma -mf16c like simd_avx2.c, which calls
 * slm_kernels_avx2_q45k last).
 *
 * Same contract as simd_avx2.c: each (row, token) pair gets the scalar
 * reference's result bit for bit (kquants.c, dot_q45_K_block).  Per block
 * of 256 the reference computes two exact integers,
 *     isum  = sum over the 8 sub-blocks of scale * (q . a)
 *     summs = sum over the 8 sub-blocks of min * (bsum 2j + bsum 2j+1)
 * and then, in float, sum += (d * da) * isum - (dmin * da) * summs.
 * Here the integers come from maddubs (unsigned 4/5-bit weights times
 * signed activations; a pair sum is at most 31 * 128 * 2, no saturation)
 * and madd with the sub-block's scale; summs from madds of the mins with
 * the activation's group sums added in twos.  Both integers of 8 pairs are
 * reduced into one vector each, and lane p then takes the reference's float
 * steps of pair p.
 *
 * Generation walks one row at a time (row_q45_K, a prefetched stream);
 * prompts take tiles of 2 rows x 4 tokens (the weights of a 64-element
 * chunk are unpacked once and used for all 4 tokens). */
#include "types/gemm.h"

#if defined(__x86_64__)

#include <immintrin.h>
#include <stdbool.h>
#include <string.h>

#include "types/simd_avx2.h"


enum { Q8K_BYTES = 292, Q8K_QS = 4, Q8K_BSUMS = 260 };




/* The 8 sub-block scales and mins of a Q4_K/Q5_K block (scales[12], see
 * slm_kq_get_scale_min): sub-blocks 0..3 are the low 6 bits of bytes 0..3
 * (scales) and 4..7 (mins); 4..7 take their low nibbles from bytes 8..11
 * and their two high bits from the top bits of bytes 0..3 / 4..7.  The
 * scales come back as int16 (both 128-bit lanes), the mins as 8 bytes. */
INLINE void scales_mins(const uint8_t *sc12, __m256i *scales, uint64_t *mins) {
    const uint32_t w0 = u32_at(sc12), w1 = u32_at(sc12 + 4), w2 = u32_at(sc12 + 8);
    const uint32_t sc_lo = w0 & 0x3f3f3f3fu, m_lo = w1 & 0x3f3f3f3fu;
    const uint32_t sc_hi = (w2 & 0x0f0f0f0fu) | ((w0 >> 2) & 0x30303030u);
    const uint32_t m_hi = ((w2 >> 4) & 0x0f0f0f0fu) | ((w1 >> 2) & 0x30303030u);
    __m128i sc8 = _mm_cvtsi64_si128((long long)((uint64_t)sc_hi << 32 | sc_lo));
    *scales = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sc8));
    *mins = (uint64_t)m_hi << 32 | m_lo;
}

/* Sub-block s's scale in all 16 int16 lanes (scales from scales_mins). */
INLINE __m256i scale_of(__m256i scales, int s) {
    return _mm256_shuffle_epi8(scales, _mm256_set1_epi16((short)(0x0100 + 0x0202 * s)));
}

/* The 64 weights of chunk c (elements 64c .. 64c+63) as unsigned bytes:
 * lo = sub-block 2c (low nibbles), hi = 2c + 1 (high nibbles), with Q5_K's
 * fifth bits (bits 2c and 2c+1 of qh) as 16. */
INLINE void unpack_chunk(bool q5, const uint8_t *b, int c, __m256i *lo, __m256i *hi) {
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    const uint8_t *qs = b + (q5 ? 48 : 16) + 32 * c;
    __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)qs);
    *lo = _mm256_and_si256(v, m4);
    *hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
    if (q5) {
        const __m256i bit4 = _mm256_set1_epi8(0x10);
        __m256i qh = _mm256_loadu_si256((const __m256i *)(const void *)(b + 16));
        /* bit k of each byte to bit 4 (the shifts stay within each byte's mask) */
        __m256i l5 = 2 * c <= 4 ? _mm256_slli_epi16(qh, 4 - 2 * c) : _mm256_srli_epi16(qh, 2 * c - 4);
        __m256i h5 = 2 * c + 1 <= 4 ? _mm256_slli_epi16(qh, 3 - 2 * c) : _mm256_srli_epi16(qh, 2 * c - 3);
        *lo = _mm256_or_si256(*lo, _mm256_and_si256(l5, bit4));
        *hi = _mm256_or_si256(*hi, _mm256_and_si256(h5, bit4));
    }
}

/* scale_lo * (lo . a[0..31]) + scale_hi * (hi . a[32..63]) as 8 int32. */
INLINE __m256i dot_chunk(__m256i lo, __m256i hi, __m256i sc_lo, __m256i sc_hi, const int8_t *a) {
    __m256i a0 = _mm256_loadu_si256((const __m256i *)(const void *)a);
    __m256i a1 = _mm256_loadu_si256((const __m256i *)(const void *)(a + 32));
    return _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(lo, a0), sc_lo),
                            _mm256_madd_epi16(_mm256_maddubs_epi16(hi, a1), sc_hi));
}

/* d and dmin (the first 4 bytes) of the blocks wb[0..7] as two vectors. */
INLINE void block_scales_8(const uint8_t *const *wb, __m256 *d, __m256 *dmin) {
    __m256i v = _mm256_setr_epi32((int)u32_at(wb[0]), (int)u32_at(wb[1]), (int)u32_at(wb[2]), (int)u32_at(wb[3]),
                                  (int)u32_at(wb[4]), (int)u32_at(wb[5]), (int)u32_at(wb[6]), (int)u32_at(wb[7]));
    /* per 128-bit lane: the 4 d's, then the 4 dmin's; then d 0..7 | dmin 0..7 */
    const __m256i split = _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15,
                                           0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15);
    v = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(v, split), 0xd8);
    *d = _mm256_cvtph_ps(_mm256_castsi256_si128(v));
    *dmin = _mm256_cvtph_ps(_mm256_extracti128_si256(v, 1));
}

/* The 8 pairs' summs = sum over sub-blocks s of min(row, s) * bp(token, s),
 * bp the activation's group sums added in twos (16-bit: at most 32 * 127).
 * m64[p]: pair p's 8 mins as bytes; bp[p]: its token's 8 sums. */
INLINE __m256i mins_term_8(const uint64_t m64[8], const __m128i bp[8]) {
    __m256i v[4];
    UNROLL for (int k = 0; k < 4; k++) {
        __m256i m = _mm256_cvtepu8_epi16(_mm_set_epi64x((long long)m64[2 * k + 1], (long long)m64[2 * k]));
        v[k] = _mm256_madd_epi16(m, _mm256_set_m128i(bp[2 * k + 1], bp[2 * k]));
    }
    /* v[k] holds 4 partials of pair 2k (low lane) and 2k+1 (high lane) */
    __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
    /* h: pairs 0 2 4 6 | 1 3 5 7 */
    return _mm256_permutevar8x32_epi32(h, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* One tile of R rows x T tokens (R * T <= 8 pairs), all blocks. */
INLINE void tile_q45_K(bool q5, const slm_gemm_args *g, int64_t r, int64_t t, int R, int T) {
    const int block_bytes = q5 ? 176 : 144;
    const uint8_t *w = g->w + (uint64_t)r * g->w_stride;
    const uint8_t *a = (const uint8_t *)g->a + (uint64_t)t * g->a_stride;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t ib = 0; ib < g->n / 256; ib++) {
        const uint8_t *wb[8], *ab[8];
        __m256i isum[8];
        __m128i bp_tok[8], bp[8];
        uint64_t m_row[8], m64[8];
        UNROLL for (int p = 0; p < 8; p++) {
            /* pair p = i * T + j; lanes past R * T repeat a real pair with
             * zero mins and sums (their results are dropped) */
            int i = p < R * T ? p / T : 0, j = p < R * T ? p % T : 0;
            wb[p] = w + (uint64_t)i * g->w_stride + (uint64_t)ib * block_bytes;
            ab[p] = a + (uint64_t)j * g->a_stride + (uint64_t)ib * Q8K_BYTES;
            isum[p] = _mm256_setzero_si256();
        }
        UNROLL for (int j = 0; j < T; j++) {
            __m256i bs = _mm256_loadu_si256((const __m256i *)(const void *)(ab[j] + Q8K_BSUMS));
            bp_tok[j] = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
        }
        UNROLL for (int i = 0; i < R; i++) {
            const uint8_t *xb = wb[i * T];
            __m256i scales;
            scales_mins(xb + 4, &scales, &m_row[i]);
            UNROLL for (int c = 0; c < 4; c++) {
                __m256i lo, hi;
                unpack_chunk(q5, xb, c, &lo, &hi);
                __m256i sc_lo = scale_of(scales, 2 * c), sc_hi = scale_of(scales, 2 * c + 1);
                UNROLL for (int j = 0; j < T; j++) {
                    const int8_t *q8 = (const int8_t *)(ab[j] + Q8K_QS) + 64 * c;
                    isum[i * T + j] = _mm256_add_epi32(isum[i * T + j], dot_chunk(lo, hi, sc_lo, sc_hi, q8));
                }
            }
        }
        UNROLL for (int p = 0; p < 8; p++) {
            m64[p] = p < R * T ? m_row[p / T] : 0;
            bp[p] = p < R * T ? bp_tok[p % T] : _mm_setzero_si128();
        }
        float da[8];
        UNROLL for (int p = 0; p < 8; p++) memcpy(&da[p], ab[p], 4);
        __m256 dav = _mm256_loadu_ps(da), dw, dmw;
        block_scales_8(wb, &dw, &dmw);
        __m256 d = _mm256_mul_ps(dw, dav), dmin = _mm256_mul_ps(dmw, dav);
        __m256 term = _mm256_sub_ps(_mm256_mul_ps(d, _mm256_cvtepi32_ps(sum_lanes_8(isum))),
                                    _mm256_mul_ps(dmin, _mm256_cvtepi32_ps(mins_term_8(m64, bp))));
        acc = _mm256_add_ps(acc, term);
    }
    store_pairs(&acc, R, T, g, r, t);
}

/* isum of one block (see the top of the file) as 8 int32 partials; the
 * block's 8 mins to m64. */
INLINE __m256i isum_block(bool q5, const uint8_t *xb, const uint8_t *ab, uint64_t *m64) {
    __m256i scales, s = _mm256_setzero_si256();
    scales_mins(xb + 4, &scales, m64);
    UNROLL for (int c = 0; c < 4; c++) {
        __m256i lo, hi;
        unpack_chunk(q5, xb, c, &lo, &hi);
        const int8_t *q8 = (const int8_t *)(ab + Q8K_QS) + 64 * c;
        s = _mm256_add_epi32(s, dot_chunk(lo, hi, scale_of(scales, 2 * c), scale_of(scales, 2 * c + 1), q8));
    }
    return s;
}

/* One token, one row, as row_q6_K in simd_avx2.c: the row's blocks in
 * groups of 8 take the tile's lanes (block k of the group in lane k), and
 * the float steps then run in block order.  Read as one prefetched stream,
 * the weights arrive faster than through the 8-row tiles: two threads on a
 * 151 MB Q4_K matrix (131072 x 2048) read 17.7-21.7 GB/s against 15.4-21.9
 * for the tiles and 14.4-17.9 for llama.cpp's row kernel in the same runs. */
INLINE float row_q45_K(bool q5, const slm_gemm_args *g, int64_t r, int64_t t) {
    const int block_bytes = q5 ? 176 : 144;
    const uint8_t *w = g->w + (uint64_t)r * g->w_stride;
    const uint8_t *a = (const uint8_t *)g->a + (uint64_t)t * g->a_stride;
    const int64_t nb = g->n / 256;
    float sum = 0.0f;
    for (int64_t b0 = 0; b0 < nb; b0 += 8) {
        const int64_t nk = nb - b0 < 8 ? nb - b0 : 8;
        const uint8_t *wb[8];
        uint64_t m64[8];
        __m128i bp[8];
        float da[8], term[8];
        __m256i h[4];
        UNROLL for (int q = 0; q < 4; q++) {
            __m256i v[2];
            UNROLL for (int k = 0; k < 2; k++) {
                /* lanes past the row's end repeat its first block with zero
                 * sums and mins (their results are dropped) */
                const int p = 2 * q + k;
                const int64_t b = b0 + (p < nk ? p : 0);
                const uint8_t *ab = a + (uint64_t)b * Q8K_BYTES;
                wb[p] = w + (uint64_t)b * block_bytes;
                memcpy(&da[p], ab, 4);
                v[k] = _mm256_setzero_si256();
                m64[p] = 0;
                bp[p] = _mm_setzero_si128();
                if (p < nk) {
                    prefetch_stream(wb[p], block_bytes);
                    v[k] = isum_block(q5, wb[p], ab, &m64[p]);
                    __m256i bs = _mm256_loadu_si256((const __m256i *)(const void *)(ab + Q8K_BSUMS));
                    bp[p] = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
                }
            }
            h[q] = _mm256_hadd_epi32(v[0], v[1]);
        }
        const __m256 dav = _mm256_loadu_ps(da);
        __m256 dw, dmw;
        block_scales_8(wb, &dw, &dmw);
        const __m256 d = _mm256_mul_ps(dw, dav), dmin = _mm256_mul_ps(dmw, dav);
        _mm256_storeu_ps(term, _mm256_sub_ps(_mm256_mul_ps(d, _mm256_cvtepi32_ps(sum_lanes_8_folded(h))),
                                             _mm256_mul_ps(dmin, _mm256_cvtepi32_ps(mins_term_8(m64, bp)))));
        for (int64_t k = 0; k < nk; k++) sum += term[k];
    }
    return sum;
}

/* Walks [r0, r1) x [t0, t1): a row at a time for one token, 2 x 4 tiles
 * for more (measured per thread on 64 rows x 64 tokens of Q4_K: 48 GMAC/s
 * against 39 for 4 x 2, 47 for 1 x 8 and 34 for 8 x 1); the edges get
 * smaller tiles (same per-pair arithmetic). */
INLINE void gemm_q45_K(bool q5, const slm_gemm_args *g, int64_t r0, int64_t r1, int64_t t0, int64_t t1) {
    int64_t r = r0;
    if (t1 - t0 == 1) {
        for (; r < r1; r++) g->y[t0 * g->y_stride + r] = row_q45_K(q5, g, r, t0);
        return;
    }
    for (; r + 2 <= r1; r += 2) {
        int64_t t = t0;
        for (; t + 4 <= t1; t += 4) tile_q45_K(q5, g, r, t, 2, 4);
        if (t + 2 <= t1) tile_q45_K(q5, g, r, t, 2, 2), t += 2;
        if (t < t1) tile_q45_K(q5, g, r, t, 2, 1);
    }
    if (r < r1) {
        int64_t t = t0;
        for (; t + 8 <= t1; t += 8) tile_q45_K(q5, g, r, t, 1, 8);
        for (; t < t1; t++) tile_q45_K(q5, g, r, t, 1, 1);
    }
}

static void gemm_q4_K(const slm_gemm_args *g, int64_t r0, int64_t r1, int64_t t0, int64_t t1) {
    gemm_q45_K(false, g, r0, r1, t0, t1);
}

static void gemm_q5_K(const slm_gemm_args *g, int64_t r0, int64_t r1, int64_t t0, int64_t t1) {
    gemm_q45_K(true, g, r0, r1, t0, t1);
}

void slm_kernels_avx2_q45k(slm_kernels *k) {
    k->gemm[SLM_TYPE_Q4_K] = gemm_q4_K;
    k->gemm[SLM_TYPE_Q5_K] = gemm_q5_K;
}

#endif /* __x86_64__ */
