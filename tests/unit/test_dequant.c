/* test_dequant.c - dequantizers on hand-built blocks, the activation
 * quantizers on hand-computed values, and each quantized dot kernel against
 * the float dot of the dequantized operands. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "types/dot.h"
#include "types/half.h"
#include "types/quantize_act.h"
#include "types/types.h"

#define F16_HALF 0x3800 /* 0.5 */
#define F16_ONE 0x3C00
#define F16_TWO 0x4000
#define F16_MINUS_ONE 0xBC00

static void put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void dequant(slm_type t, const void *src, float *dst, int64_t n) { slm_type_traits_of(t)->to_float(src, dst, n); }

/* nibbles: qs[j] = j | (15 - j) << 4, so element j holds j and j + 16 holds 15 - j */
static void fill_nibbles(uint8_t *qs) {
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)(j | (15 - j) << 4);
}

static void test_q4_0_q4_1(void **state) {
    (void)state;
    uint8_t b0[18], b1[20];
    float x[32];
    put16(b0, F16_HALF);
    fill_nibbles(b0 + 2);
    dequant(SLM_TYPE_Q4_0, b0, x, 32);
    for (int j = 0; j < 16; j++) {
        assert_float_equal(x[j], 0.5 * (j - 8), 0);
        assert_float_equal(x[j + 16], 0.5 * (7 - j), 0);
    }
    put16(b1, F16_HALF);
    put16(b1 + 2, F16_ONE);
    fill_nibbles(b1 + 4);
    dequant(SLM_TYPE_Q4_1, b1, x, 32);
    for (int j = 0; j < 16; j++) {
        assert_float_equal(x[j], 0.5 * j + 1, 0);
        assert_float_equal(x[j + 16], 0.5 * (15 - j) + 1, 0);
    }
}

static void test_q5_0_q5_1(void **state) {
    (void)state;
    uint8_t b0[22], b1[24];
    float x[32];
    put16(b0, F16_TWO);
    const uint8_t qh0[4] = {0x01, 0, 0, 0x80}; /* bits 0 and 31 */
    memcpy(b0 + 2, qh0, 4);
    fill_nibbles(b0 + 6);
    dequant(SLM_TYPE_Q5_0, b0, x, 32);
    assert_float_equal(x[0], 0, 0);   /* 0 | 16 - 16 */
    assert_float_equal(x[5], -22, 0); /* 2 * (5 - 16) */
    assert_float_equal(x[16], -2, 0); /* 2 * (15 - 16) */
    assert_float_equal(x[31], 0, 0);  /* 2 * ((0 | 16) - 16) */
    put16(b1, F16_ONE);
    put16(b1 + 2, F16_MINUS_ONE);
    memset(b1 + 4, 0xff, 4);
    fill_nibbles(b1 + 8);
    dequant(SLM_TYPE_Q5_1, b1, x, 32);
    for (int j = 0; j < 16; j++) {
        assert_float_equal(x[j], j + 15, 0);
        assert_float_equal(x[j + 16], 30 - j, 0);
    }
}

static void test_q8_0_f16_bf16(void **state) {
    (void)state;
    uint8_t b[34];
    float x[32];
    put16(b, F16_HALF);
    for (int j = 0; j < 32; j++) b[2 + j] = (uint8_t)(int8_t)(j - 16);
    dequant(SLM_TYPE_Q8_0, b, x, 32);
    for (int j = 0; j < 32; j++) assert_float_equal(x[j], 0.5 * (j - 16), 0);
    uint8_t h[4];
    put16(h, 0xC000);     /* f16 -2 */
    put16(h + 2, 0x3555); /* f16 0.333251953125 */
    dequant(SLM_TYPE_F16, h, x, 2);
    assert_float_equal(x[0], -2, 0);
    assert_float_equal(x[1], 0.333251953125, 0);
    put16(h, 0x3F80); /* bf16 1 */
    put16(h + 2, 0xC0A0); /* bf16 -5 */
    dequant(SLM_TYPE_BF16, h, x, 2);
    assert_float_equal(x[0], 1, 0);
    assert_float_equal(x[1], -5, 0);
}

/* Q6_K: element e has the 6-bit value v(e) = (e * 7) % 64 and scale e / 16;
 * ql holds the low nibbles, qh the 2 high bits (layout in dequant_k.c). */
static void test_q6_K(void **state) {
    (void)state;
    uint8_t b[210] = {0};
    for (int e = 0; e < 256; e++) {
        int v = (e * 7) % 64, half = e / 128, k = (e % 128) / 32, l = e % 32;
        uint8_t *ql = b + 64 * half + l + 32 * (k % 2);
        *ql |= (uint8_t)(k < 2 ? (v & 15) : (v & 15) << 4);
        b[128 + 32 * half + l] |= (uint8_t)((v >> 4) << (2 * k));
    }
    for (int s = 0; s < 16; s++) b[192 + s] = (uint8_t)(int8_t)(s % 2 ? -(s + 1) : s + 1);
    put16(b + 208, F16_HALF);
    float x[256];
    dequant(SLM_TYPE_Q6_K, b, x, 256);
    for (int e = 0; e < 256; e++) {
        int s = e / 16, sc = s % 2 ? -(s + 1) : s + 1;
        assert_float_equal(x[e], 0.5 * sc * ((e * 7) % 64 - 32), 0);
    }
}

/* Q8_0 activations: d = amax/127, q = round-half-even(x * 127/amax). */
static void test_quantize_act(void **state) {
    (void)state;
    float x[32] = {0};
    x[0] = 127.0f;  /* amax: d = 1 */
    x[1] = -2.5f;   /* ties to even: -2 */
    x[2] = 3.5f;    /* 4 */
    x[3] = 0.49f;   /* 0 */
    uint8_t q[36];
    slm_quantize_act_q8_0(x, q, 32);
    assert_int_equal(slm_read_u16le(q), F16_ONE);
    const int8_t *qs = (const int8_t *)(q + 2);
    assert_int_equal(qs[0], 127);
    assert_int_equal(qs[1], -2);
    assert_int_equal(qs[2], 4);
    assert_int_equal(qs[3], 0);
    slm_quantize_act_q8_1(x, q, 32);
    assert_int_equal(slm_read_u16le(q), F16_ONE);
    assert_float_equal(slm_f16_to_f32(slm_read_u16le(q + 2)), 129, 0); /* s = d * (127 - 2 + 4) */
    /* Q8_K: scaled by the signed largest element: max = -254 -> q = -127 there */
    float y[256] = {0};
    y[7] = -254.0f;
    y[8] = 5.0f; /* iscale = 0.5: q = round(2.5) = 2 */
    uint8_t k[292];
    slm_quantize_act_q8_K(y, k, 256);
    float d;
    memcpy(&d, k, sizeof d);
    assert_float_equal(d, 2.0, 0);
    assert_int_equal(((const int8_t *)(k + 4))[7], -127);
    assert_int_equal(((const int8_t *)(k + 4))[8], 2);
}

/* Each kernel against the double-precision dot of the dequantized weights
 * with the activations as the kernel sees them. */
static void check_kernel(slm_type wt, int64_t n) {
    const slm_dot_traits *dt = slm_dot_traits_of(wt);
    assert_non_null(dt);
    assert_non_null(dt->vec_dot);
    uint64_t wb = slm_type_row_bytes(wt, n), ab = slm_type_row_bytes(dt->act_type, n);
    uint8_t *w = malloc(wb), *a = malloc(ab);
    float *wf = malloc((size_t)n * sizeof(float)), *x = malloc((size_t)n * sizeof(float));
    srand(7);
    for (uint64_t i = 0; i < wb; i++) w[i] = (uint8_t)rand();
    /* sane block scales: overwrite every f16 scale with 0.25 (Q6_K: d at the block end) */
    uint32_t bb = slm_type_block_bytes(wt);
    for (uint64_t o = 0; o < wb; o += bb) {
        if (wt == SLM_TYPE_Q6_K) put16(w + o + 208, 0x3400);
        else {
            put16(w + o, 0x3400);
            if (wt == SLM_TYPE_Q4_1 || wt == SLM_TYPE_Q5_1) put16(w + o + 2, 0xB400);
        }
    }
    for (int64_t i = 0; i < n; i++) x[i] = (float)((rand() % 2001) - 1000) / 250.0f;
    dt->quantize(x, a, n);
    dequant(wt, w, wf, n);
    double want = 0;
    if (dt->act_type == SLM_TYPE_Q8_K) {
        for (int64_t i = 0; i < n; i += 256) {
            float d;
            memcpy(&d, a + (i / 256) * 292, sizeof d);
            for (int j = 0; j < 256; j++) want += (double)wf[i + j] * d * ((const int8_t *)(a + (i / 256) * 292 + 4))[j];
        }
    } else {
        float *af = malloc((size_t)n * sizeof(float));
        for (int64_t i = 0; i < n; i += 32) {
            const uint8_t *blk = a + (i / 32) * (dt->act_type == SLM_TYPE_Q8_1 ? 36 : 34);
            const int8_t *q = (const int8_t *)(blk + (dt->act_type == SLM_TYPE_Q8_1 ? 4 : 2));
            float d = slm_f16_to_f32(slm_read_u16le(blk));
            for (int j = 0; j < 32; j++) af[i + j] = d * q[j];
        }
        for (int64_t i = 0; i < n; i++) want += (double)wf[i] * af[i];
        if (dt->act_type == SLM_TYPE_Q8_1) {
            /* ggml's Q8_1 term m * s uses s = fp16(d * sum q) instead of sum(d * q) */
            want = 0;
            for (int64_t i = 0; i < n; i += 32) {
                const uint8_t *blk = a + (i / 32) * 36;
                const uint8_t *wblk = w + (i / 32) * bb;
                float m = slm_f16_to_f32(slm_read_u16le(wblk + 2));
                for (int j = 0; j < 32; j++) want += (double)(wf[i + j] - m) * af[i + j];
                want += (double)m * slm_f16_to_f32(slm_read_u16le(blk + 2));
            }
        }
        free(af);
    }
    float got = dt->vec_dot(w, a, n);
    print_message("[ %-5s x %-4s ] kernel %.6f, dequantized dot %.6f\n", slm_type_name(wt),
                  slm_type_name(dt->act_type), got, want);
    assert_float_equal(got, want, 1e-4 * (1 + fabs(want)));
    free(w);
    free(a);
    free(wf);
    free(x);
}

static void test_kernels(void **state) {
    (void)state;
    check_kernel(SLM_TYPE_Q4_0, 256);
    check_kernel(SLM_TYPE_Q4_1, 256);
    check_kernel(SLM_TYPE_Q5_0, 256);
    check_kernel(SLM_TYPE_Q5_1, 256);
    check_kernel(SLM_TYPE_Q8_0, 256);
    check_kernel(SLM_TYPE_Q6_K, 512);
    assert_null(slm_dot_traits_of(SLM_TYPE_IQ2_XXS));
    assert_non_null(slm_dot_traits_of(SLM_TYPE_F32));
}

/* The float dot has one order: 8 lanes, then a fixed pairwise sum. */
static void test_dot_f32_order(void **state) {
    (void)state;
    float a[11], b[11];
    for (int i = 0; i < 11; i++) {
        a[i] = 1.0f;
        b[i] = (float)(i + 1);
    }
    assert_float_equal(slm_dot_f32(a, b, 11), 66.0, 0);
    /* lane 0 holds 1e8 and +1 (lost), lane 4 holds -1e8: the pairwise sum gives 0 + others */
    float c[9] = {1e8f, 0, 0, 0, -1e8f, 0, 0, 0, 1};
    float ones[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    assert_float_equal(slm_dot_f32(c, ones, 9), 0.0, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_q4_0_q4_1),   cmocka_unit_test(test_q5_0_q5_1),    cmocka_unit_test(test_q8_0_f16_bf16),
        cmocka_unit_test(test_q6_K),        cmocka_unit_test(test_quantize_act), cmocka_unit_test(test_kernels),
        cmocka_unit_test(test_dot_f32_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
