/* quant_legacy.c - block quantizers for the 32-element types (Q4_0, Q4_1,
 * Q5_0, Q5_1, Q8_0, IQ4_NL).  Layouts: src/types/dequant.c, kquants.h.
 *
 * Each block is fitted in float (fit.c), then its scale is rounded to fp16
 * as stored, and the quants are rounded again against the stored scale so
 * that what is written is the best rounding for what will be read. */
#include "quant/fit.h"
#include "quant/quant_rows.h"
#include "types/half.h"
#include "types/kquants.h"
#include "types/types.h"

static void put_f16(uint8_t *p, float v, float *stored) {
    uint16_t h = slm_f32_to_f16(v);
    p[0] = (uint8_t)(h & 0xff);
    p[1] = (uint8_t)(h >> 8);
    *stored = slm_f16_to_f32(h);
}

/* The low 4 bits of element j and j + 16 share byte j. */
static void pack_nibbles(const int *u, uint8_t *qs) {
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)((u[j] & 0x0f) | ((u[j + 16] & 0x0f) << 4));
}

static void pack_high_bits(const int *u, uint8_t *qh) {
    uint32_t h = 0;
    for (int j = 0; j < 32; j++) h |= (uint32_t)((u[j] >> 4) & 1) << j;
    for (int k = 0; k < 4; k++) qh[k] = (uint8_t)(h >> (8 * k));
}

/* Symmetric types: x = d * L, stored as L + offset. */
void slm_qblock_q4_0(const float *x, const float *w, bool wide, uint8_t *b) {
    int L[32], u[32];
    float d = slm_fit_sym(32, -8, 7, x, w, L, wide);
    put_f16(b, d, &d);
    slm_round_to_grid(32, -8, 7, x, d, 0.0f, L);
    for (int j = 0; j < 32; j++) u[j] = L[j] + 8;
    pack_nibbles(u, b + 2);
}

void slm_qblock_q5_0(const float *x, const float *w, bool wide, uint8_t *b) {
    int L[32], u[32];
    float d = slm_fit_sym(32, -16, 15, x, w, L, wide);
    put_f16(b, d, &d);
    slm_round_to_grid(32, -16, 15, x, d, 0.0f, L);
    for (int j = 0; j < 32; j++) u[j] = L[j] + 16;
    pack_high_bits(u, b + 2);
    pack_nibbles(u, b + 6);
}

void slm_qblock_q8_0(const float *x, const float *w, bool wide, uint8_t *b) {
    int L[32];
    float d = slm_fit_sym(32, -127, 127, x, w, L, wide);
    put_f16(b, d, &d);
    slm_round_to_grid(32, -127, 127, x, d, 0.0f, L);
    for (int j = 0; j < 32; j++) b[2 + j] = (uint8_t)(int8_t)L[j];
}

/* Affine types: x = d * u + m. */
static void affine_block(const float *x, const float *w, bool wide, int hi, uint8_t *b, float *d, float *m, int *u) {
    float mm = 0.0f;
    float dd = slm_fit_affine(32, hi, x, w, u, &mm, 0, wide);
    put_f16(b, dd, d);
    put_f16(b + 2, mm, m);
    slm_round_to_grid(32, 0, hi, x, *d, *m, u);
}

void slm_qblock_q4_1(const float *x, const float *w, bool wide, uint8_t *b) {
    int u[32];
    float d = 0.0f, m = 0.0f;
    affine_block(x, w, wide, 15, b, &d, &m, u);
    pack_nibbles(u, b + 4);
}

void slm_qblock_q5_1(const float *x, const float *w, bool wide, uint8_t *b) {
    int u[32];
    float d = 0.0f, m = 0.0f;
    affine_block(x, w, wide, 31, b, &d, &m, u);
    pack_high_bits(u, b + 4);
    pack_nibbles(u, b + 8);
}

void slm_qblock_iq4_nl(const float *x, const float *w, bool wide, uint8_t *b) {
    (void)wide; /* the codebook search is always wide */
    int idx[32];
    float d = slm_fit_codebook(32, slm_iq4nl_values, x, w, idx);
    put_f16(b, d, &d);
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < 32; j++) idx[j] = slm_nearest_code(slm_iq4nl_values, x[j] * id);
    pack_nibbles(idx, b + 2);
}

/* Grids of the blocks above, for error feedback (quant_rows.h). */
bool slm_qgrid_legacy(slm_type t, const uint8_t *b, slm_qgrid *g) {
    float d = slm_f16_to_f32((uint16_t)(b[0] | b[1] << 8)), m = 0.0f;
    g->sub = 32;
    switch (t) {
    case SLM_TYPE_Q4_0: g->lo = -8, g->hi = 7; break;
    case SLM_TYPE_Q5_0: g->lo = -16, g->hi = 15; break;
    case SLM_TYPE_Q8_0: g->lo = -128, g->hi = 127; break;
    case SLM_TYPE_Q4_1: g->lo = 0, g->hi = 15; break;
    case SLM_TYPE_Q5_1: g->lo = 0, g->hi = 31; break;
    default: return false;
    }
    if (t == SLM_TYPE_Q4_1 || t == SLM_TYPE_Q5_1) m = slm_f16_to_f32((uint16_t)(b[2] | b[3] << 8));
    g->step[0] = d, g->offset[0] = m;
    return true;
}

void slm_qset_legacy(slm_type t, uint8_t *b, const int *L) {
    int u[32];
    int off = t == SLM_TYPE_Q4_0 ? 8 : t == SLM_TYPE_Q5_0 ? 16 : 0;
    for (int j = 0; j < 32; j++) u[j] = L[j] + off;
    switch (t) {
    case SLM_TYPE_Q4_0: pack_nibbles(u, b + 2); break;
    case SLM_TYPE_Q5_0: pack_high_bits(u, b + 2), pack_nibbles(u, b + 6); break;
    case SLM_TYPE_Q8_0:
        for (int j = 0; j < 32; j++) b[2 + j] = (uint8_t)(int8_t)L[j];
        break;
    case SLM_TYPE_Q4_1: pack_nibbles(u, b + 4); break;
    case SLM_TYPE_Q5_1: pack_high_bits(u, b + 4), pack_nibbles(u, b + 8); break;
    default: break;
    }
}
