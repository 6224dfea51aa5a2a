/* test_kquants.c - Q2_K, Q3_K, Q4_K, Q5_K, IQ4_NL and IQ4_XS: dequantizers
 * on hand-built blocks, dot products against the dequantized values, scale
 * packing, and the llama.cpp-made llama-k files (level 1: dequantization
 * alone within 1e-3; level 3: ggml's activation formats emulated). */
#include "test_model_ref.h"
#include "types/dot.h"
#include "types/half.h"
#include "types/kquants.h"
#include "types/types.h"

/* ---- deterministic random bytes ----------------------------------------- */

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void put_f16(uint8_t *p, float v) {
    uint16_t h = slm_f32_to_f16(v);
    p[0] = (uint8_t)(h & 0xff);
    p[1] = (uint8_t)(h >> 8);
}

/* Random blocks with sane (finite, modest) fp16 super-block scales. */
static void random_blocks(slm_type t, uint8_t *buf, int64_t n_blocks, uint64_t seed) {
    uint32_t bb = slm_type_block_bytes(t);
    for (int64_t i = 0; i < n_blocks * bb; i++) buf[i] = (uint8_t)rng_next(&seed);
    for (int64_t i = 0; i < n_blocks; i++) {
        uint8_t *b = buf + i * bb;
        float d = (float)(rng_next(&seed) % 1000 + 1) * 1e-5f, dm = (float)(rng_next(&seed) % 1000) * 1e-5f;
        switch (t) {
        case SLM_TYPE_Q2_K: put_f16(b + 80, d), put_f16(b + 82, dm); break;
        case SLM_TYPE_Q3_K: put_f16(b + 108, d); break;
        case SLM_TYPE_Q4_K:
        case SLM_TYPE_Q5_K: put_f16(b, d), put_f16(b + 2, dm); break;
        case SLM_TYPE_IQ4_NL:
        case SLM_TYPE_IQ4_XS: put_f16(b, d); break;
        default: fail_msg("unexpected type");
        }
    }
}

/* ---- scale packing ------------------------------------------------------ */

static void test_scale_packing(void **state) {
    (void)state;
    uint8_t s[12];
    memset(s, 0xa5, sizeof s);
    for (int j = 0; j < 8; j++) slm_kq_set_scale_min(s, j, (uint8_t)(7 * j + 3), (uint8_t)(63 - 5 * j));
    for (int j = 0; j < 8; j++) {
        uint8_t sc = 0, m = 0;
        slm_kq_get_scale_min(s, j, &sc, &m);
        assert_int_equal(sc, 7 * j + 3);
        assert_int_equal(m, 63 - 5 * j);
    }
    memset(s, 0x5a, sizeof s);
    for (int j = 0; j < 16; j++) slm_q3_K_set_scale(s, j, (j * 37) % 64);
    for (int j = 0; j < 16; j++) assert_int_equal(slm_q3_K_get_scale(s, j), (j * 37) % 64);
}

/* ---- dequantization of hand-built blocks -------------------------------- */

static void test_q4_K_hand_block(void **state) {
    (void)state;
    uint8_t b[144] = {0};
    put_f16(b, 0.5f);
    put_f16(b + 2, 0.25f);
    for (int j = 0; j < 8; j++) slm_kq_set_scale_min(b + 4, j, (uint8_t)(j + 1), (uint8_t)(2 * j));
    for (int i = 0; i < 128; i++) b[16 + i] = (uint8_t)((i % 16) | ((15 - i % 16) << 4));
    float y[256];
    slm_dequant_q4_K(b, y, 256);
    for (int e = 0; e < 256; e++) {
        int j = e / 64, l = e % 64, sub = 2 * j + (l >= 32);
        int q = l < 32 ? (l % 32) % 16 : 15 - (l - 32) % 16;
        float want = 0.5f * (float)(sub + 1) * (float)q - 0.25f * (float)(2 * sub);
        assert_float_equal(y[e], want, 0.0f);
    }
}

static void test_q5_K_high_bits(void **state) {
    (void)state;
    uint8_t b[176] = {0};
    put_f16(b, 1.0f);
    for (int j = 0; j < 8; j++) slm_kq_set_scale_min(b + 4, j, 1, 0);
    b[16 + 3] = 1 << 5; /* element 64*2 + 32 + 3 = 163 gets +16 */
    float y[256];
    slm_dequant_q5_K(b, y, 256);
    for (int e = 0; e < 256; e++) assert_float_equal(y[e], e == 163 ? 16.0f : 0.0f, 0.0f);
}

static void test_q2_K_and_q3_K_planes(void **state) {
    (void)state;
    uint8_t b2[84] = {0};
    put_f16(b2 + 80, 1.0f);
    put_f16(b2 + 82, 0.0f);
    for (int j = 0; j < 16; j++) b2[j] = 1;
    b2[16 + 32 + 5] = 3 << 4; /* half 1, plane 2, l = 5: element 128 + 64 + 5 */
    float y[256];
    slm_dequant_q2_K(b2, y, 256);
    for (int e = 0; e < 256; e++) assert_float_equal(y[e], e == 197 ? 3.0f : 0.0f, 0.0f);

    uint8_t b3[110] = {0};
    memset(b3, 0xff, 32); /* all high bits set: q = low 2 bits */
    put_f16(b3 + 108, 1.0f);
    for (int j = 0; j < 16; j++) slm_q3_K_set_scale(b3 + 96, j, 33); /* scale 1 */
    b3[0] &= (uint8_t)~(1 << 5); /* element 128 + 32 + 0 loses its high bit: -4 */
    slm_dequant_q3_K(b3, y, 256);
    for (int e = 0; e < 256; e++) assert_float_equal(y[e], e == 160 ? -4.0f : 0.0f, 0.0f);
}

static void test_iq4_hand_blocks(void **state) {
    (void)state;
    uint8_t nl[18] = {0};
    put_f16(nl, 2.0f);
    for (int j = 0; j < 16; j++) nl[2 + j] = (uint8_t)(j | ((15 - j) << 4));
    float y[256];
    slm_dequant_iq4_nl(nl, y, 32);
    for (int j = 0; j < 16; j++) {
        assert_float_equal(y[j], 2.0f * slm_iq4nl_values[j], 0.0f);
        assert_float_equal(y[j + 16], 2.0f * slm_iq4nl_values[15 - j], 0.0f);
    }
    uint8_t xs[136] = {0};
    put_f16(xs, 1.0f);
    /* sub-block 5: scale 32 + 3 = 35 = 0b10_0011 -> low nibble 3, high bits 2 */
    for (int ib = 0; ib < 8; ib++) xs[4 + ib / 2] |= (uint8_t)((ib == 5 ? 3 : 0) << (4 * (ib % 2)));
    uint16_t sh = 0;
    for (int ib = 0; ib < 8; ib++) sh |= (uint16_t)(2 << (2 * ib)); /* high bits 2: 32 + low nibble */
    xs[2] = (uint8_t)(sh & 0xff);
    xs[3] = (uint8_t)(sh >> 8);
    memset(xs + 8, 0xff, 128); /* all codes 15: value 113 */
    slm_dequant_iq4_xs(xs, y, 256);
    for (int e = 0; e < 256; e++) {
        float want = e / 32 == 5 ? 3.0f * 113.0f : 0.0f;
        assert_float_equal(y[e], want, 0.0f);
    }
}

/* ---- dot products agree with the dequantized values --------------------- */

static void check_dot_matches_dequant(slm_type t) {
    enum { N = 1024 };
    const slm_dot_traits *dt = slm_dot_traits_of(t);
    assert_non_null(dt);
    assert_non_null(dt->vec_dot);
    int64_t nb = N / slm_type_block_size(t);
    uint8_t *w = malloc((size_t)(nb * slm_type_block_bytes(t)));
    uint8_t *act = malloc((size_t)slm_type_row_bytes(dt->act_type, N));
    float *wf = malloc(N * sizeof(float)), *x = malloc(N * sizeof(float)), *af = malloc(N * sizeof(float));
    uint64_t seed = 0x9e3779b97f4a7c15ull ^ (uint64_t)t;
    for (int trial = 0; trial < 20; trial++) {
        random_blocks(t, w, nb, seed + (uint64_t)trial);
        for (int i = 0; i < N; i++) x[i] = (float)((int64_t)(rng_next(&seed) % 2001) - 1000) * 1e-3f;
        dt->quantize(x, act, N);
        slm_type_traits_of(t)->to_float(w, wf, N);
        /* dequantize the activations by hand (Q8_0: f16 d; Q8_K: f32 d) */
        if (dt->act_type == SLM_TYPE_Q8_0) {
            for (int b = 0; b < N / 32; b++) {
                float d = slm_f16_to_f32(slm_read_u16le(act + 34 * b));
                for (int j = 0; j < 32; j++) af[32 * b + j] = d * (float)(int8_t)act[34 * b + 2 + j];
            }
        } else {
            for (int b = 0; b < N / 256; b++) {
                float d;
                memcpy(&d, act + 292 * b, sizeof d);
                for (int j = 0; j < 256; j++) af[256 * b + j] = d * (float)(int8_t)act[292 * b + 4 + j];
            }
        }
        double want = 0, mag = 0;
        for (int i = 0; i < N; i++) {
            want += (double)wf[i] * af[i];
            mag += fabs((double)wf[i] * af[i]);
        }
        double got = dt->vec_dot(w, act, N);
        if (fabs(got - want) > 1e-5 * mag + 1e-6)
            fail_msg("%s trial %d: dot %.9g, dequantized %.9g", slm_type_name(t), trial, got, want);
    }
    free(w);
    free(act);
    free(wf);
    free(x);
    free(af);
}

static void test_dot_q2_K(void **state) { (void)state; check_dot_matches_dequant(SLM_TYPE_Q2_K); }
static void test_dot_q3_K(void **state) { (void)state; check_dot_matches_dequant(SLM_TYPE_Q3_K); }
static void test_dot_q4_K(void **state) { (void)state; check_dot_matches_dequant(SLM_TYPE_Q4_K); }
static void test_dot_q5_K(void **state) { (void)state; check_dot_matches_dequant(SLM_TYPE_Q5_K); }
static void test_dot_iq4_nl(void **state) { (void)state; check_dot_matches_dequant(SLM_TYPE_IQ4_NL); }
static void test_dot_iq4_xs(void **state) { (void)state; check_dot_matches_dequant(SLM_TYPE_IQ4_XS); }

/* ---- llama.cpp-made files ----------------------------------------------- */

static void test_llama_k_q2_K(void **state) { (void)state; ref_check_llama_k("Q2_K", 1); }
static void test_llama_k_q3_K_S(void **state) { (void)state; ref_check_llama_k("Q3_K_S", 1); }
static void test_llama_k_q3_K_M(void **state) { (void)state; ref_check_llama_k("Q3_K_M", 1); }
static void test_llama_k_q4_K_S(void **state) { (void)state; ref_check_llama_k("Q4_K_S", 1); }
static void test_llama_k_q4_K_M(void **state) { (void)state; ref_check_llama_k("Q4_K_M", 1); }
static void test_llama_k_q5_K_S(void **state) { (void)state; ref_check_llama_k("Q5_K_S", 1); }
static void test_llama_k_q5_K_M(void **state) { (void)state; ref_check_llama_k("Q5_K_M", 1); }
static void test_llama_k_iq4_nl(void **state) { (void)state; ref_check_llama_k("IQ4_NL", 1); }
static void test_llama_k_iq4_xs(void **state) { (void)state; ref_check_llama_k("IQ4_XS", 1); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scale_packing),   cmocka_unit_test(test_q4_K_hand_block),
        cmocka_unit_test(test_q5_K_high_bits),  cmocka_unit_test(test_q2_K_and_q3_K_planes),
        cmocka_unit_test(test_iq4_hand_blocks), cmocka_unit_test(test_dot_q2_K),
        cmocka_unit_test(test_dot_q3_K),        cmocka_unit_test(test_dot_q4_K),
        cmocka_unit_test(test_dot_q5_K),        cmocka_unit_test(test_dot_iq4_nl),
        cmocka_unit_test(test_dot_iq4_xs),      cmocka_unit_test(test_llama_k_q2_K),
        cmocka_unit_test(test_llama_k_q3_K_S),  cmocka_unit_test(test_llama_k_q3_K_M),
        cmocka_unit_test(test_llama_k_q4_K_S),  cmocka_unit_test(test_llama_k_q4_K_M),
        cmocka_unit_test(test_llama_k_q5_K_S),  cmocka_unit_test(test_llama_k_q5_K_M),
        cmocka_unit_test(test_llama_k_iq4_nl),  cmocka_unit_test(test_llama_k_iq4_xs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
