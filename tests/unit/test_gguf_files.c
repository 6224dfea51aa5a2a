/* test_gguf_files.c - the GGUF reader on whole sets of files: the llama.cpp
 * vocabulary GGUFs, the synthetic models against their .tensors.json
 * manifests (every key and every tensor: name, type, shape, offset, byte
 * size), and a replay of the fuzzer's committed corpus. */
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* Sorted names of the files in dir that end with suffix (NULL if dir is missing). */
static char **list_files(const char *dir, const char *suffix, size_t *n_out) {
    DIR *d = opendir(dir);
    if (!d) return NULL;
    size_t n = 0, cap = 16, sl = strlen(suffix);
    char **names = malloc(cap * sizeof *names);
    assert_non_null(names);
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len < sl || strcmp(e->d_name + len - sl, suffix) != 0) continue;
        if (n == cap) {
            cap *= 2;
            names = realloc(names, cap * sizeof *names);
            assert_non_null(names);
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    for (size_t i = 1; i < n; i++) /* insertion sort: deterministic order */
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    *n_out = n;
    return names;
}

static void free_list(char **names, size_t n) {
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

/* ---- vocabulary files ------------------------------------------------------ */

/* n_vocab and tokenizer.ggml.model of each file, from models/README.md. */
static const struct { const char *name, *model; int64_t n_vocab; } VOCABS[] = {
    {"baichuan", "llama", 64000},   {"bert-bge", "bert", 30522},       {"deepseek-coder", "gpt2", 32256},
    {"deepseek-llm", "gpt2", 102400}, {"falcon", "gpt2", 65024},       {"gpt-2", "gpt2", 50257},
    {"gpt-neox", "gpt2", 50432},    {"llama-spm", "llama", 32000},     {"mpt", "gpt2", 50432},
    {"phi-3", "llama", 32064},      {"refact", "gpt2", 49216},         {"starcoder", "gpt2", 49152},
};

static void test_vocab_files(void **state) {
    (void)state;
    char dir[4096];
    SLM_REQUIRE_DATA(dir, "models/vocab");
    size_t n = 0;
    char **files = list_files(dir, ".gguf", &n);
    assert_non_null(files);
    assert_true(n >= 5);
    for (size_t i = 0; i < n; i++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        int k = -1;
        for (int j = 0; j < (int)(sizeof VOCABS / sizeof VOCABS[0]); j++) {
            char want[64];
            snprintf(want, sizeof want, "ggml-vocab-%s.gguf", VOCABS[j].name);
            if (strcmp(files[i], want) == 0) k = j;
        }
        if (k < 0) fail_msg("%s is not in the README's table", files[i]);
        slm_gguf *g;
        slm_error err;
        SLM_ASSERT_OK(slm_gguf_open(path, &g, &err), &err);
        assert_int_equal(slm_gguf_version(g), 3);
        assert_int_equal(slm_gguf_n_tensors(g), 0);
        const slm_gguf_value *tokens;
        SLM_ASSERT_OK(slm_gguf_get_arr(g, "tokenizer.ggml.tokens", SLM_GGUF_STRING, &tokens, &err), &err);
        if ((int64_t)tokens->v.arr.n != VOCABS[k].n_vocab)
            fail_msg("%s: %llu tokens, README says %lld", files[i], (unsigned long long)tokens->v.arr.n,
                     (long long)VOCABS[k].n_vocab);
        slm_str model;
        SLM_ASSERT_OK(slm_gguf_get_str(g, "tokenizer.ggml.model", &model, &err), &err);
        assert_true(slm_str_eq(model, VOCABS[k].model));
        slm_gguf_close(g);
    }
    free_list(files, n);
}

/* ---- synthetic models against their manifests ------------------------------ */

static bool elem_type_from_json(const char *name, slm_gguf_type *out) {
    static const struct { const char *name; slm_gguf_type t; } map[] = {
        {"UINT8", SLM_GGUF_U8},   {"INT8", SLM_GGUF_I8},       {"UINT16", SLM_GGUF_U16},
        {"INT16", SLM_GGUF_I16},  {"UINT32", SLM_GGUF_U32},    {"INT32", SLM_GGUF_I32},
        {"FLOAT32", SLM_GGUF_F32}, {"BOOL", SLM_GGUF_BOOL},    {"STRING", SLM_GGUF_STRING},
        {"ARRAY", SLM_GGUF_ARRAY}, {"UINT64", SLM_GGUF_U64},   {"INT64", SLM_GGUF_I64},
        {"FLOAT64", SLM_GGUF_F64},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(map[i].name, name) == 0) {
            *out = map[i].t;
            return true;
        }
    return false;
}

/* One metadata entry: the JSON value's kind decides the GGUF type(s) it may have. */
static void check_key(const char *file, const slm_gguf *g, const char *key, json_t *want) {
    const slm_gguf_value *v = slm_gguf_get(g, key);
    if (!v) fail_msg("%s: key %s missing", file, key);
    slm_error err;
    if (json_is_string(want)) {
        if (v->type != SLM_GGUF_STRING || !slm_str_eq(v->v.str, json_string_value(want)))
            fail_msg("%s: key %s: expected the string '%s'", file, key, json_string_value(want));
    } else if (json_is_boolean(want)) {
        if (v->type != SLM_GGUF_BOOL || v->v.b != json_is_true(want)) fail_msg("%s: key %s: bool", file, key);
    } else if (json_is_integer(want)) {
        int64_t x = 0;
        if (v->type == SLM_GGUF_U64) x = (int64_t)v->v.u64; /* keep the bits for values past INT64_MAX */
        else if (slm_gguf_get_int(g, key, &x, &err) != SLM_OK) fail_msg("%s: %s", file, err.message);
        if (x != (int64_t)json_integer_value(want))
            fail_msg("%s: key %s = %lld, expected %lld", file, key, (long long)x,
                     (long long)json_integer_value(want));
    } else if (json_is_real(want)) {
        double x = 0, w = json_real_value(want);
        if (slm_gguf_get_float(g, key, &x, &err) != SLM_OK) fail_msg("%s: %s", file, err.message);
        if (fabs(x - w) > 1e-6 * fabs(w)) fail_msg("%s: key %s = %.9g, expected %.9g", file, key, x, w);
    } else if (json_is_object(want)) {
        const char *of = json_string_value(json_object_get(want, "array_of"));
        json_t *len = json_object_get(want, "length");
        slm_gguf_type et = SLM_GGUF_U8;
        if (!of || !json_is_integer(len) || !elem_type_from_json(of, &et))
            fail_msg("%s: key %s: unexpected manifest entry", file, key);
        const slm_gguf_value *arr = NULL;
        if (slm_gguf_get_arr(g, key, et, &arr, &err) != SLM_OK) fail_msg("%s: %s", file, err.message);
        if ((json_int_t)arr->v.arr.n != json_integer_value(len))
            fail_msg("%s: key %s has %llu elements, expected %lld", file, key, (unsigned long long)arr->v.arr.n,
                     (long long)json_integer_value(len));
    } else {
        fail_msg("%s: key %s: unexpected JSON value", file, key);
    }
}

static void check_tensor(const char *file, const slm_gguf *g, json_t *want) {
    const char *name = json_string_value(json_object_get(want, "name"));
    assert_non_null(name);
    const slm_gguf_tensor *t = slm_gguf_find_tensor(g, name);
    if (!t) fail_msg("%s: tensor %s missing", file, name);
    const char *type = json_string_value(json_object_get(want, "type"));
    if (!type || strcmp(type, slm_type_name(t->type)) != 0)
        fail_msg("%s: tensor %s has type %s, expected %s", file, name, slm_type_name(t->type), type);
    json_t *ne = json_object_get(want, "ne");
    if (json_array_size(ne) != t->n_dims)
        fail_msg("%s: tensor %s has %u dims, expected %zu", file, name, t->n_dims, json_array_size(ne));
    for (size_t d = 0; d < 4; d++) {
        int64_t w = d < t->n_dims ? (int64_t)json_integer_value(json_array_get(ne, d)) : 1;
        if (t->ne[d] != w) fail_msg("%s: tensor %s ne[%zu] = %lld, expected %lld", file, name, d,
                                    (long long)t->ne[d], (long long)w);
    }
    if ((json_int_t)t->file_offset != json_integer_value(json_object_get(want, "offset")))
        fail_msg("%s: tensor %s at file offset %llu, expected %lld", file, name,
                 (unsigned long long)t->file_offset,
                 (long long)json_integer_value(json_object_get(want, "offset")));
    if ((json_int_t)t->n_bytes != json_integer_value(json_object_get(want, "nbytes")))
        fail_msg("%s: tensor %s (%s) has %llu bytes, expected %lld", file, name, type,
                 (unsigned long long)t->n_bytes, (long long)json_integer_value(json_object_get(want, "nbytes")));
}

static void check_manifest(const char *dir, const char *manifest) {
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", dir, manifest);
    json_error_t jerr;
    json_t *m = json_load_file(path, 0, &jerr);
    if (!m) fail_msg("%s: %s", path, jerr.text);
    const char *model = json_string_value(json_object_get(m, "model"));
    assert_non_null(model);
    snprintf(path, sizeof path, "%s/%s", dir, model);
    slm_gguf *g;
    slm_error err;
    SLM_ASSERT_OK(slm_gguf_open(path, &g, &err), &err);
    assert_int_equal(slm_gguf_file_size(g), json_integer_value(json_object_get(m, "file_size")));
    assert_int_equal(slm_gguf_version(g), json_integer_value(json_object_get(m, "gguf_version")));
    assert_int_equal(slm_gguf_alignment(g), json_integer_value(json_object_get(m, "alignment")));
    assert_int_equal(slm_gguf_data_offset(g), json_integer_value(json_object_get(m, "tensor_data_offset")));

    json_t *meta = json_object_get(m, "metadata");
    assert_true(json_is_object(meta));
    assert_int_equal(slm_gguf_n_keys(g), json_object_size(meta));
    const char *key;
    json_t *val;
    json_object_foreach(meta, key, val) check_key(model, g, key, val);

    json_t *tensors = json_object_get(m, "tensors");
    assert_int_equal(slm_gguf_n_tensors(g), json_array_size(tensors));
    size_t i;
    json_t *t;
    json_array_foreach(tensors, i, t) check_tensor(model, g, t);
    slm_gguf_close(g);
    json_decref(m);
}

static void test_synthetic_manifests(void **state) {
    (void)state;
    char dir[4096];
    SLM_REQUIRE_DATA(dir, "reference/synthetic");
    size_t n = 0;
    char **files = list_files(dir, ".tensors.json", &n);
    assert_non_null(files);
    assert_true(n >= 20);
    for (size_t i = 0; i < n; i++) check_manifest(dir, files[i]);
    free_list(files, n);
}

/* ---- the fuzzer's corpus ------------------------------------------------------ */

static volatile uint8_t sink;

static void walk_value(const slm_gguf_value *v) {
    if (v->type == SLM_GGUF_STRING) {
        for (uint64_t i = 0; i < v->v.str.len; i++) sink ^= (uint8_t)v->v.str.ptr[i];
    } else if (v->type == SLM_GGUF_ARRAY) {
        for (uint64_t i = 0; i < v->v.arr.n; i++) {
            if (v->v.arr.type == SLM_GGUF_ARRAY) walk_value(&v->v.arr.items[i]);
            else if (v->v.arr.type == SLM_GGUF_STRING && v->v.arr.strs[i].len) sink ^= (uint8_t)v->v.arr.strs[i].ptr[0];
        }
    }
}

/* Every corpus file, valid or not, opens or fails cleanly (from memory and
 * from disk); the valid ones are walked completely. */
static void test_fuzz_corpus(void **state) {
    (void)state;
    const char *dir = SLM_SOURCE_DIR "/tests/fuzz/corpus/gguf";
    size_t n = 0;
    char **files = list_files(dir, "", &n);
    if (!files) fail_msg("missing fuzz corpus %s", dir);
    assert_true(n >= 20);
    size_t n_valid = 0;
    for (size_t i = 0; i < n; i++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        size_t len = 0;
        char *raw = slm_test_read_file(path, &len);
        assert_non_null(raw);
        uint8_t *copy = malloc(len ? len : 1); /* exact size: ASan sees overreads */
        assert_non_null(copy);
        memcpy(copy, raw, len);
        slm_gguf *g = NULL;
        slm_error err;
        slm_status s = slm_gguf_open_memory(copy, len, files[i], &g, &err);
        if (s == SLM_OK) {
            n_valid++;
            for (uint64_t k = 0; k < slm_gguf_n_keys(g); k++) walk_value(slm_gguf_key_value(g, k));
            for (uint64_t k = 0; k < slm_gguf_n_tensors(g); k++) {
                const slm_gguf_tensor *t = slm_gguf_tensor_at(g, k);
                for (uint64_t b = 0; b < t->n_bytes; b++) sink ^= ((const uint8_t *)t->data)[b];
            }
            slm_gguf_close(g);
        } else if (!strstr(err.message, files[i])) {
            fail_msg("%s: message does not name the file: '%s'", files[i], err.message);
        }
        slm_status s2 = slm_gguf_open(path, &g, &err);
        if (s2 != s) fail_msg("%s: open gives %s, open_memory %s", files[i], slm_status_name(s2), slm_status_name(s));
        slm_gguf_close(g);
        free(copy);
        free(raw);
    }
    assert_true(n_valid > 0);
    free_list(files, n);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vocab_files),
        cmocka_unit_test(test_synthetic_manifests),
        cmocka_unit_test(test_fuzz_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
