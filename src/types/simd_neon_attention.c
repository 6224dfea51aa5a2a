/* simd_neon_attention.c - NEON versions of the chunked attention kernels
 * (aarch64 only; gemm.c registers them after slm_kernels_neon).  Each
 * reproduces attention_kernels.c bit for bit, as simd_avx2_attention.c does
 * (vfmaq where the reference calls fmaf, and nowhere else):
 * the reference's 8 lanes are two vectors (lo = lanes 0-3, hi = 4-7), and
 * max is spelled as a compare and select, because NEON's vmaxq/vminq order
 * -0 and +0 where the reference (x86's maxps) takes the second operand.
 *
 *   scores   4 keys of one query at a time, pairwise adds for the final sum.
 *   softmax  the 16 scores of a chunk in four vectors; exp on 4 lanes.
 *   accum    blocks of output columns of up to 8 queries in registers while
 *            the chunk's value rows stream by. */
#include "types/gemm.h"

#if defined(__aarch64__)

#include <arm_neon.h>
#include <string.h>
#include <math.h>

#include "types/half.h"

#define INLINE static inline __attribute__((always_inline))

INLINE float32x4_t load4_f16(const uint16_t *p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }
INLINE float32x4_t load4_f32(const float *p) { return vld1q_f32(p); }
INLINE float load1_f16(const uint16_t *p) { return slm_f16_to_f32(*p); }
INLINE float load1_f32(const float *p) { return *p; }

/* a > b ? a : b, lane by lane */
INLINE float32x4_t max4(float32x4_t a, float32x4_t b) { return vbslq_f32(vcgtq_f32(a, b), a, b); }
INLINE float32x2_t max2v(float32x2_t a, float32x2_t b) { return vbsl_f32(vcgt_f32(a, b), a, b); }

/* ---- scores ------------------------------------------------------------------- */

/* slm_dot_f32's order for one key. */
#define DEFINE_DOT1(NAME, T, LOAD4, LOAD1)                                                              \
    static float NAME(const T *k, const float *q, int64_t n) {                                          \
        float32x4_t lo = vdupq_n_f32(0.0f), hi = vdupq_n_f32(0.0f);                                     \
        int64_t i = 0;                                                                                  \
        for (; i + 8 <= n; i += 8) {                                                                    \
            lo = vfmaq_f32(lo, LOAD4(k + i), vld1q_f32(q + i));                              \
            hi = vfmaq_f32(hi, LOAD4(k + i + 4), vld1q_f32(q + i + 4));                      \
        }                                                                                               \
        float lane[8];                                                                                  \
        vst1q_f32(lane, lo);                                                                            \
        vst1q_f32(lane + 4, hi);                                                                        \
        for (int j = 0; i < n; i++, j++) lane[j] = fmaf(LOAD1(k + i), q[i], lane[j]);                                \
        return ((lane[0] + lane[4]) + (lane[1] + lane[5])) + ((lane[2] + lane[6]) + (lane[3] + lane[7])); \
    }
DEFINE_DOT1(dot1_f16, uint16_t, load4_f16, load1_f16)
DEFINE_DOT1(dot1_f32, float, load4_f32, load1_f32)

/* 4 keys x 1 query (n a multiple of 8): lane j of the result is key j's
 * ((l0+l4)+(l1+l5))+((l2+l6)+(l3+l7)) -- lo + hi, then two pairwise adds. */
#define DEFINE_DOT4(NAME, T, LOAD4)                                                                      \
    INLINE float32x4_t NAME(const T *k, int64_t k_stride, const float *q, int64_t n) {                  \
        float32x4_t lo[4], hi[4];                                                                       \
        for (int j = 0; j < 4; j++) lo[j] = hi[j] = vdupq_n_f32(0.0f);                                  \
        for (int64_t i = 0; i < n; i += 8) {                                                            \
            float32x4_t q0 = vld1q_f32(q + i), q1 = vld1q_f32(q + i + 4);                               \
            for (int j = 0; j < 4; j++) {                                                               \
                lo[j] = vfmaq_f32(lo[j], LOAD4(k + j * k_stride + i), q0);                   \
                hi[j] = vfmaq_f32(hi[j], LOAD4(k + j * k_stride + i + 4), q1);               \
            }                                                                                           \
        }                                                                                               \
        float32x4_t t0 = vaddq_f32(lo[0], hi[0]), t1 = vaddq_f32(lo[1], hi[1]);                         \
        float32x4_t t2 = vaddq_f32(lo[2], hi[2]), t3 = vaddq_f32(lo[3], hi[3]);                         \
        return vpaddq_f32(vpaddq_f32(t0, t1), vpaddq_f32(t2, t3));                                      \
    }
DEFINE_DOT4(dot4_f16, uint16_t, load4_f16)
DEFINE_DOT4(dot4_f32, float, load4_f32)

#define DEFINE_SCORES(NAME, T, DOT4, DOT1)                                                               \
    static void NAME(const T *k, int64_t k_stride, int m, const float *q, int64_t q_stride, int nq,      \
                     int64_t n, float scale, float *s) {                                                \
        for (int g = 0; g < nq; g++, q += q_stride, s += SLM_ATT_CHUNK) {                               \
            int j = 0;                                                                                  \
            if (n % 8 == 0)                                                                             \
                for (; j + 4 <= m; j += 4)                                                              \
                    vst1q_f32(s + j, vmulq_n_f32(DOT4(k + j * k_stride, k_stride, q, n), scale));       \
            for (; j < m; j++) s[j] = DOT1(k + j * k_stride, q, n) * scale;                             \
        }                                                                                               \
    }
DEFINE_SCORES(scores_f16, uint16_t, dot4_f16, dot1_f16)
DEFINE_SCORES(scores_f32, float, dot4_f32, dot1_f32)

/* ---- softmax ------------------------------------------------------------------ */

/* attention_kernels.c's att_exp on 4 lanes. */
INLINE float32x4_t exp4(float32x4_t x) {
    uint32x4_t ok = vcgeq_f32(x, vdupq_n_f32(-87.0f));
    float32x4_t zero = vdupq_n_f32(0.0f);
    x = vbslq_f32(vcltq_f32(x, zero), x, zero);
    float32x4_t t = vmulq_f32(x, vdupq_n_f32(1.44269504088896341f));
    float32x4_t magic = vdupq_n_f32(12582912.0f);
    float32x4_t n = vsubq_f32(vaddq_f32(t, magic), magic);
    float32x4_t r = vsubq_f32(vsubq_f32(x, vmulq_f32(n, vdupq_n_f32(0.693359375f))),
                              vmulq_f32(n, vdupq_n_f32(-2.12194440e-4f)));
    float32x4_t p = vdupq_n_f32(1.9875691500e-4f);
    p = vaddq_f32(vmulq_f32(p, r), vdupq_n_f32(1.3981999507e-3f));
    p = vaddq_f32(vmulq_f32(p, r), vdupq_n_f32(8.3334519073e-3f));
    p = vaddq_f32(vmulq_f32(p, r), vdupq_n_f32(4.1665795894e-2f));
    p = vaddq_f32(vmulq_f32(p, r), vdupq_n_f32(1.6666665459e-1f));
    p = vaddq_f32(vmulq_f32(p, r), vdupq_n_f32(5.0000001201e-1f));
    float32x4_t y = vaddq_f32(vaddq_f32(vmulq_f32(p, vmulq_f32(r, r)), r), vdupq_n_f32(1.0f));
    int32x4_t bits = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
    float32x4_t e = vmulq_f32(y, vreinterpretq_f32_s32(bits));
    return vreinterpretq_f32_u32(vandq_u32(ok, vreinterpretq_u32_f32(e)));
}

static void softmax(float *s, int m, int nq, float *max, float *sum, float *ms) {
    const int32_t idx_init[4] = {0, 1, 2, 3};
    const int32x4_t idx = vld1q_s32(idx_init);
    uint32x4_t ok[4];
    for (int v = 0; v < 4; v++) ok[v] = vcgtq_s32(vdupq_n_s32(m - 4 * v), idx);
    const float32x4_t ninf = vdupq_n_f32(-INFINITY);
    for (int g = 0; g < nq; g++, s += SLM_ATT_CHUNK) {
        float32x4_t x[4];
        for (int v = 0; v < 4; v++) x[v] = vbslq_f32(ok[v], vld1q_f32(s + 4 * v), ninf);
        /* lanes l = positions l and l + 8: (x0, x2) and (x1, x3) */
        float32x4_t l = max4(max4(x[0], x[2]), max4(x[1], x[3]));
        float32x2_t h = max2v(vget_low_f32(l), vget_high_f32(l));
        float a = vget_lane_f32(h, 0), b = vget_lane_f32(h, 1);
        float chunk_max = a > b ? a : b;
        float top = max[g] > chunk_max ? max[g] : chunk_max;
        float32x4_t topv = vdupq_n_f32(top);
        for (int v = 0; v < 4; v++) {
            x[v] = exp4(vsubq_f32(x[v], topv));
            vst1q_f32(s + 4 * v, x[v]);
        }
        float32x4_t sl = vaddq_f32(vaddq_f32(x[0], x[2]), vaddq_f32(x[1], x[3]));
        float32x2_t hs = vadd_f32(vget_low_f32(sl), vget_high_f32(sl));
        float chunk_sum = vget_lane_f32(hs, 0) + vget_lane_f32(hs, 1);
        float scale = vgetq_lane_f32(exp4(vdupq_n_f32(max[g] - top)), 0);
        ms[g] = scale;
        sum[g] = sum[g] * scale + chunk_sum;
        max[g] = top;
    }
}

/* ---- weighted values ---------------------------------------------------------- */

/* NQ queries x CB vectors of 4 columns in registers (about 16 independent
 * FMA chains); the columns left over 4 at a time, then one by one. */
#define DEFINE_ACCUM(NAME, T, LOAD4, LOAD1)                                                              \
    INLINE void NAME##_tile(const int NQ, const int CB, float *out, int64_t out_stride, int64_t i,        \
                            const float *w, const float *ms, const T *v, int64_t v_stride, int m) {      \
        float32x4_t acc[8][16];                                                                         \
        for (int g = 0; g < NQ; g++)                                                                    \
            for (int c = 0; c < CB; c++) acc[g][c] = vdupq_n_f32(0.0f);                                 \
        for (int j = 0; j < m; j++)                                                                     \
            for (int c = 0; c < CB; c++) {                                                              \
                float32x4_t vj = LOAD4(v + j * v_stride + i + 4 * c);                                   \
                for (int g = 0; g < NQ; g++) acc[g][c] = vfmaq_n_f32(acc[g][c], vj, w[g * SLM_ATT_CHUNK + j]); \
            }                                                                                           \
        for (int g = 0; g < NQ; g++)                                                                    \
            for (int c = 0; c < CB; c++) {                                                              \
                float *o = out + g * out_stride + i + 4 * c;                                            \
                vst1q_f32(o, vaddq_f32(vmulq_n_f32(vld1q_f32(o), ms[g]), acc[g][c]));                   \
            }                                                                                           \
    }                                                                                                   \
    INLINE void NAME##_nq(const int NQ, float *out, int64_t out_stride, int64_t n, const float *w,      \
                          const float *ms, const T *v, int64_t v_stride, int m) {                       \
        const int CB = NQ == 1 ? 16 : NQ == 2 ? 8 : NQ <= 4 ? 4 : 2;                                    \
        int64_t i = 0;                                                                                  \
        for (; i + 4 * CB <= n; i += 4 * CB) NAME##_tile(NQ, CB, out, out_stride, i, w, ms, v, v_stride, m); \
        for (; i + 4 <= n; i += 4) NAME##_tile(NQ, 1, out, out_stride, i, w, ms, v, v_stride, m);       \
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
DEFINE_ACCUM(accum_f16, uint16_t, load4_f16, load1_f16)
DEFINE_ACCUM(accum_f32, float, load4_f32, load1_f32)

/* ---- SwiGLU ------------------------------------------------------------------- */

/* attention_kernels.c's swiglu on 4 lanes. */
INLINE float32x4_t swiglu4(float32x4_t z, float32x4_t up) {
    uint32x4_t neg = vcltq_f32(z, vdupq_n_f32(0.0f));
    float32x4_t e = exp4(vbslq_f32(neg, z, vnegq_f32(z)));
    float32x4_t num = vbslq_f32(neg, vmulq_f32(z, e), z);
    return vmulq_f32(vdivq_f32(num, vaddq_f32(vdupq_n_f32(1.0f), e)), up);
}

static void swiglu(float *gate, const float *up, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(gate + i, swiglu4(vld1q_f32(gate + i), vld1q_f32(up + i)));
    if (i == n) return;
    float g[4] = {0}, u[4] = {0};
    memcpy(g, gate + i, (size_t)(n - i) * sizeof *g);
    memcpy(u, up + i, (size_t)(n - i) * sizeof *u);
    vst1q_f32(g, swiglu4(vld1q_f32(g), vld1q_f32(u)));
    memcpy(gate + i, g, (size_t)(n - i) * sizeof *g);
}

void slm_kernels_neon_attention(slm_kernels *k) {
    k->att_scores_f16 = scores_f16;
    k->att_scores_f32 = scores_f32;
    k->att_softmax = softmax;
    k->att_accum_f16 = accum_f16;
    k->att_accum_f32 = accum_f32;
    k->swiglu = swiglu;
}

#endif /* __aarch64__ */
