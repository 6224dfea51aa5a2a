/* test_model_load.c - the loader: metadata of a real file, and clear errors
 * for broken copies of stories260K (missing tensor, wrong shape, a type slm
 * cannot compute, a missing key, an unknown architecture). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* How to change the copy: drop a tensor, give it another shape or type, drop
 * or replace a key. */
typedef struct edit {
    const char *drop_tensor;
    const char *reshape_tensor; /* ne[1] halved */
    const char *retype_tensor;  /* to I32, keeping the shape */
    const char *drop_key;
    const char *arch; /* general.architecture */
} edit;

static char *write_copy(const char *src, const edit *e) {
    slm_error err;
    slm_gguf *g;
    SLM_ASSERT_OK(slm_gguf_open(src, &g, &err), &err);
    char *dir = slm_test_tmpdir();
    assert_non_null(dir);
    char *dst = malloc(strlen(dir) + 16);
    sprintf(dst, "%s/m.gguf", dir);
    free(dir);
    slm_gguf_writer *w;
    SLM_ASSERT_OK(slm_gguf_writer_new(dst, &w, &err), &err);
    for (uint64_t i = 0; i < slm_gguf_n_keys(g); i++) {
        const char *key = slm_gguf_key_name(g, i);
        if (e->drop_key && !strcmp(key, e->drop_key)) continue;
        if (e->arch && !strcmp(key, "general.architecture"))
            SLM_ASSERT_OK(slm_gguf_writer_set_str(w, key, e->arch, &err), &err);
        else
            SLM_ASSERT_OK(slm_gguf_writer_set(w, key, slm_gguf_key_value(g, i), &err), &err);
    }
    uint64_t n = slm_gguf_n_tensors(g);
    for (uint64_t i = 0; i < n; i++) {
        const slm_gguf_tensor *t = slm_gguf_tensor_at(g, i);
        if (e->drop_tensor && !strcmp(t->name, e->drop_tensor)) continue;
        int64_t ne[4] = {t->ne[0], t->ne[1], t->ne[2], t->ne[3]};
        slm_type type = t->type;
        if (e->reshape_tensor && !strcmp(t->name, e->reshape_tensor)) ne[1] /= 2;
        if (e->retype_tensor && !strcmp(t->name, e->retype_tensor)) type = SLM_TYPE_I32;
        SLM_ASSERT_OK(slm_gguf_writer_add_tensor(w, t->name, type, t->n_dims, ne, &err), &err);
    }
    for (uint64_t i = 0; i < n; i++) {
        const slm_gguf_tensor *t = slm_gguf_tensor_at(g, i);
        if (e->drop_tensor && !strcmp(t->name, e->drop_tensor)) continue;
        size_t bytes = t->n_bytes; /* F32 -> I32 keeps the size */
        if (e->reshape_tensor && !strcmp(t->name, e->reshape_tensor)) bytes /= 2;
        SLM_ASSERT_OK(slm_gguf_writer_write(w, t->data, bytes, &err), &err);
    }
    SLM_ASSERT_OK(slm_gguf_writer_finish(w, &err), &err);
    slm_gguf_writer_free(w);
    slm_gguf_close(g);
    return dst;
}

static void expect_error(const edit *e, slm_status want, const char *fragment) {
    char src[4096];
    SLM_REQUIRE_DATA(src, "models/stories260K.gguf");
    char *path = write_copy(src, e);
    slm_model *m = (slm_model *)1;
    slm_error err = {0};
    slm_status s = slm_model_load(path, &m, &err);
    print_message("[ %-11s ] %s\n", slm_status_name(s), err.message);
    assert_int_equal(s, want);
    assert_null(m);
    if (!strstr(err.message, fragment)) fail_msg("message '%s' lacks '%s'", err.message, fragment);
    char *dir = strdup(path);
    *strrchr(dir, '/') = '\0';
    slm_test_rmtree(dir);
    free(dir);
    free(path);
}

static void test_stories260k_metadata(void **state) {
    (void)state;
    char path[4096];
    SLM_REQUIRE_DATA(path, "models/stories260K.gguf");
    slm_model *m;
    slm_error err;
    SLM_ASSERT_OK(slm_model_load(path, &m, &err), &err);
    assert_string_equal(slm_model_arch(m), "llama");
    assert_int_equal(slm_model_n_vocab(m), 512);
    assert_int_equal(slm_model_n_embd(m), 64);
    assert_int_equal(slm_model_n_layer(m), 5);
    assert_int_equal(slm_model_n_ctx_train(m), 2048);
    /* 2 x 512x64 embeddings + 64 + 5 x (2x64x64 + 2x64x32 + 3x64x172 + 2x64) */
    assert_int_equal(slm_model_n_params(m), 2 * 512 * 64 + 64 + 5 * (2 * 4096 + 2 * 2048 + 3 * 64 * 172 + 128));
    assert_int_equal(slm_model_size_bytes(m), 4 * slm_model_n_params(m));
    assert_non_null(slm_model_vocab(m));
    assert_int_equal(slm_vocab_n_tokens(slm_model_vocab(m)), 512);
    assert_ptr_not_equal(slm_model_gguf(m), NULL);
    slm_model_free(m);
}

static void test_missing_tensor(void **state) {
    (void)state;
    edit e = {.drop_tensor = "blk.3.ffn_up.weight"};
    expect_error(&e, SLM_E_NOT_FOUND, "tensor 'blk.3.ffn_up.weight' is missing");
}

static void test_wrong_shape(void **state) {
    (void)state;
    edit e = {.reshape_tensor = "blk.0.attn_k.weight"};
    expect_error(&e, SLM_E_FORMAT, "tensor 'blk.0.attn_k.weight' has shape [64, 16], expected [64, 32]");
}

static void test_uncomputable_type(void **state) {
    (void)state;
    edit e = {.retype_tensor = "blk.0.attn_q.weight"};
    expect_error(&e, SLM_E_UNSUPPORTED, "tensor 'blk.0.attn_q.weight' has type I32, which slm cannot compute yet");
}

static void test_missing_key(void **state) {
    (void)state;
    edit e = {.drop_key = "llama.embedding_length"};
    expect_error(&e, SLM_E_NOT_FOUND, "required key 'llama.embedding_length' is missing");
}

static void test_unknown_arch(void **state) {
    (void)state;
    edit e = {.arch = "mamba"};
    expect_error(&e, SLM_E_UNSUPPORTED, "architecture 'mamba' is not supported");
}

static void test_qwen2_needs_biases(void **state) {
    (void)state;
    char src[4096];
    SLM_REQUIRE_DATA(src, "reference/synthetic/qwen2-c.gguf");
    edit e = {.drop_tensor = "blk.1.attn_v.bias"};
    char *path = write_copy(src, &e);
    slm_model *m;
    slm_error err;
    assert_int_equal(slm_model_load(path, &m, &err), SLM_E_NOT_FOUND);
    assert_non_null(strstr(err.message, "blk.1.attn_v.bias"));
    char *dir = strdup(path);
    *strrchr(dir, '/') = '\0';
    slm_test_rmtree(dir);
    free(dir);
    free(path);
}

static void test_missing_file(void **state) {
    (void)state;
    slm_model *m;
    slm_error err;
    assert_int_equal(slm_model_load("/nonexistent/model.gguf", &m, &err), SLM_E_IO);
    assert_null(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stories260k_metadata), cmocka_unit_test(test_missing_tensor),
        cmocka_unit_test(test_wrong_shape),          cmocka_unit_test(test_uncomputable_type),
        cmocka_unit_test(test_missing_key),          cmocka_unit_test(test_unknown_arch),
        cmocka_unit_test(test_qwen2_needs_biases),   cmocka_unit_test(test_missing_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
