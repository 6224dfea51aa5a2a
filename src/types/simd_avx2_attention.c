/* simd_avx2_attention.c - AVX2 versions of the chunked attention kernels
 * (built with -mavx2 -mfma -mf16c like simd_avx2.c, which calls
 * slm_kernels_avx2_attention).  Each reproduces attention_kernels.c bit for
 * bit: the same operations in the same order, lanes for what the reference
 * does in a loop (vfmadd where it calls fmaf, and nowhere else:
 * -ffp-contract=off).
 *
 *   scores   8 keys of one query at a time: 8 accumulators (element i in
 *            lane i % 8), transposed so that the reference's final pairwise
 *            sum runs on whole vectors and yields the 8 dot products at once.
 *   softmax  the 16 scores of a chunk in two vectors; exp on 8 lanes.
 *   accum    blocks of output columns of up to 8 queries in registers while
 *            the chunk's value rows stream by; each value row is read once. */
#include "types/gemm.h"

#if defined(__x86_64__)

#include <immintrin.h>
#include <string.h>
#include <math.h>

#define INLINE static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 8")

INLINE __m256 load8_f16(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)p)); }
INLINE __m256 load8_f32(const float *p) { return _mm256_loadu_ps(p); }
INLINE float load1_f16(const uint16_t *p) { return _cvtsh_ss(*p); }
INLINE float load1_f32(const float *p) { return *p; }

/* ---- scores ------------------------------------------------------------------- */

/* slm_dot_f32's order for one key. */
#define DEFINE_DOT1(NAME, T, LOAD8, LOAD1)                                                              \
    static float NAME(const T *k, const float *q, int64_t n) {                                          \
        __m256 acc = _mm256_setzero_ps();                                                               \
        int64_t i = 0;                                                                                  \
        for (; i + 8 <= n; i += 8) acc = _mm256_fmadd_ps(LOAD8(k + i), _mm256_loadu_ps(q + i), acc); \
        float lane[8];                                                                                  \
        _mm256_storeu_ps(lane, acc);                                                                    \
        for (int j = 0; i < n; i++, j++) lane[j] = fmaf(LOAD1(k + i), q[i], lane[j]);                                \
        return ((lane[0] + lane[4]) + (lane[1] + lane[5])) + ((lane[2] + lane[6]) + (lane[3] + lane[7])); \
    }
DEFINE_DOT1(dot1_f16, uint16_t, load8_f16, load1_f16)
DEFINE_DOT1(dot1_f32, float, load8_f32, load1_f32)

/* Lane l of the result: ((a0+a4)+(a1+a5))+((a2+a6)+(a3+a7)) of acc[l]. */
INLINE __m256 reduce_8x8(const __m256 acc[8]) {
    __m256 u0 = _mm256_unpacklo_ps(acc[0], acc[1]), u1 = _mm256_unpackhi_ps(acc[0], acc[1]);
    __m256 u2 = _mm256_unpacklo_ps(acc[2], acc[3]), u3 = _mm256_unpackhi_ps(acc[2], acc[3]);
    __m256 u4 = _mm256_unpacklo_ps(acc[4], acc[5]), u5 = _mm256_unpackhi_ps(acc[4], acc[5]);
    __m256 u6 = _mm256_unpacklo_ps(acc[6], acc[7]), u7 = _mm256_unpackhi_ps(acc[6], acc[7]);
    __m256 s0 = _mm256_shuffle_ps(u0, u2, 0x44), s1 = _mm256_shuffle_ps(u0, u2, 0xee);
    __m256 s2 = _mm256_shuffle_ps(u1, u3, 0x44), s3 = _mm256_shuffle_ps(u1, u3, 0xee);
    __m256 s4 = _mm256_shuffle_ps(u4, u6, 0x44), s5 = _mm256_shuffle_ps(u4, u6, 0xee);
    __m256 s6 = _mm256_shuffle_ps(u5, u7, 0x44), s7 = _mm256_shuffle_ps(u5, u7, 0xee);
    __m256 t0 = _mm256_permute2f128_ps(s0, s4, 0x20), t4 = _mm256_permute2f128_ps(s0, s4, 0x31);
    __m256 t1 = _mm256_permute2f128_ps(s1, s5, 0x20), t5 = _mm256_permute2f128_ps(s1, s5, 0x31);
    __m256 t2 = _mm256_permute2f128_ps(s2, s6, 0x20), t6 = _mm256_permute2f128_ps(s2, s6, 0x31);
    __m256 t3 = _mm256_permute2f128_ps(s3, s7, 0x20), t7 = _mm256_permute2f128_ps(s3, s7, 0x31);
    return _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(t0, t4), _mm256_add_ps(t1, t5)),
                         _mm256_add_ps(_mm256_add_ps(t2, t6), _mm256_add_ps(t3, t7)));
}

/* 8 keys x 1 query (n a multiple of 8). */
#define DEFINE_DOT8(NAME, T, LOAD8)                                                                      \
    INLINE __m256 NAME(const T *k, int64_t k_stride, const float *q, int64_t n) {                       \
        __m256 acc[8];                                                                                  \
        UNROLL for (int j = 0; j < 8; j++) acc[j] = _mm256_setzero_ps();                                \
        for (int64_t i = 0; i < n; i += 8) {                                                            \
            __m256 qv = _mm256_loadu_ps(q + i);                                                         \
            UNROLL for (int j = 0; j < 8; j++)                                                          \
                acc[j] = _mm256_fmadd_ps(LOAD8(k + j * k_stride + i), qv, acc[j]);         \
        }                                                                                               \
        return reduce_8x8(acc);                                                                         \
    }
DEFINE_DOT8(dot8_f16, uint16_t, load8_f16)
DEFINE_DOT8(dot8_f32, float, load8_f32)

/* 4 keys x 2 queries (n a multiple of 8): lane 2 j + g of the result is
 * key j with query g.  Each key's conversion serves both queries. */
#define DEFINE_DOT4X2(NAME, T, LOAD8)                                                                    \
    INLINE __m256 NAME(const T *k, int64_t k_stride, const float *q0, const float *q1, int64_t n) {     \
        __m256 acc[8];                                                                                  \
        UNROLL for (int p = 0; p < 8; p++) acc[p] = _mm256_setzero_ps();                                \
        for (int64_t i = 0; i < n; i += 8) {                                                            \
            __m256 qa = _mm256_loadu_ps(q0 + i), qb = _mm256_loadu_ps(q1 + i);                          \
            UNROLL for (int j = 0; j < 4; j++) {                                                        \
                __m256 kv = LOAD8(k + j * k_stride + i);                                                \
                acc[2 * j] = _mm256_fmadd_ps(kv, qa, acc[2 * j]);                                       \
                acc[2 * j + 1] = _mm256_fmadd_ps(kv, qb, acc[2 * j + 1]);                               \
            }                                                                                           \
        }                                                                                               \
        return reduce_8x8(acc);                                                                         \
    }
DEFINE_DOT4X2(dot4x2_f16, uint16_t, load8_f16)
DEFINE_DOT4X2(dot4x2_f32, float, load8_f32)

/* Pairs of queries in 4 x 2 tiles over the keys that fill whole tiles, the
 * rest of the scores 8 keys x 1 query, then one by one. */
#define DEFINE_SCORES(NAME, T, DOT4X2, DOT8, DOT1)                                                       \
    static void NAME(const T *k, int64_t k_stride, int m, const float *q, int64_t q_stride, int nq,      \
                     int64_t n, float scale, float *s) {                                                \
        __m256 sv = _mm256_set1_ps(scale);                                                              \
        if (n % 8 == 0 && m >= 4)                                                                       \
            for (; nq >= 2; nq -= 2, q += 2 * q_stride, s += 2 * SLM_ATT_CHUNK) {                       \
                int j = 0;                                                                              \
                for (; j + 4 <= m; j += 4) {                                                            \
                    float r[8];                                                                         \
                    _mm256_storeu_ps(r, _mm256_mul_ps(DOT4X2(k + j * k_stride, k_stride, q, q + q_stride, n), sv)); \
                    for (int t = 0; t < 4; t++) {                                                       \
                        s[j + t] = r[2 * t];                                                            \
                        s[SLM_ATT_CHUNK + j + t] = r[2 * t + 1];                                        \
                    }                                                                                   \
                }                                                                                       \
                for (; j < m; j++) {                                                                    \
                    s[j] = DOT1(k + j * k_stride, q, n) * scale;                                        \
                    s[SLM_ATT_CHUNK + j] = DOT1(k + j * k_stride, q + q_stride, n) * scale;             \
                }                                                                                       \
            }                                                                                           \
        for (int g = 0; g < nq; g++, q += q_stride, s += SLM_ATT_CHUNK) {                               \
            int j = 0;                                                                                  \
            if (n % 8 == 0)                                                                             \
                for (; j + 8 <= m; j += 8)                                                              \
                    _mm256_storeu_ps(s + j, _mm256_mul_ps(DOT8(k + j * k_stride, k_stride, q, n), sv)); \
            for (; j < m; j++) s[j] = DOT1(k + j * k_stride, q, n) * scale;                             \
        }                                                                                               \
    }
DEFINE_SCORES(scores_f16, uint16_t, dot4x2_f16, dot8_f16, dot1_f16)
DEFINE_SCORES(scores_f32, float, dot4x2_f32, dot8_f32, dot1_f32)

/* ---- softmax ------------------------------------------------------------------ */

/* attention_kernels.c's att_exp on 8 lanes. */
INLINE __m256 exp8(__m256 x) {
    __m256 ok = _mm256_cmp_ps(x, _mm256_set1_ps(-87.0f), _CMP_GE_OQ);
    x = _mm256_min_ps(x, _mm256_setzero_ps());
    __m256 t = _mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f));
    __m256 magic = _mm256_set1_ps(12582912.0f);
    __m256 n = _mm256_sub_ps(_mm256_add_ps(t, magic), magic);
    __m256 r = _mm256_sub_ps(_mm256_sub_ps(x, _mm256_mul_ps(n, _mm256_set1_ps(0.693359375f))),
                             _mm256_mul_ps(n, _mm256_set1_ps(-2.12194440e-4f)));
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(5.0000001201e-1f));
    __m256 y = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(p, _mm256_mul_ps(r, r)), r), _mm256_set1_ps(1.0f));
    __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_and_ps(ok, _mm256_mul_ps(y, _mm256_castsi256_ps(bits)));
}

/* Lane 0 of the fold ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)), with OP add or max. */
#define FOLD(OP, v)                                                                                      \
    __extension__({                                                                                     \
        __m128 h = OP##_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));                     \
        h = OP##_ps(h, _mm_movehl_ps(h, h));                                                            \
        _mm_cvtss_f32(OP##_ss(h, _mm_movehdup_ps(h)));                                                  \
    })

/* Two passes over up to 8 queries: the maxima first, so that the 8
 * rescaling factors e^(max - M') come from one exp8. */
static void softmax(float *s, int m, int nq, float *max, float *sum, float *ms) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256 lo_ok = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(m), idx));
    const __m256 hi_ok = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(m - 8), idx));
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    for (int g0 = 0; g0 < nq; g0 += 8, s += 8 * SLM_ATT_CHUNK) {
        int count = nq - g0 < 8 ? nq - g0 : 8;
        float old[8] = {0}, top[8] = {0};
        for (int g = 0; g < count; g++) {
            __m256 a = _mm256_blendv_ps(ninf, _mm256_loadu_ps(s + g * SLM_ATT_CHUNK), lo_ok);
            __m256 b = _mm256_blendv_ps(ninf, _mm256_loadu_ps(s + g * SLM_ATT_CHUNK + 8), hi_ok);
            __m256 mx = _mm256_max_ps(a, b);
            float chunk_max = FOLD(_mm_max, mx);
            old[g] = max[g0 + g];
            top[g] = old[g] > chunk_max ? old[g] : chunk_max;
        }
        float scale[8];
        _mm256_storeu_ps(scale, exp8(_mm256_sub_ps(_mm256_loadu_ps(old), _mm256_loadu_ps(top))));
        for (int g = 0; g < count; g++) {
            float *sg = s + g * SLM_ATT_CHUNK;
            __m256 topv = _mm256_set1_ps(top[g]);
            __m256 a = exp8(_mm256_sub_ps(_mm256_blendv_ps(ninf, _mm256_loadu_ps(sg), lo_ok), topv));
            __m256 b = exp8(_mm256_sub_ps(_mm256_blendv_ps(ninf, _mm256_loadu_ps(sg + 8), hi_ok), topv));
            _mm256_storeu_ps(sg, a);
            _mm256_storeu_ps(sg + 8, b);
            __m256 ab = _mm256_add_ps(a, b);
            float chunk_sum = FOLD(_mm_add, ab);
            ms[g0 + g] = scale[g];
            sum[g0 + g] = sum[g0 + g] * scale[g] + chunk_sum;
            max[g0 + g] = top[g];
        }
    }
}

/* ---- weighted values ---------------------------------------------------------- */

/* NQ queries x CB blocks of 8 columns in registers while the chunk's rows
 * stream by: each accumulator is a chain of dependent FMAs, so there must be
 * about 8 of them to keep the FMA units busy (CB = 8 / NQ, roughly).  The
 * columns left over go 8 at a time, then one by one, in the same order. */
#define DEFINE_ACCUM(NAME, T, LOAD8, LOAD1)                                                              \
    INLINE void NAME##_tile(const int NQ, const int CB, float *out, int64_t out_stride, int64_t i,        \
                            const float *w, const float *ms, const T *v, int64_t v_stride, int m) {      \
        __m256 acc[8][8];                                                                               \
        UNROLL for (int g = 0; g < NQ; g++) UNROLL for (int c = 0; c < CB; c++) acc[g][c] = _mm256_setzero_ps(); \
        for (int j = 0; j < m; j++) {                                                                   \
            __m256 wj[8];                                                                               \
            UNROLL for (int g = 0; g < NQ; g++) wj[g] = _mm256_broadcast_ss(w + g * SLM_ATT_CHUNK + j);  \
            UNROLL for (int c = 0; c < CB; c++) {                                                       \
                __m256 vj = LOAD8(v + j * v_stride + i + 8 * c);                                        \
                UNROLL for (int g = 0; g < NQ; g++) acc[g][c] = _mm256_fmadd_ps(wj[g], vj, acc[g][c]);  \
            }                                                                                           \
        }                                                                                               \
        UNROLL for (int g = 0; g < NQ; g++) UNROLL for (int c = 0; c < CB; c++) {                       \
            float *o = out + g * out_stride + i + 8 * c;                                                \
            _mm256_storeu_ps(o, _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(o), _mm256_set1_ps(ms[g])), acc[g][c])); \
        }                                                                                               \
    }                                                                                                   \
    INLINE void NAME##_nq(const int NQ, float *out, int64_t out_stride, int64_t n, const float *w,      \
                          const float *ms, const T *v, int64_t v_stride, int m) {                       \
        const int CB = NQ == 1 ? 8 : NQ == 2 ? 4 : NQ == 3 ? 3 : NQ == 4 ? 2 : 1;                       \
        int64_t i = 0;                                                                                  \
        for (; i + 8 * CB <= n; i += 8 * CB) NAME##_tile(NQ, CB, out, out_stride, i, w, ms, v, v_stride, m); \
        for (; i + 8 <= n; i += 8) NAME##_tile(NQ, 1, out, out_stride, i, w, ms, v, v_stride, m);       \
        for (; i < n; i++)                                                                              \
            for (int g = 0; g < NQ; g++) {                                                              \
                float acc = 0.0f;                                                                       \
                for (int j = 0; j < m; j++) acc = fmaf(w[g * SLM_ATT_CHUNK + j], LOAD1(v + j * v_stride + i), acc); \
                out[g * out_stride + i] = out[g * out_stride + i] * ms[g] + acc;                        \
            }                                                                                           \
    }                                                                                                   \
    static void NAME(float *out, int64_t out_stride, int64_t n, const float *w, const float *ms, int nq, \
                     const T *v, int64_t v_stride, int m) {                                             \
        for (; nq > 0; nq -= 8, out += 8 * out_stride, w += 8 * SLM_ATT_CHUNK, ms += 8) {               \
            switch (nq) {                                                                               \
            case 1: NAME##_nq(1, out, out_stride, n, w, ms, v, v_stride, m); break;                     \
            case 2: NAME##_nq(2, out, out_stride, n, w, ms, v, v_stride, m); break;                     \
            case 3: NAME##_nq(3, out, out_stride, n, w, ms, v, v_stride, m); break;                     \
            case 4: NAME##_nq(4, out, out_stride, n, w, ms, v, v_stride, m); break;                     \
            case 5: NAME##_nq(5, out, out_stride, n, w, ms, v, v_stride, m); break;                     \
            case 6: NAME##_nq(6, out, out_stride, n, w, ms, v, v_stride, m); break;                     \
            case 7: NAME##_nq(7, out, out_stride, n, w, ms, v, v_stride, m); break;                     \
            default: NAME##_nq(8, out, out_stride, n, w, ms, v, v_stride, m); break;                    \
            }                                                                                           \
        }                                                                                               \
    }
DEFINE_ACCUM(accum_f16, uint16_t, load8_f16, load1_f16)
DEFINE_ACCUM(accum_f32, float, load8_f32, load1_f32)

/* ---- SwiGLU ------------------------------------------------------------------- */

/* attention_kernels.c's swiglu on 8 lanes. */
INLINE __m256 swiglu8(__m256 z, __m256 up) {
    const __m256 zero = _mm256_setzero_ps();
    __m256 neg = _mm256_cmp_ps(z, zero, _CMP_LT_OQ);
    __m256 e = exp8(_mm256_blendv_ps(_mm256_xor_ps(z, _mm256_set1_ps(-0.0f)), z, neg));
    __m256 num = _mm256_blendv_ps(z, _mm256_mul_ps(z, e), neg);
    return _mm256_mul_ps(_mm256_div_ps(num, _mm256_add_ps(_mm256_set1_ps(1.0f), e)), up);
}

static void swiglu(float *gate, const float *up, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(gate + i, swiglu8(_mm256_loadu_ps(gate + i), _mm256_loadu_ps(up + i)));
    if (i == n) return;
    float g[8] = {0}, u[8] = {0};
    memcpy(g, gate + i, (size_t)(n - i) * sizeof *g);
    memcpy(u, up + i, (size_t)(n - i) * sizeof *u);
    _mm256_storeu_ps(g, swiglu8(_mm256_loadu_ps(g), _mm256_loadu_ps(u)));
    memcpy(gate + i, g, (size_t)(n - i) * sizeof *g);
}

void slm_kernels_avx2_attention(slm_kernels *k) {
    k->att_scores_f16 = scores_f16;
    k->att_scores_f32 = scores_f32;
    k->att_softmax = softmax;
    k->att_accum_f16 = accum_f16;
    k->att_accum_f32 = accum_f32;
    k->swiglu = swiglu;
}

#endif /* __x86_64__ */
