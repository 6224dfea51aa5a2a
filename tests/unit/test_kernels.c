/* test_kernels.c - every kernel of the CPU's best kernel set (AVX2, NEON)
 * against the scalar reference set on random data: activation converters
 * byte for byte, gemm bit for bit (the SIMD kernels reproduce the reference's
 * operations, types/gemm.h), over row lengths that are not multiples of the
 * SIMD width, ragged row and token ranges, and every tile shape.
 *
 * Needs nothing but libslm's kernels (no files, no PCRE2), so that
 * scripts/test-arm64 can cross-build it and run it under qemu. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "runtime/cpu.h"
#include "types/dot.h"
#include "types/gemm.h"
#include "types/half.h"
#include "types/types.h"

/* xorshift64*: reproducible random data. */
static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t rnd(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1du;
}
static float rnd_float(float scale) { return scale * ((float)(rnd() >> 40) / (float)(1u << 24) * 2.0f - 1.0f); }

/* Random weight rows of a type: random bytes with sane block scales (f16
 * scales in [-1, 1], never NaN/inf). */
static void fill_weights(slm_type type, uint8_t *w, int64_t rows, int64_t n) {
    uint64_t row_bytes = slm_type_row_bytes(type, n);
    const slm_type_traits *tt = slm_type_traits_of(type);
    for (uint64_t i = 0; i < row_bytes * (uint64_t)rows; i++) w[i] = (uint8_t)rnd();
    for (int64_t r = 0; r < rows; r++) {
        uint8_t *row = w + (uint64_t)r * row_bytes;
        for (int64_t b = 0; b < n / tt->block_size; b++) {
            uint8_t *blk = row + (uint64_t)b * tt->block_bytes;
            uint16_t h;
            switch (type) {
            case SLM_TYPE_F32:
                for (int64_t i = 0; i < 1; i++) {
                    float f = rnd_float(2.0f);
                    memcpy(blk, &f, 4);
                }
                break;
            case SLM_TYPE_F16:
                h = slm_f32_to_f16(rnd_float(2.0f));
                memcpy(blk, &h, 2);
                break;
            case SLM_TYPE_BF16:
                h = slm_f32_to_bf16(rnd_float(2.0f));
                memcpy(blk, &h, 2);
                break;
            case SLM_TYPE_Q6_K:
                h = slm_f32_to_f16(rnd_float(0.01f));
                memcpy(blk + 208, &h, 2);
                break;
            case SLM_TYPE_Q2_K: /* d, dmin at the end */
                h = slm_f32_to_f16(rnd_float(0.01f));
                memcpy(blk + 80, &h, 2);
                h = slm_f32_to_f16(rnd_float(0.01f));
                memcpy(blk + 82, &h, 2);
                break;
            case SLM_TYPE_Q3_K:
                h = slm_f32_to_f16(rnd_float(0.01f));
                memcpy(blk + 108, &h, 2);
                break;
            case SLM_TYPE_Q4_K: /* d, dmin first */
            case SLM_TYPE_Q5_K:
                h = slm_f32_to_f16(rnd_float(0.01f));
                memcpy(blk, &h, 2);
                h = slm_f32_to_f16(rnd_float(0.01f));
                memcpy(blk + 2, &h, 2);
                break;
            case SLM_TYPE_Q4_1:
            case SLM_TYPE_Q5_1:
                h = slm_f32_to_f16(rnd_float(0.1f));
                memcpy(blk + 2, &h, 2);
                /* fall through */
            default:
                h = slm_f32_to_f16(rnd_float(0.1f));
                memcpy(blk, &h, 2);
            }
        }
    }
}

static void fill_floats(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = rnd_float(3.0f);
    if (n > 5) x[3] = 0.0f; /* a zero and a tie-prone value */
    if (n > 7) x[5] = 0.5f;
}

static slm_kernels scalar_set, best_set;

static int setup(void **state) {
    (void)state;
    slm_kernels_scalar(&scalar_set);
    slm_kernels_select(&best_set, slm_cpu_features());
    char feat[64];
    printf("# kernels under test: %s (cpu: %s)\n", best_set.name, slm_cpu_features_name(slm_cpu_features(), feat, sizeof feat));
    return 0;
}

/* Runs one set's gemm over [r0,r1) x [t0,t1) after converting the tokens. */
static void run_gemm(const slm_kernels *k, slm_type type, bool f32_act, const uint8_t *w, int64_t n_out,
                     const float *x, int64_t n_tokens, int64_t n, int64_t r0, int64_t r1, int64_t t0, int64_t t1,
                     float *y) {
    const slm_dot_traits *dt = slm_dot_traits_of(type);
    slm_gemm_args g = {.type = type, .w = w, .w_stride = slm_type_row_bytes(type, n), .a = x,
                       .a_stride = (uint64_t)n * sizeof(float), .n = n, .y = y, .y_stride = n_out};
    float *row_buf = malloc((size_t)n * sizeof(float));
    g.row_buf = row_buf;
    void *act = NULL;
    slm_gemm_fn gemm = f32_act ? k->gemm_f32_act : k->gemm[type];
    if (!f32_act && dt->act_type != SLM_TYPE_F32) {
        bool is_float = dt->act_type == SLM_TYPE_F16 || dt->act_type == SLM_TYPE_BF16;
        g.a_stride = is_float ? (uint64_t)n * sizeof(float) : slm_type_row_bytes(dt->act_type, n);
        act = malloc(g.a_stride * (uint64_t)n_tokens);
        for (int64_t t = 0; t < n_tokens; t++)
            k->convert[dt->act_type](x + t * n, (uint8_t *)act + (uint64_t)t * g.a_stride, n);
        g.a = act;
    }
    gemm(&g, r0, r1, t0, t1);
    free(act);
    free(row_buf);
}

/* One weight shape: the scalar set against the best set over the whole
 * block, a single token and odd sub-ranges, bit for bit. */
static void check_case(slm_type type, bool f32_act, int64_t n, int64_t n_out, int64_t n_tokens) {
    uint8_t *w = malloc(slm_type_row_bytes(type, n) * (uint64_t)n_out);
    float *x = malloc((size_t)(n * n_tokens) * sizeof(float));
    float *want = calloc((size_t)(n_out * n_tokens), sizeof(float));
    float *got = calloc((size_t)(n_out * n_tokens), sizeof(float));
    fill_weights(type, w, n_out, n);
    fill_floats(x, n * n_tokens);
    run_gemm(&scalar_set, type, f32_act, w, n_out, x, n_tokens, n, 0, n_out, 0, n_tokens, want);
    const int64_t ranges[][4] = {{0, n_out, 0, n_tokens}, {0, n_out, 4, 5}, {3, n_out - 1, 1, 10}, {5, 6, 0, n_tokens},
                                 {0, n_out, 2, 9}, {1, n_out, 3, 5}};
    for (size_t ri = 0; ri < sizeof ranges / sizeof ranges[0]; ri++) {
        const int64_t *rg = ranges[ri];
        memset(got, 0, (size_t)(n_out * n_tokens) * sizeof(float));
        run_gemm(&best_set, type, f32_act, w, n_out, x, n_tokens, n, rg[0], rg[1], rg[2], rg[3], got);
        for (int64_t t = 0; t < n_tokens; t++)
            for (int64_t r = 0; r < n_out; r++) {
                float a = want[t * n_out + r], b = got[t * n_out + r];
                bool inside = t >= rg[2] && t < rg[3] && r >= rg[0] && r < rg[1];
                if (inside ? memcmp(&a, &b, sizeof a) != 0 : b != 0.0f) /* and nothing outside the range written */
                    fail_msg("%s%s n=%lld rows=%lld range %zu: y[%lld][%lld] = %.9g, scalar %.9g", slm_type_name(type),
                             f32_act ? " (f32 act)" : "", (long long)n, (long long)n_out, ri, (long long)t,
                             (long long)r, b, inside ? a : 0.0f);
            }
    }
    free(w);
    free(x);
    free(want);
    free(got);
}

static void check_type(slm_type type, bool f32_act) {
    uint32_t bs = slm_type_traits_of(type)->block_size;
    /* row lengths: blocks, and for the float types odd lengths around the SIMD width */
    const int64_t lens_q[] = {1, 2, 3, 7, 9};
    const int64_t lens_f[] = {1, 5, 8, 13, 31, 64, 100};
    bool is_float = bs == 1;
    size_t n_lens = is_float ? sizeof lens_f / sizeof lens_f[0] : sizeof lens_q / sizeof lens_q[0];
    for (size_t li = 0; li < n_lens; li++) /* 21 rows and 45 tokens: ragged for every tile shape and token chunk */
        check_case(type, f32_act, is_float ? lens_f[li] : lens_q[li] * (int64_t)bs, 21, 45);
    /* long float rows: the prompt tiles take the tokens in chunks of whole
     * tiles within 1 MiB of activations (252 tokens of 1028 floats), so 300
     * tokens make a full chunk and a ragged one */
    if (is_float && !f32_act) {
        check_case(type, f32_act, 1028, 150, 13);
        check_case(type, f32_act, 1028, 24, 300);
    }
}

static void test_gemm_all_types(void **state) {
    (void)state;
    int checked = 0;
    for (int t = 0; t < SLM_TYPE_COUNT; t++) {
        if (!slm_dot_traits_of((slm_type)t) || !slm_type_traits_of((slm_type)t)->to_float) continue;
        check_type((slm_type)t, false);
        checked++;
    }
    check_type(SLM_TYPE_Q8_0, true);
    check_type(SLM_TYPE_F16, true);
    assert_true(checked >= 9);
}

/* Converters: identical bytes, including values that round to a tie. */
static void test_convert(void **state) {
    (void)state;
    const slm_type acts[] = {SLM_TYPE_Q8_0, SLM_TYPE_Q8_1, SLM_TYPE_Q8_K, SLM_TYPE_F16, SLM_TYPE_BF16};
    const int64_t n = 512;
    float x[512];
    for (int rep = 0; rep < 20; rep++) {
        fill_floats(x, n);
        if (rep == 1) memset(x, 0, 32 * sizeof(float)); /* an all-zero block */
        if (rep == 2)
            for (int i = 0; i < 32; i++) x[i] = (float)(i - 16) * 0.5f; /* exact halves after scaling */
        if (rep == 3)
            for (int i = 0; i < n; i++) x[i] *= 1e-6f; /* fp16 subnormals */
        for (size_t k = 0; k < sizeof acts / sizeof acts[0]; k++) {
            slm_type at = acts[k];
            bool is_float = at == SLM_TYPE_F16 || at == SLM_TYPE_BF16;
            size_t bytes = is_float ? (size_t)n * sizeof(float) : (size_t)slm_type_row_bytes(at, n);
            uint8_t want[2048], got[2048];
            memset(want, 0xAA, sizeof want);
            memset(got, 0xAA, sizeof got);
            assert_non_null(scalar_set.convert[at]);
            assert_non_null(best_set.convert[at]);
            scalar_set.convert[at](x, want, n);
            best_set.convert[at](x, got, n);
            if (memcmp(want, got, bytes) != 0) fail_msg("converter for %s differs (rep %d)", slm_type_name(at), rep);
        }
    }
}

/* One chunked-attention step (scores, softmax, accum) of a kernel set for
 * nq queries over m positions; state carried in max, sum, out. */
typedef struct att_state {
    float s[9 * SLM_ATT_CHUNK], max[9], sum[9], ms[9], out[9 * 80];
} att_state;

static void att_step(const slm_kernels *k, bool f16, const void *keys, const void *vals, int64_t stride, int m,
                     const float *q, int nq, int64_t n, att_state *st) {
    if (f16) {
        k->att_scores_f16(keys, stride, m, q, n, nq, n, 0.125f, st->s);
        k->att_softmax(st->s, m, nq, st->max, st->sum, st->ms);
        k->att_accum_f16(st->out, n, n, st->s, st->ms, nq, vals, stride, m);
    } else {
        k->att_scores_f32(keys, stride, m, q, n, nq, n, 0.125f, st->s);
        k->att_softmax(st->s, m, nq, st->max, st->sum, st->ms);
        k->att_accum_f32(st->out, n, n, st->s, st->ms, nq, vals, stride, m);
    }
}

/* The chunked attention kernels: three chunks in a row (a full one, a
 * ragged one, a full one) for several query counts, head sizes and cache
 * types; every intermediate bit for bit. */
static void test_chunked_attention(void **state) {
    (void)state;
    const int64_t lens[] = {64, 8, 13, 72, 80};
    const int nqs[] = {1, 2, 3, 4, 7, 8, 9};
    const int ms[] = {16, 5, 16, 1, 11};
    enum { STRIDE = 96 };
    static float kf[SLM_ATT_CHUNK * STRIDE], vf[SLM_ATT_CHUNK * STRIDE], q[9 * 80];
    static uint16_t kh[SLM_ATT_CHUNK * STRIDE], vh[SLM_ATT_CHUNK * STRIDE];
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
        for (size_t qi = 0; qi < sizeof nqs / sizeof nqs[0]; qi++)
            for (int f16 = 0; f16 < 2; f16++) {
                int64_t n = lens[li];
                int nq = nqs[qi];
                att_state a, b;
                memset(&a, 0, sizeof a);
                for (int g = 0; g < nq; g++) a.max[g] = -INFINITY;
                fill_floats(q, nq * n);
                b = a;
                for (size_t ci = 0; ci < sizeof ms / sizeof ms[0]; ci++) {
                    /* scores up to about +-12: the exponentials span a wide range */
                    for (int i = 0; i < SLM_ATT_CHUNK * STRIDE; i++) {
                        kf[i] = rnd_float(4.0f) * (ci == 0 ? 1.0f : 0.5f);
                        vf[i] = rnd_float(2.0f);
                        kh[i] = slm_f32_to_f16(kf[i]);
                        vh[i] = slm_f32_to_f16(vf[i]);
                    }
                    const void *keys = f16 ? (const void *)kh : (const void *)kf;
                    const void *vals = f16 ? (const void *)vh : (const void *)vf;
                    att_step(&scalar_set, f16, keys, vals, STRIDE, ms[ci], q, nq, n, &a);
                    att_step(&best_set, f16, keys, vals, STRIDE, ms[ci], q, nq, n, &b);
                    for (int g = 0; g < nq; g++)
                        if (memcmp(a.s + g * SLM_ATT_CHUNK, b.s + g * SLM_ATT_CHUNK, (size_t)ms[ci] * sizeof(float)) ||
                            memcmp(&a.max[g], &b.max[g], 4) || memcmp(&a.sum[g], &b.sum[g], 4) ||
                            memcmp(&a.ms[g], &b.ms[g], 4))
                            fail_msg("softmax differs: n %d nq %d %s chunk %d query %d", (int)n, nq,
                                     f16 ? "f16" : "f32", (int)ci, g);
                    if (memcmp(a.out, b.out, (size_t)(nq * n) * sizeof(float)))
                        fail_msg("accum differs: n %d nq %d %s chunk %d", (int)n, nq, f16 ? "f16" : "f32", (int)ci);
                }
            }
}

/* The reference exponential (through att_softmax with a running max of 0)
 * against libm: within 2 ulp on [-87, 0], exactly 0 below. */
static void test_attention_exp(void **state) {
    (void)state;
    for (int i = 0; i <= 87 * 512 + 40; i++) {
        float x = -(float)i / 512.0f, s[SLM_ATT_CHUNK] = {x}, max = 0.0f, sum = 0.0f, msc = 0.0f;
        scalar_set.att_softmax(s, 1, 1, &max, &sum, &msc);
        assert_true(msc == 1.0f);
        if (x < -87.0f) {
            assert_true(s[0] == 0.0f);
            continue;
        }
        double want = exp((double)x), err = fabs((double)s[0] - want) / want;
        if (err > 2.5e-7) fail_msg("exp(%g) = %.9g, want %.9g", (double)x, (double)s[0], want);
    }
}

/* SwiGLU: the best set bit for bit like the scalar one (lengths around the
 * vector widths, signs, zeros, large magnitudes, NaN), and the scalar one
 * within 1e-6 of silu(z) * up in double. */
static void test_swiglu(void **state) {
    (void)state;
    const int64_t lens[] = {1, 3, 4, 7, 8, 9, 16, 37};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        int64_t n = lens[li];
        float gate[37], up[37], want[37], got[37];
        for (int64_t i = 0; i < n; i++) {
            gate[i] = rnd_float(12.0f);
            up[i] = rnd_float(3.0f);
        }
        const float special[] = {0.0f, -0.0f, 100.0f, -100.0f, -88.0f, 1e-30f, -1e-30f};
        for (int64_t i = 0; i < n && i < 7; i++) gate[(i * 5) % n] = special[i];
        if (n == 37) gate[36] = NAN;
        memcpy(want, gate, sizeof gate);
        memcpy(got, gate, sizeof gate);
        scalar_set.swiglu(want, up, n);
        best_set.swiglu(got, up, n);
        for (int64_t i = 0; i < n; i++) {
            if (memcmp(&want[i], &got[i], sizeof want[i]) != 0)
                fail_msg("n=%lld swiglu(%g, %g) = %.9g, scalar %.9g", (long long)n, (double)gate[i], (double)up[i],
                         (double)got[i], (double)want[i]);
            if (isnan(gate[i])) {
                assert_true(isnan(want[i]));
                continue;
            }
            double z = gate[i], ref = z / (1.0 + exp(-z)) * up[i];
            if (fabs(want[i] - ref) > 1e-6 * fabs(ref) + 1e-30)
                fail_msg("swiglu(%g, %g) = %.9g, want %.9g", z, (double)up[i], (double)want[i], ref);
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_convert),
        cmocka_unit_test(test_gemm_all_types),
        cmocka_unit_test(test_chunked_attention),
        cmocka_unit_test(test_attention_exp),
        cmocka_unit_test(test_swiglu),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
