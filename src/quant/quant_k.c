/* quant_k.c - block quantizers for the 256-element super-block types
 * (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS).  Layouts: kquants.h, dequant_k.c.
 *
 * A super-block holds 8 or 16 sub-blocks, each with a small integer scale
 * (and min) times one fp16 super-scale.  The search:
 *   1. fit each sub-block alone in float (fit.c);
 *   2. fit the sub-block scales (and mins) to their integer grid, weighted
 *      by each sub-block's total importance;
 *   3. alternate, keeping the best state by total weighted error:
 *      re-round the quants against the stored (fp16) scales, refit the
 *      super-scales by least squares, re-pick each integer sub-scale.
 * llama.cpp stops after step 2 (and without an imatrix, uses max-scaling
 * for the sub-scales); step 3 is where most of the extra accuracy comes
 * from. */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "quant/fit.h"
#include "quant/quant_rows.h"
#include "types/half.h"
#include "types/kquants.h"
#include "types/types.h"

typedef enum kq_kind { KQ_SYM, KQ_AFFINE, KQ_CODEBOOK } kq_kind;

typedef struct kq_format {
    kq_kind kind;
    int sub;      /* elements per sub-block */
    int lo, hi;   /* element grid (KQ_CODEBOOK: unused) */
    int slo, shi; /* sub-block scale grid */
    int mhi;      /* sub-block min grid 0..mhi (KQ_AFFINE) */
} kq_format;

typedef struct kq_state {
    float D, Dm;   /* stored (fp16-rounded) super-scales */
    int Ls[16], Lm[16];
    int L[256];    /* grid values, or codebook indices */
    double err;
} kq_state;

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }
static float f16r(float v) { return slm_f16_to_f32(slm_f32_to_f16(v)); }

static float qvalue(const kq_format *f, int l) { return f->kind == KQ_CODEBOOK ? (float)slm_iq4nl_values[l] : (float)l; }

/* Rounds the quants of sub-block j against its effective scale and min. */
static void round_sub(const kq_format *f, const float *x, float scale, float min, int *L) {
    if (f->kind == KQ_CODEBOOK) {
        float id = scale != 0.0f ? 1.0f / scale : 0.0f;
        for (int i = 0; i < f->sub; i++) L[i] = slm_nearest_code(slm_iq4nl_values, x[i] * id);
        return;
    }
    slm_round_to_grid(f->sub, f->lo, f->hi, x, scale, min, L);
}

/* x ~ D*Ls*q - Dm*Lm: re-rounds every quant and returns the error. */
static double settle(const kq_format *f, const float *x, const float *w, kq_state *s) {
    double err[4] = {0, 0, 0, 0}; /* four running sums (sub % 4 == 0): no long chain of dependent adds */
    for (int j = 0; j < 256 / f->sub; j++) {
        float scale = s->D * (float)s->Ls[j], min = -(s->Dm * (float)s->Lm[j]);
        int *L = s->L + j * f->sub;
        const float *xj = x + j * f->sub, *wj = w + j * f->sub;
        round_sub(f, xj, scale, min, L);
        for (int i = 0; i < f->sub; i += 4)
            for (int k = 0; k < 4; k++) {
                double e = (double)scale * qvalue(f, L[i + k]) + min - xj[i + k];
                err[k] += wj[i + k] * e * e;
            }
    }
    return s->err = (err[0] + err[1]) + (err[2] + err[3]);
}

/* Least-squares super-scales for the current integers (fp16-rounded). */
static void refit_super(const kq_format *f, const float *x, const float *w, kq_state *s) {
    double saa = 0, sab = 0, sbb = 0, sxa = 0, sxb = 0;
    for (int j = 0; j < 256 / f->sub; j++)
        for (int i = j * f->sub; i < (j + 1) * f->sub; i++) {
            double a = (double)s->Ls[j] * qvalue(f, s->L[i]), bb = f->kind == KQ_AFFINE ? -(double)s->Lm[j] : 0;
            saa += w[i] * a * a, sab += w[i] * a * bb, sbb += w[i] * bb * bb;
            sxa += w[i] * x[i] * a, sxb += w[i] * x[i] * bb;
        }
    double D = saa > 0 ? sxa / saa : 0, Dm = 0;
    if (f->kind == KQ_AFFINE && sbb > 0) {
        double det = saa * sbb - sab * sab;
        if (det > 1e-12 * saa * sbb) {
            D = (sxa * sbb - sxb * sab) / det;
            Dm = (saa * sxb - sab * sxa) / det;
        }
        if (Dm < 0) Dm = 0, D = saa > 0 ? sxa / saa : 0;
    }
    s->D = f16r((float)D);
    s->Dm = f16r((float)Dm);
}

/* Best integer sub-scale (and min) of each sub-block for the current quants. */
static void repick_subscales(const kq_format *f, const float *x, const float *w, kq_state *s) {
    for (int j = 0; j < 256 / f->sub; j++) {
        const float *xj = x + j * f->sub, *wj = w + j * f->sub;
        const int *L = s->L + j * f->sub;
        double sw = 0, sq = 0, sq2 = 0, sxq = 0, sx = 0;
        for (int i = 0; i < f->sub; i++) {
            double q = qvalue(f, L[i]);
            sw += wj[i], sq += wj[i] * q, sq2 += wj[i] * q * q, sxq += wj[i] * xj[i] * q, sx += wj[i] * xj[i];
        }
        double min = -(double)s->Dm * s->Lm[j];
        if (s->D != 0.0f && sq2 > 0) s->Ls[j] = clampi(slm_qround((float)((sxq - min * sq) / (s->D * sq2))), f->slo, f->shi);
        if (f->kind == KQ_AFFINE && s->Dm != 0.0f && sw > 0) {
            double scale = (double)s->D * s->Ls[j];
            s->Lm[j] = clampi(slm_qround((float)((scale * sq - sx) / (s->Dm * sw))), 0, f->mhi);
        }
    }
}

static void kq_search(const kq_format *f, const float *x, const float *w, bool wide, kq_state *best) {
    int nsub = 256 / f->sub;
    float s[16], m[16], sw[16];
    int tmp[256];
    for (int j = 0; j < nsub; j++) {
        const float *xj = x + j * f->sub, *wj = w + j * f->sub;
        float mm = 0.0f;
        if (f->kind == KQ_SYM) s[j] = slm_fit_sym(f->sub, f->lo, f->hi, xj, wj, tmp, wide);
        else if (f->kind == KQ_AFFINE) s[j] = slm_fit_affine(f->sub, f->hi, xj, wj, tmp, &mm, 1, wide);
        else s[j] = slm_fit_codebook(f->sub, slm_iq4nl_values, xj, wj, tmp);
        m[j] = -mm;
        sw[j] = 0.0f;
        for (int i = 0; i < f->sub; i++) sw[j] += wj[i];
        if (!(sw[j] > 0.0f)) sw[j] = 1e-30f;
    }
    kq_state cur;
    memset(&cur, 0, sizeof cur);
    cur.D = f16r(slm_fit_sym(nsub, f->slo, f->shi, s, sw, cur.Ls, false));
    if (f->kind == KQ_AFFINE) cur.Dm = f16r(slm_fit_sym(nsub, 0, f->mhi, m, sw, cur.Lm, false));
    settle(f, x, w, &cur);
    *best = cur;
    for (int round = 0; round < 4; round++) {
        refit_super(f, x, w, &cur);
        settle(f, x, w, &cur);
        repick_subscales(f, x, w, &cur);
        settle(f, x, w, &cur);
        if (!(cur.err < best->err * (1 - 1e-7))) break;
        *best = cur;
    }
}

static void put_f16(uint8_t *p, float v) {
    uint16_t h = slm_f32_to_f16(v);
    p[0] = (uint8_t)(h & 0xff);
    p[1] = (uint8_t)(h >> 8);
}

/* 2-bit planes: element 128h + 32k + l -> bits 2k of qs[32h + l]. */
static void pack_2bit_planes(const int *u, uint8_t *qs) {
    memset(qs, 0, 64);
    for (int h = 0; h < 2; h++)
        for (int k = 0; k < 4; k++)
            for (int l = 0; l < 32; l++) qs[32 * h + l] |= (uint8_t)((u[128 * h + 32 * k + l] & 3) << (2 * k));
}

/* 4-bit planes: element 64j + l -> low nibble of qs[32j + l], 64j + 32 + l -> high. */
static void pack_4bit_planes(const int *u, uint8_t *qs) {
    for (int j = 0; j < 4; j++)
        for (int l = 0; l < 32; l++) qs[32 * j + l] = (uint8_t)((u[64 * j + l] & 15) | ((u[64 * j + 32 + l] & 15) << 4));
}

void slm_qblock_q2_K(const float *x, const float *w, bool wide, uint8_t *b) {
    static const kq_format f = {KQ_AFFINE, 16, 0, 3, 0, 15, 15};
    kq_state s;
    kq_search(&f, x, w, wide, &s);
    for (int j = 0; j < 16; j++) b[j] = (uint8_t)(s.Ls[j] | (s.Lm[j] << 4));
    pack_2bit_planes(s.L, b + 16);
    put_f16(b + 80, s.D);
    put_f16(b + 82, s.Dm);
}

void slm_qblock_q3_K(const float *x, const float *w, bool wide, uint8_t *b) {
    static const kq_format f = {KQ_SYM, 16, -4, 3, -32, 31, 0};
    kq_state s;
    kq_search(&f, x, w, wide, &s);
    int u[256];
    memset(b, 0, 110);
    for (int i = 0; i < 256; i++) u[i] = s.L[i] + 4;
    for (int h = 0; h < 2; h++)
        for (int k = 0; k < 4; k++)
            for (int l = 0; l < 32; l++)
                if (u[128 * h + 32 * k + l] & 4) b[l] |= (uint8_t)(1 << (4 * h + k));
    pack_2bit_planes(u, b + 32);
    for (int j = 0; j < 16; j++) slm_q3_K_set_scale(b + 96, j, s.Ls[j] + 32);
    put_f16(b + 108, s.D);
}

static void pack_q5_K_quants(const int *L, uint8_t *b) {
    uint8_t *qh = b + 16;
    memset(qh, 0, 32);
    for (int j = 0; j < 4; j++)
        for (int l = 0; l < 32; l++) {
            qh[l] |= (uint8_t)(((L[64 * j + l] >> 4) & 1) << (2 * j));
            qh[l] |= (uint8_t)(((L[64 * j + 32 + l] >> 4) & 1) << (2 * j + 1));
        }
    pack_4bit_planes(L, b + 48);
}

static void qblock_q45_K(const float *x, const float *w, bool wide, uint8_t *b, int hi) {
    const kq_format f = {KQ_AFFINE, 32, 0, hi, 0, 63, 63};
    kq_state s;
    kq_search(&f, x, w, wide, &s);
    put_f16(b, s.D);
    put_f16(b + 2, s.Dm);
    memset(b + 4, 0, 12);
    for (int j = 0; j < 8; j++) slm_kq_set_scale_min(b + 4, j, (uint8_t)s.Ls[j], (uint8_t)s.Lm[j]);
    if (hi == 15) pack_4bit_planes(s.L, b + 16);
    else pack_q5_K_quants(s.L, b);
}

void slm_qblock_q4_K(const float *x, const float *w, bool wide, uint8_t *b) { qblock_q45_K(x, w, wide, b, 15); }
void slm_qblock_q5_K(const float *x, const float *w, bool wide, uint8_t *b) { qblock_q45_K(x, w, wide, b, 31); }

/* Q6_K quants (grid -32..31) into ql[128] and qh[64]. */
static void pack_q6_K_quants(const int *L, uint8_t *b) {
    memset(b, 0, 192);
    for (int half = 0; half < 2; half++) {
        uint8_t *ql = b + 64 * half, *qh = b + 128 + 32 * half;
        for (int k = 0; k < 4; k++)
            for (int l = 0; l < 32; l++) {
                int u = L[128 * half + 32 * k + l] + 32;
                ql[l + 32 * (k % 2)] |= (uint8_t)((u & 15) << (k < 2 ? 0 : 4));
                qh[l] |= (uint8_t)(((u >> 4) & 3) << (2 * k));
            }
    }
}

void slm_qblock_q6_K(const float *x, const float *w, bool wide, uint8_t *b) {
    static const kq_format f = {KQ_SYM, 16, -32, 31, -128, 127, 0};
    kq_state s;
    kq_search(&f, x, w, wide, &s);
    pack_q6_K_quants(s.L, b);
    for (int j = 0; j < 16; j++) b[192 + j] = (uint8_t)(int8_t)s.Ls[j];
    put_f16(b + 208, s.D);
}

void slm_qblock_iq4_xs(const float *x, const float *w, bool wide, uint8_t *b) {
    static const kq_format f = {KQ_CODEBOOK, 32, 0, 0, -32, 31, 0};
    kq_state s;
    kq_search(&f, x, w, wide, &s);
    memset(b, 0, 136);
    put_f16(b, s.D);
    uint16_t sh = 0;
    for (int ib = 0; ib < 8; ib++) {
        int v = s.Ls[ib] + 32;
        b[4 + ib / 2] |= (uint8_t)((v & 15) << (4 * (ib % 2)));
        sh |= (uint16_t)(((v >> 4) & 3) << (2 * ib));
    }
    b[2] = (uint8_t)(sh & 0xff);
    b[3] = (uint8_t)(sh >> 8);
    for (int ib = 0; ib < 8; ib++)
        for (int j = 0; j < 16; j++)
            b[8 + 16 * ib + j] = (uint8_t)(s.L[32 * ib + j] | (s.L[32 * ib + 16 + j] << 4));
}

static float get_f16(const uint8_t *p) { return slm_f16_to_f32((uint16_t)(p[0] | p[1] << 8)); }

/* Grids of the Q4_K, Q5_K and Q6_K blocks above, for error feedback (quant_rows.h). */
bool slm_qgrid_k(slm_type t, const uint8_t *b, slm_qgrid *g) {
    if (t == SLM_TYPE_Q6_K) {
        float D = get_f16(b + 208);
        *g = (slm_qgrid){.lo = -32, .hi = 31, .sub = 16};
        for (int j = 0; j < 16; j++) g->step[j] = D * (float)(int8_t)b[192 + j], g->offset[j] = 0.0f;
        return true;
    }
    if (t != SLM_TYPE_Q4_K && t != SLM_TYPE_Q5_K) return false;
    float D = get_f16(b), Dm = get_f16(b + 2);
    *g = (slm_qgrid){.lo = 0, .hi = t == SLM_TYPE_Q4_K ? 15 : 31, .sub = 32};
    for (int j = 0; j < 8; j++) {
        uint8_t sc = 0, m = 0;
        slm_kq_get_scale_min(b + 4, j, &sc, &m);
        g->step[j] = D * (float)sc, g->offset[j] = -(Dm * (float)m);
    }
    return true;
}

void slm_qset_k(slm_type t, uint8_t *b, const int *L) {
    if (t == SLM_TYPE_Q4_K) pack_4bit_planes(L, b + 16);
    else if (t == SLM_TYPE_Q5_K) pack_q5_K_quants(L, b);
    else if (t == SLM_TYPE_Q6_K) pack_q6_K_quants(L, b);
}
