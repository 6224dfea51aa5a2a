/* kquants.c - scalar dequantizers and dot products for Q2_K, Q3_K, Q4_K,
 * Q5_K, IQ4_NL and IQ4_XS (layouts in kquants.h).
 *
 * Each block is first unpacked into plain integers (quants and sub-block
 * scales); the dequantizer then scales them in the same float order as
 * ggml, and the dot product sums integers exactly and applies the float
 * scales once per block, so the result is the dot product of the
 * dequantized weights with the dequantized activations up to float32
 * rounding. */
#include "types/kquants.h"

#include <string.h>

#include "types/half.h"

const int8_t slm_iq4nl_values[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

static float f16_at(const uint8_t *p) { return slm_f16_to_f32(slm_read_u16le(p)); }

/* ---- scale packing ------------------------------------------------------ */

void slm_kq_get_scale_min(const uint8_t *q, int j, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

void slm_kq_set_scale_min(uint8_t *q, int j, uint8_t sc, uint8_t m) {
    if (j < 4) {
        q[j] = (uint8_t)((q[j] & 0xc0) | (sc & 63));
        q[j + 4] = (uint8_t)((q[j + 4] & 0xc0) | (m & 63));
    } else {
        q[j + 4] = (uint8_t)((sc & 0x0f) | ((m & 0x0f) << 4));
        q[j - 4] = (uint8_t)((q[j - 4] & 63) | ((sc >> 4) << 6));
        q[j] = (uint8_t)((q[j] & 63) | ((m >> 4) << 6));
    }
}

int slm_q3_K_get_scale(const uint8_t *s, int j) {
    int lo = j < 8 ? (s[j] & 0x0f) : (s[j - 8] >> 4);
    int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
    return lo | (hi << 4);
}

void slm_q3_K_set_scale(uint8_t *s, int j, int v) {
    if (j < 8)
        s[j] = (uint8_t)((s[j] & 0xf0) | (v & 0x0f));
    else
        s[j - 8] = (uint8_t)((s[j - 8] & 0x0f) | ((v & 0x0f) << 4));
    int shift = 2 * (j / 4);
    s[8 + j % 4] = (uint8_t)((s[8 + j % 4] & ~(3 << shift)) | (((v >> 4) & 3) << shift));
}

/* ---- unpacking ---------------------------------------------------------- */

/* Q2_K / Q3_K low bits: the 2-bit value of each of the 256 elements. */
static void unpack_2bit_planes(const uint8_t *qs, int8_t *q) {
    for (int h = 0; h < 2; h++)
        for (int k = 0; k < 4; k++)
            for (int l = 0; l < 32; l++) q[128 * h + 32 * k + l] = (int8_t)((qs[32 * h + l] >> (2 * k)) & 3);
}

/* Q3_K: the signed 3-bit values (-4..3) and the 16 signed scales. */
static void unpack_q3_K(const uint8_t *b, int8_t *q, int *sc) {
    const uint8_t *hmask = b, *qs = b + 32, *scales = b + 96;
    unpack_2bit_planes(qs, q);
    for (int h = 0; h < 2; h++)
        for (int k = 0; k < 4; k++)
            for (int l = 0; l < 32; l++)
                if (!(hmask[l] & (1 << (4 * h + k)))) q[128 * h + 32 * k + l] -= 4;
    for (int j = 0; j < 16; j++) sc[j] = slm_q3_K_get_scale(scales, j) - 32;
}

/* Q4_K / Q5_K: the 4- or 5-bit values. */
static void unpack_4bit_planes(const uint8_t *qs, const uint8_t *qh, int8_t *q) {
    for (int j = 0; j < 4; j++)
        for (int l = 0; l < 32; l++) {
            int lo = qs[32 * j + l] & 0x0f, hi = qs[32 * j + l] >> 4;
            if (qh) {
                lo |= ((qh[l] >> (2 * j)) & 1) << 4;
                hi |= ((qh[l] >> (2 * j + 1)) & 1) << 4;
            }
            q[64 * j + l] = (int8_t)lo;
            q[64 * j + 32 + l] = (int8_t)hi;
        }
}

/* IQ4: codebook values of 32 elements from 16 bytes. */
static void unpack_iq4_32(const uint8_t *qs, int8_t *v) {
    for (int j = 0; j < 16; j++) {
        v[j] = slm_iq4nl_values[qs[j] & 0x0f];
        v[j + 16] = slm_iq4nl_values[qs[j] >> 4];
    }
}

static int iq4_xs_scale(const uint8_t *b, int ib) {
    int lo = (b[4 + ib / 2] >> (4 * (ib % 2))) & 0x0f;
    int hi = (slm_read_u16le(b + 2) >> (2 * ib)) & 3;
    return (lo | (hi << 4)) - 32;
}

/* ---- dequantization ----------------------------------------------------- */

void slm_dequant_q2_K(const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    int8_t q[256];
    for (int64_t i = 0; i < n; i += 256, b += 84, dst += 256) {
        float d = f16_at(b + 80), dmin = f16_at(b + 82);
        unpack_2bit_planes(b + 16, q);
        for (int j = 0; j < 16; j++) {
            float dl = d * (float)(b[j] & 0x0f), ml = dmin * (float)(b[j] >> 4);
            for (int l = 0; l < 16; l++) dst[16 * j + l] = dl * (float)q[16 * j + l] - ml;
        }
    }
}

void slm_dequant_q3_K(const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    int8_t q[256];
    int sc[16];
    for (int64_t i = 0; i < n; i += 256, b += 110, dst += 256) {
        float d = f16_at(b + 108);
        unpack_q3_K(b, q, sc);
        for (int j = 0; j < 16; j++) {
            float dl = d * (float)sc[j];
            for (int l = 0; l < 16; l++) dst[16 * j + l] = dl * (float)q[16 * j + l];
        }
    }
}

static void dequant_q45_K(const uint8_t *b, const uint8_t *qh, const uint8_t *qs, float *dst) {
    int8_t q[256];
    float d = f16_at(b), dmin = f16_at(b + 2);
    unpack_4bit_planes(qs, qh, q);
    for (int j = 0; j < 8; j++) {
        uint8_t sc = 0, m = 0;
        slm_kq_get_scale_min(b + 4, j, &sc, &m);
        float dl = d * (float)sc, ml = dmin * (float)m;
        for (int l = 0; l < 32; l++) dst[32 * j + l] = dl * (float)q[32 * j + l] - ml;
    }
}

void slm_dequant_q4_K(const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n; i += 256, b += 144, dst += 256) dequant_q45_K(b, NULL, b + 16, dst);
}

void slm_dequant_q5_K(const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n; i += 256, b += 176, dst += 256) dequant_q45_K(b, b + 16, b + 48, dst);
}

void slm_dequant_iq4_nl(const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    int8_t v[32];
    for (int64_t i = 0; i < n; i += 32, b += 18, dst += 32) {
        float d = f16_at(b);
        unpack_iq4_32(b + 2, v);
        for (int j = 0; j < 32; j++) dst[j] = d * (float)v[j];
    }
}

void slm_dequant_iq4_xs(const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    int8_t v[32];
    for (int64_t i = 0; i < n; i += 256, b += 136) {
        float d = f16_at(b);
        for (int ib = 0; ib < 8; ib++, dst += 32) {
            float dl = d * (float)iq4_xs_scale(b, ib);
            unpack_iq4_32(b + 8 + 16 * ib, v);
            for (int j = 0; j < 32; j++) dst[j] = dl * (float)v[j];
        }
    }
}

/* ---- dot products ------------------------------------------------------- */

/* Q8_K activation block: f32 d, i8 q[256], i16 bsums[16]. */
static float q8K_d(const uint8_t *y) {
    float d;
    memcpy(&d, y, sizeof d);
    return d;
}
static int q8K_bsum(const uint8_t *y, int j) {
    int16_t v;
    memcpy(&v, y + 260 + 2 * j, sizeof v);
    return v;
}

static int idot(const int8_t *a, const int8_t *b, int n) {
    int s = 0;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

float slm_vec_dot_q2_K_q8_K(const void *w, const void *a, int64_t n) {
    const uint8_t *x = w, *y = a;
    int8_t q[256];
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i += 256, x += 84, y += 292) {
        const int8_t *q8 = (const int8_t *)(y + 4);
        unpack_2bit_planes(x + 16, q);
        int isum = 0, summs = 0;
        for (int j = 0; j < 16; j++) {
            isum += (x[j] & 0x0f) * idot(q + 16 * j, q8 + 16 * j, 16);
            summs += (x[j] >> 4) * q8K_bsum(y, j);
        }
        float dy = q8K_d(y);
        sum += (dy * f16_at(x + 80)) * (float)isum - (dy * f16_at(x + 82)) * (float)summs;
    }
    return sum;
}

float slm_vec_dot_q3_K_q8_K(const void *w, const void *a, int64_t n) {
    const uint8_t *x = w, *y = a;
    int8_t q[256];
    int sc[16];
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i += 256, x += 110, y += 292) {
        const int8_t *q8 = (const int8_t *)(y + 4);
        unpack_q3_K(x, q, sc);
        int isum = 0;
        for (int j = 0; j < 16; j++) isum += sc[j] * idot(q + 16 * j, q8 + 16 * j, 16);
        sum += (f16_at(x + 108) * q8K_d(y)) * (float)isum;
    }
    return sum;
}

static float dot_q45_K_block(const uint8_t *x, const uint8_t *qh, const uint8_t *qs, const uint8_t *y) {
    int8_t q[256];
    const int8_t *q8 = (const int8_t *)(y + 4);
    unpack_4bit_planes(qs, qh, q);
    int isum = 0, summs = 0;
    for (int j = 0; j < 8; j++) {
        uint8_t sc = 0, m = 0;
        slm_kq_get_scale_min(x + 4, j, &sc, &m);
        isum += sc * idot(q + 32 * j, q8 + 32 * j, 32);
        summs += m * (q8K_bsum(y, 2 * j) + q8K_bsum(y, 2 * j + 1));
    }
    float dy = q8K_d(y);
    return (f16_at(x) * dy) * (float)isum - (f16_at(x + 2) * dy) * (float)summs;
}

float slm_vec_dot_q4_K_q8_K(const void *w, const void *a, int64_t n) {
    const uint8_t *x = w, *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i += 256, x += 144, y += 292) sum += dot_q45_K_block(x, NULL, x + 16, y);
    return sum;
}

float slm_vec_dot_q5_K_q8_K(const void *w, const void *a, int64_t n) {
    const uint8_t *x = w, *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i += 256, x += 176, y += 292) sum += dot_q45_K_block(x, x + 16, x + 48, y);
    return sum;
}

float slm_vec_dot_iq4_nl_q8_0(const void *w, const void *a, int64_t n) {
    const uint8_t *x = w, *y = a;
    int8_t v[32];
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i += 32, x += 18, y += 34) {
        unpack_iq4_32(x + 2, v);
        int isum = idot(v, (const int8_t *)(y + 2), 32);
        sum += (f16_at(y) * f16_at(x)) * (float)isum;
    }
    return sum;
}

float slm_vec_dot_iq4_xs_q8_K(const void *w, const void *a, int64_t n) {
    const uint8_t *x = w, *y = a;
    int8_t v[32];
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i += 256, x += 136, y += 292) {
        const int8_t *q8 = (const int8_t *)(y + 4);
        int isum = 0;
        for (int ib = 0; ib < 8; ib++) {
            unpack_iq4_32(x + 8 + 16 * ib, v);
            isum += iq4_xs_scale(x, ib) * idot(v, q8 + 32 * ib, 32);
        }
        sum += (f16_at(x) * q8K_d(y)) * (float)isum;
    }
    return sum;
}
