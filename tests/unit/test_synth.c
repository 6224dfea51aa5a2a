/* test_synth.c - synthetic models: shapes, keys, vocabulary, weight
 * statistics and determinism. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/synth.h"
#include "testutil.h"
#include "types/half.h"

static char *write_tiny(const char *dir, const char *arch, slm_type type, uint64_t seed, const char *name) {
    char *path = malloc(4096);
    snprintf(path, 4096, "%s/%s", dir, name);
    slm_synth_params p = {slm_synth_shape_find("tiny"), arch, type, seed};
    slm_error err;
    assert_non_null(p.shape);
    SLM_ASSERT_OK(slm_synth_write(&p, path, &err), &err);
    return path;
}

static int64_t get_int(const slm_gguf *g, const char *key) {
    int64_t v = -1;
    slm_error err;
    SLM_ASSERT_OK(slm_gguf_get_int(g, key, &v, &err), &err);
    return v;
}

static void expect_tensor(const slm_gguf *g, const char *name, slm_type type, int64_t ne0, int64_t ne1) {
    const slm_gguf_tensor *t = slm_gguf_find_tensor(g, name);
    if (!t) fail_msg("tensor %s missing", name);
    if (t->type != type) fail_msg("tensor %s has type %s, expected %s", name, slm_type_name(t->type), slm_type_name(type));
    assert_int_equal(t->n_dims, ne1 ? 2 : 1);
    assert_int_equal(t->ne[0], ne0);
    assert_int_equal(t->ne[1], ne1 ? ne1 : 1);
}

static void check_tiny(const char *path, const char *arch, slm_type type) {
    slm_gguf *g;
    slm_error err;
    SLM_ASSERT_OK(slm_gguf_open(path, &g, &err), &err);
    slm_str s;
    SLM_ASSERT_OK(slm_gguf_get_str(g, "general.architecture", &s, &err), &err);
    assert_true(slm_str_eq(s, arch));
    char k[128];
#define AK(suffix) (snprintf(k, sizeof k, "%s.%s", arch, suffix), k)
    assert_int_equal(get_int(g, AK("embedding_length")), 64);
    assert_int_equal(get_int(g, AK("block_count")), 2);
    assert_int_equal(get_int(g, AK("attention.head_count")), 4);
    assert_int_equal(get_int(g, AK("attention.head_count_kv")), 2);
    assert_int_equal(get_int(g, AK("feed_forward_length")), 128);
    assert_int_equal(get_int(g, AK("context_length")), 2048);
    float f;
    SLM_ASSERT_OK(slm_gguf_get_f32(g, AK("rope.freq_base"), &f, &err), &err);
    assert_true(f == 10000.0f);
    SLM_ASSERT_OK(slm_gguf_get_f32(g, AK("attention.layer_norm_rms_epsilon"), &f, &err), &err);
    assert_true(f == 1e-5f);
    bool llama = !strcmp(arch, "llama");
    assert_int_equal(slm_gguf_find_key(g, AK("vocab_size")) >= 0, llama);
    if (llama) assert_int_equal(get_int(g, AK("rope.dimension_count")), 16);
#undef AK
    assert_int_equal(get_int(g, "general.file_type"), type == SLM_TYPE_F16 ? 1 : 0);

    const slm_gguf_value *tok, *types, *merges;
    SLM_ASSERT_OK(slm_gguf_get_str(g, "tokenizer.ggml.model", &s, &err), &err);
    assert_true(slm_str_eq(s, "gpt2"));
    SLM_ASSERT_OK(slm_gguf_get_arr(g, "tokenizer.ggml.tokens", SLM_GGUF_STRING, &tok, &err), &err);
    SLM_ASSERT_OK(slm_gguf_get_arr(g, "tokenizer.ggml.token_type", SLM_GGUF_I32, &types, &err), &err);
    SLM_ASSERT_OK(slm_gguf_get_arr(g, "tokenizer.ggml.merges", SLM_GGUF_STRING, &merges, &err), &err);
    assert_int_equal(tok->v.arr.n, 320);
    assert_int_equal(types->v.arr.n, 320);
    assert_int_equal(merges->v.arr.n, 320 - 256 - 3);
    assert_true(slm_str_eq(tok->v.arr.strs[' '], "\xC4\xA0")); /* "Ġ": GPT-2's space */
    assert_true(slm_str_eq(tok->v.arr.strs['a'], "a"));
    assert_true(slm_str_eq(tok->v.arr.strs[319], "<|im_end|>"));
    assert_int_equal(((const int32_t *)types->v.arr.data)[319], SLM_TOKEN_CONTROL);
    assert_int_equal(get_int(g, "tokenizer.ggml.eos_token_id"), 319);
    assert_int_equal(get_int(g, "tokenizer.ggml.bos_token_id"), 317);

    slm_type mt = type;
    int n_expected = 1 + 2 * 9 + 1 + (llama ? 0 : 2 * 3);
    assert_int_equal(slm_gguf_n_tensors(g), n_expected);
    expect_tensor(g, "token_embd.weight", mt, 64, 320);
    expect_tensor(g, "output_norm.weight", SLM_TYPE_F32, 64, 0);
    assert_null(slm_gguf_find_tensor(g, "output.weight")); /* tied */
    for (int i = 0; i < 2; i++) {
        char n[64];
#define T(suffix) (snprintf(n, sizeof n, "blk.%d.%s", i, suffix), n)
        expect_tensor(g, T("attn_norm.weight"), SLM_TYPE_F32, 64, 0);
        expect_tensor(g, T("attn_q.weight"), mt, 64, 64);
        expect_tensor(g, T("attn_k.weight"), mt, 64, 32);
        expect_tensor(g, T("attn_v.weight"), mt, 64, 32);
        expect_tensor(g, T("attn_output.weight"), mt, 64, 64);
        expect_tensor(g, T("ffn_norm.weight"), SLM_TYPE_F32, 64, 0);
        expect_tensor(g, T("ffn_gate.weight"), mt, 64, 128);
        expect_tensor(g, T("ffn_up.weight"), mt, 64, 128);
        expect_tensor(g, T("ffn_down.weight"), mt, 128, 64);
        if (!llama) {
            expect_tensor(g, T("attn_q.bias"), SLM_TYPE_F32, 64, 0);
            expect_tensor(g, T("attn_k.bias"), SLM_TYPE_F32, 32, 0);
            expect_tensor(g, T("attn_v.bias"), SLM_TYPE_F32, 32, 0);
        } else {
            assert_null(slm_gguf_find_tensor(g, T("attn_q.bias")));
        }
#undef T
    }
    slm_gguf_close(g);
}

static void test_tiny_shapes(void **state) {
    (void)state;
    char *dir = slm_test_tmpdir();
    const char *archs[] = {"llama", "qwen2"};
    const slm_type types[] = {SLM_TYPE_F32, SLM_TYPE_F16};
    for (int a = 0; a < 2; a++)
        for (int t = 0; t < 2; t++) {
            char *path = write_tiny(dir, archs[a], types[t], 1, "m.gguf");
            check_tiny(path, archs[a], types[t]);
            free(path);
        }
    slm_test_rmtree(dir);
    free(dir);
}

/* Every merge "A B" joins two tokens into a third one. */
static void test_merges_are_consistent(void **state) {
    (void)state;
    char *dir = slm_test_tmpdir(), *path = write_tiny(dir, NULL, SLM_TYPE_F32, 0, "v.gguf");
    slm_gguf *g;
    slm_error err;
    SLM_ASSERT_OK(slm_gguf_open(path, &g, &err), &err);
    const slm_gguf_value *tok, *merges;
    SLM_ASSERT_OK(slm_gguf_get_arr(g, "tokenizer.ggml.tokens", SLM_GGUF_STRING, &tok, &err), &err);
    SLM_ASSERT_OK(slm_gguf_get_arr(g, "tokenizer.ggml.merges", SLM_GGUF_STRING, &merges, &err), &err);
    for (uint64_t m = 0; m < merges->v.arr.n; m++) {
        slm_str ms = merges->v.arr.strs[m];
        const char *sp = memchr(ms.ptr, ' ', (size_t)ms.len);
        assert_non_null(sp);
        size_t la = (size_t)(sp - ms.ptr), lb = (size_t)ms.len - la - 1;
        bool found_a = false, found_b = false, found_ab = false;
        for (uint64_t t = 0; t < tok->v.arr.n; t++) {
            slm_str x = tok->v.arr.strs[t];
            if (x.len == la && !memcmp(x.ptr, ms.ptr, la)) found_a = true;
            if (x.len == lb && !memcmp(x.ptr, sp + 1, lb)) found_b = true;
            if (x.len == la + lb && !memcmp(x.ptr, ms.ptr, la) && !memcmp(x.ptr + la, sp + 1, lb)) {
                found_ab = true;
                assert_int_equal(t, 256 + m); /* the merged token's id is 256 + its rank */
            }
        }
        if (!found_a || !found_b || !found_ab) fail_msg("merge %llu is not closed", (unsigned long long)m);
    }
    /* Unique token texts. */
    for (uint64_t i = 0; i < tok->v.arr.n; i++)
        for (uint64_t j = i + 1; j < tok->v.arr.n; j++)
            if (tok->v.arr.strs[i].len == tok->v.arr.strs[j].len)
                assert_false(!memcmp(tok->v.arr.strs[i].ptr, tok->v.arr.strs[j].ptr, (size_t)tok->v.arr.strs[i].len));
    slm_gguf_close(g);
    free(path);
    slm_test_rmtree(dir);
    free(dir);
}

static void stats(const slm_gguf_tensor *t, double *mean, double *std) {
    double s = 0, s2 = 0;
    for (uint64_t i = 0; i < t->n_elements; i++) {
        double x = t->type == SLM_TYPE_F16 ? slm_f16_to_f32(((const uint16_t *)t->data)[i]) : ((const float *)t->data)[i];
        s += x;
        s2 += x * x;
    }
    *mean = s / (double)t->n_elements;
    *std = sqrt(s2 / (double)t->n_elements - *mean * *mean);
}

static void test_weight_statistics(void **state) {
    (void)state;
    char *dir = slm_test_tmpdir(), *path = write_tiny(dir, "qwen2", SLM_TYPE_F16, 7, "s.gguf");
    slm_gguf *g;
    slm_error err;
    SLM_ASSERT_OK(slm_gguf_open(path, &g, &err), &err);
    double mean, std;
    stats(slm_gguf_find_tensor(g, "token_embd.weight"), &mean, &std); /* gain 4, fan-in 64 */
    assert_true(fabs(mean) < 0.02 && fabs(std - 0.5) < 0.03);
    stats(slm_gguf_find_tensor(g, "blk.0.ffn_gate.weight"), &mean, &std); /* gain 1 */
    assert_true(fabs(mean) < 0.01 && fabs(std - 0.125) < 0.01);
    stats(slm_gguf_find_tensor(g, "blk.1.attn_q.weight"), &mean, &std); /* gain 1.2 */
    assert_true(fabs(std - 0.15) < 0.015);
    stats(slm_gguf_find_tensor(g, "blk.1.ffn_down.weight"), &mean, &std); /* gain 6, fan-in 128 */
    assert_true(fabs(std - 6.0 / sqrt(128.0)) < 0.04);
    stats(slm_gguf_find_tensor(g, "blk.0.ffn_norm.weight"), &mean, &std);
    assert_true(fabs(mean - 1.0) < 0.05 && fabs(std - 0.1) < 0.03);
    stats(slm_gguf_find_tensor(g, "blk.0.attn_k.bias"), &mean, &std);
    assert_true(fabs(mean) < 0.06 && std > 0.05 && std < 0.15);
    slm_gguf_close(g);
    free(path);
    slm_test_rmtree(dir);
    free(dir);
}

static void test_deterministic(void **state) {
    (void)state;
    char *dir = slm_test_tmpdir();
    char *a = write_tiny(dir, "llama", SLM_TYPE_F32, 42, "a.gguf");
    char *b = write_tiny(dir, "llama", SLM_TYPE_F32, 42, "b.gguf");
    char *c = write_tiny(dir, "llama", SLM_TYPE_F32, 43, "c.gguf");
    size_t na, nb, nc;
    char *x = slm_test_read_file(a, &na), *y = slm_test_read_file(b, &nb), *z = slm_test_read_file(c, &nc);
    assert_int_equal(na, nb);
    assert_memory_equal(x, y, na);
    assert_true(na < 1000000);
    /* Another seed changes the weights (and the seed in general.name). */
    assert_int_equal(na, nc);
    slm_gguf *ga, *gc;
    slm_error err;
    SLM_ASSERT_OK(slm_gguf_open(a, &ga, &err), &err);
    SLM_ASSERT_OK(slm_gguf_open(c, &gc, &err), &err);
    const slm_gguf_tensor *ta = slm_gguf_find_tensor(ga, "blk.1.ffn_up.weight"),
                          *tc = slm_gguf_find_tensor(gc, "blk.1.ffn_up.weight");
    assert_memory_not_equal(ta->data, tc->data, (size_t)ta->n_bytes);
    slm_gguf_close(ga);
    slm_gguf_close(gc);
    free(x), free(y), free(z), free(a), free(b), free(c);
    slm_test_rmtree(dir);
    free(dir);
}

static void test_real_shapes(void **state) {
    (void)state;
    const slm_synth_shape *s = slm_synth_shape_find("smollm2-135m");
    assert_non_null(s);
    assert_string_equal(s->arch, "llama");
    assert_int_equal(s->n_embd, 576);
    assert_int_equal(s->n_layer, 30);
    assert_int_equal(s->n_head, 9);
    assert_int_equal(s->n_head_kv, 3);
    assert_int_equal(s->n_ff, 1536);
    assert_int_equal(s->n_vocab, 49152);
    assert_int_equal(s->n_ctx, 8192);
    assert_true(s->rope_base == 100000.0f && s->eps == 1e-5f && !s->llama3_rope);
    s = slm_synth_shape_find("qwen2.5-0.5b");
    assert_non_null(s);
    assert_string_equal(s->arch, "qwen2");
    assert_true(s->n_embd == 896 && s->n_layer == 24 && s->n_head == 14 && s->n_head_kv == 2);
    assert_true(s->n_ff == 4864 && s->n_vocab == 151936 && s->n_ctx == 32768);
    assert_true(s->rope_base == 1e6f && s->eps == 1e-6f);
    s = slm_synth_shape_find("llama3.2-1b");
    assert_non_null(s);
    assert_true(s->n_embd == 2048 && s->n_layer == 16 && s->n_head == 32 && s->n_head_kv == 8);
    assert_true(s->n_ff == 8192 && s->n_vocab == 128256 && s->n_ctx == 131072);
    assert_true(s->rope_base == 500000.0f && s->eps == 1e-5f && s->llama3_rope);
    assert_null(slm_synth_shape_find("nope"));

    slm_synth_params p = {slm_synth_shape_find("tiny"), "gpt2", SLM_TYPE_F32, 0};
    slm_error err;
    assert_int_equal(slm_synth_write(&p, "/tmp/never-written.gguf", &err), SLM_E_INVALID);
    p.arch = NULL;
    p.type = SLM_TYPE_Q8_0;
    assert_int_equal(slm_synth_write(&p, "/tmp/never-written.gguf", &err), SLM_E_INVALID);
}

/* Llama 3.1 rope scaling (factor 32, low 1, high 4, original context 8192)
 * for head_dim 64 and base 500000. */
static void test_llama3_rope_freqs(void **state) {
    (void)state;
    float f[32];
    slm_synth_llama3_rope_freqs(64, 500000.0f, f);
    for (int i = 0; i < 32; i++) {
        double freq = pow(500000.0, -2.0 * i / 64), wavelen = 2 * 3.141592653589793 / freq;
        if (wavelen < 2048) assert_true(f[i] == 1.0f);      /* high frequencies unchanged */
        else if (wavelen > 8192) assert_true(f[i] == 32.0f); /* low frequencies slowed 32x */
        else assert_true(f[i] > 1.0f && f[i] < 32.0f);
        if (i) assert_true(f[i] >= f[i - 1]);
    }
    /* Computed by hand: i = 12 has wavelen 2*pi*500000^(24/64) = 861.6 (< 2048:
     * unchanged); i = 15: wavelen 2948.3, smooth = (8192/2948.3 - 1)/3 = 0.59285,
     * divisor = 1/((1 - 0.59285)/32 + 0.59285) = 1.65133. */
    assert_true(f[12] == 1.0f);
    assert_float_equal(f[15], 1.65133f, 1e-4);
    assert_true(f[31] == 32.0f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiny_shapes),
        cmocka_unit_test(test_merges_are_consistent),
        cmocka_unit_test(test_weight_statistics),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_real_shapes),
        cmocka_unit_test(test_llama3_rope_freqs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
