/* test_gguf_write.c - the GGUF writer: every value type, tensor layout,
 * read -> write -> read round trips on real files, and error handling. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static bool file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static size_t elem_size(slm_gguf_type t) {
    switch (t) {
    case SLM_GGUF_U16: case SLM_GGUF_I16: return 2;
    case SLM_GGUF_U32: case SLM_GGUF_I32: case SLM_GGUF_F32: return 4;
    case SLM_GGUF_U64: case SLM_GGUF_I64: case SLM_GGUF_F64: return 8;
    default: return 1;
    }
}

/* Deep comparison of two metadata values. */
static bool values_equal(const slm_gguf_value *a, const slm_gguf_value *b) {
    if (a->type != b->type) return false;
    switch (a->type) {
    case SLM_GGUF_U8: return a->v.u8 == b->v.u8;
    case SLM_GGUF_I8: return a->v.i8 == b->v.i8;
    case SLM_GGUF_U16: return a->v.u16 == b->v.u16;
    case SLM_GGUF_I16: return a->v.i16 == b->v.i16;
    case SLM_GGUF_U32: return a->v.u32 == b->v.u32;
    case SLM_GGUF_I32: return a->v.i32 == b->v.i32;
    case SLM_GGUF_U64: return a->v.u64 == b->v.u64;
    case SLM_GGUF_I64: return a->v.i64 == b->v.i64;
    case SLM_GGUF_F32: return memcmp(&a->v.f32, &b->v.f32, 4) == 0;
    case SLM_GGUF_F64: return memcmp(&a->v.f64, &b->v.f64, 8) == 0;
    case SLM_GGUF_BOOL: return a->v.b == b->v.b;
    case SLM_GGUF_STRING:
        return a->v.str.len == b->v.str.len && memcmp(a->v.str.ptr, b->v.str.ptr, (size_t)a->v.str.len) == 0;
    case SLM_GGUF_ARRAY: break;
    default: return false;
    }
    if (a->v.arr.type != b->v.arr.type || a->v.arr.n != b->v.arr.n) return false;
    uint64_t n = a->v.arr.n;
    if (a->v.arr.type == SLM_GGUF_STRING) {
        for (uint64_t i = 0; i < n; i++) {
            slm_str x = a->v.arr.strs[i], y = b->v.arr.strs[i];
            if (x.len != y.len || (x.len && memcmp(x.ptr, y.ptr, (size_t)x.len) != 0)) return false;
        }
        return true;
    }
    if (a->v.arr.type == SLM_GGUF_ARRAY) {
        for (uint64_t i = 0; i < n; i++)
            if (!values_equal(&a->v.arr.items[i], &b->v.arr.items[i])) return false;
        return true;
    }
    size_t es = elem_size(a->v.arr.type);
    return n == 0 || memcmp(a->v.arr.data, b->v.arr.data, (size_t)n * es) == 0;
}

/* Writes every key and tensor of g, in order, to path. */
static void copy_gguf(const slm_gguf *g, const char *path, size_t chunk) {
    slm_gguf_writer *w;
    slm_error err;
    SLM_ASSERT_OK(slm_gguf_writer_new(path, &w, &err), &err);
    SLM_ASSERT_OK(slm_gguf_writer_set_alignment(w, slm_gguf_alignment(g), &err), &err);
    for (uint64_t i = 0; i < slm_gguf_n_keys(g); i++)
        SLM_ASSERT_OK(slm_gguf_writer_set(w, slm_gguf_key_name(g, i), slm_gguf_key_value(g, i), &err), &err);
    for (uint64_t i = 0; i < slm_gguf_n_tensors(g); i++) {
        const slm_gguf_tensor *t = slm_gguf_tensor_at(g, i);
        SLM_ASSERT_OK(slm_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, &err), &err);
    }
    for (uint64_t i = 0; i < slm_gguf_n_tensors(g); i++) {
        const slm_gguf_tensor *t = slm_gguf_tensor_at(g, i);
        for (uint64_t off = 0; off < t->n_bytes; off += chunk) {
            size_t n = t->n_bytes - off < chunk ? (size_t)(t->n_bytes - off) : chunk;
            SLM_ASSERT_OK(slm_gguf_writer_write(w, (const uint8_t *)t->data + off, n, &err), &err);
        }
    }
    SLM_ASSERT_OK(slm_gguf_writer_finish(w, &err), &err);
    slm_gguf_writer_free(w);
}

static void assert_same_gguf(const slm_gguf *a, const slm_gguf *b) {
    assert_int_equal(slm_gguf_n_keys(a), slm_gguf_n_keys(b));
    for (uint64_t i = 0; i < slm_gguf_n_keys(a); i++) {
        assert_string_equal(slm_gguf_key_name(a, i), slm_gguf_key_name(b, i));
        if (!values_equal(slm_gguf_key_value(a, i), slm_gguf_key_value(b, i)))
            fail_msg("key '%s' differs", slm_gguf_key_name(a, i));
    }
    assert_int_equal(slm_gguf_alignment(a), slm_gguf_alignment(b));
    assert_int_equal(slm_gguf_n_tensors(a), slm_gguf_n_tensors(b));
    for (uint64_t i = 0; i < slm_gguf_n_tensors(a); i++) {
        const slm_gguf_tensor *x = slm_gguf_tensor_at(a, i), *y = slm_gguf_tensor_at(b, i);
        assert_string_equal(x->name, y->name);
        assert_int_equal(x->type, y->type);
        assert_int_equal(x->n_dims, y->n_dims);
        assert_memory_equal(x->ne, y->ne, sizeof x->ne);
        assert_int_equal(x->n_bytes, y->n_bytes);
        assert_int_equal(y->offset % slm_gguf_alignment(b), 0);
        if (x->n_bytes) assert_memory_equal(x->data, y->data, (size_t)x->n_bytes);
    }
}

/* ---- every value type ---------------------------------------------------- */

static slm_gguf_value scalar(slm_gguf_type t) {
    slm_gguf_value v;
    memset(&v, 0, sizeof v);
    v.type = t;
    return v;
}

static slm_gguf_value array_of(slm_gguf_type et, uint64_t n, const void *data) {
    slm_gguf_value v = scalar(SLM_GGUF_ARRAY);
    v.v.arr.type = et;
    v.v.arr.n = n;
    v.v.arr.data = data;
    return v;
}

static void set_all_types(slm_gguf_writer *w) {
    slm_error err;
    slm_gguf_value v = scalar(SLM_GGUF_U8);
    v.v.u8 = 250;
    SLM_ASSERT_OK(slm_gguf_writer_set(w, "t.u8", &v, &err), &err);
    v = scalar(SLM_GGUF_I8), v.v.i8 = -100;
    SLM_ASSERT_OK(slm_gguf_writer_set(w, "t.i8", &v, &err), &err);
    v = scalar(SLM_GGUF_U16), v.v.u16 = 65000;
    SLM_ASSERT_OK(slm_gguf_writer_set(w, "t.u16", &v, &err), &err);
    v = scalar(SLM_GGUF_I16), v.v.i16 = -32000;
    SLM_ASSERT_OK(slm_gguf_writer_set(w, "t.i16", &v, &err), &err);
    SLM_ASSERT_OK(slm_gguf_writer_set_u32(w, "t.u32", 4000000000u, &err), &err);
    SLM_ASSERT_OK(slm_gguf_writer_set_i32(w, "t.i32", -2000000000, &err), &err);
    SLM_ASSERT_OK(slm_gguf_writer_set_f32(w, "t.f32", 1e-5f, &err), &err);
    SLM_ASSERT_OK(slm_gguf_writer_set_bool(w, "t.bool", true, &err), &err);
    SLM_ASSERT_OK(slm_gguf_writer_set_str(w, "t.string", "héllo", &err), &err);
    SLM_ASSERT_OK(slm_gguf_writer_set_u64(w, "t.u64", 0xfedcba9876543210ull, &err), &err);
    v = scalar(SLM_GGUF_I64), v.v.i64 = -5000000000ll;
    SLM_ASSERT_OK(slm_gguf_writer_set(w, "t.i64", &v, &err), &err);
    v = scalar(SLM_GGUF_F64), v.v.f64 = 3.141592653589793;
    SLM_ASSERT_OK(slm_gguf_writer_set(w, "t.f64", &v, &err), &err);
    /* A string with a NUL byte inside: GGUF strings are counted, not terminated. */
    v = scalar(SLM_GGUF_STRING), v.v.str = (slm_str){"a\0b", 3};
    SLM_ASSERT_OK(slm_gguf_writer_set(w, "t.string_nul", &v, &err), &err);
}

static void set_all_arrays(slm_gguf_writer *w) {
    slm_error err;
    static const uint8_t u8s[] = {1, 2, 255};
    static const int8_t i8s[] = {-1, 0, 127};
    static const uint16_t u16s[] = {1, 65535};
    static const int16_t i16s[] = {-32768, 7};
    static const uint32_t u32s[] = {0, 0xffffffffu, 42};
    static const int32_t i32s[] = {-7, 7};
    static const float f32s[] = {0.5f, -2.25f, 1e30f};
    static const bool bools[] = {true, false, true};
    static const uint64_t u64s[] = {1ull << 63};
    static const int64_t i64s[] = {INT64_MIN, INT64_MAX};
    static const double f64s[] = {1.0 / 3.0};
    SLM_ASSERT_OK(slm_gguf_writer_set_arr(w, "a.u8", SLM_GGUF_U8, u8s, 3, &err), &err);
    SLM_ASSERT_OK(slm_gguf_writer_set_arr(w, "a.i8", SLM_GGUF_I8, i8s, 3, &err), &err);
    SLM_ASSERT_OK(slm_gguf_writer_set_arr(w, "a.u16", SLM_GGUF_U16, u16s, 2, &err), &err);
    SLM_ASSERT_OK(slm_gguf_writer_set_arr(w, "a.i16", SLM_GGUF_I16, i16s, 2, &err), &err);
    SLM_ASSERT_OK(slm_gguf_writer_set_arr(w, "a.u32", SLM_GGUF_U32, u32s, 3, &err), &err);
    SLM_ASSERT_OK(slm_gguf_writer_set_arr(w, "a.i32", SLM_GGUF_I32, i32s, 2, &err), &err);
    SLM_ASSERT_OK(slm_gguf_writer_set_arr(w, "a.f32", SLM_GGUF_F32, f32s, 3, &err), &err);
    SLM_ASSERT_OK(slm_gguf_writer_set_arr(w, "a.bool", SLM_GGUF_BOOL, bools, 3, &err), &err);
    SLM_ASSERT_OK(slm_gguf_writer_set_arr(w, "a.u64", SLM_GGUF_U64, u64s, 1, &err), &err);
    SLM_ASSERT_OK(slm_gguf_writer_set_arr(w, "a.i64", SLM_GGUF_I64, i64s, 2, &err), &err);
    SLM_ASSERT_OK(slm_gguf_writer_set_arr(w, "a.f64", SLM_GGUF_F64, f64s, 1, &err), &err);
    SLM_ASSERT_OK(slm_gguf_writer_set_arr(w, "a.empty", SLM_GGUF_U32, NULL, 0, &err), &err);
    static const slm_str strs[] = {{"zero", 4}, {"", 0}, {"x\0y", 3}};
    SLM_ASSERT_OK(slm_gguf_writer_set_arr_str(w, "a.strings", strs, 3, &err), &err);

    /* Nested arrays: [[0, 0xffffffff], [42]] and [[["zero", "", "x\0y"]]]. */
    slm_gguf_value inner[2] = {array_of(SLM_GGUF_U32, 2, u32s), array_of(SLM_GGUF_U32, 1, u32s + 2)};
    slm_gguf_value nested = array_of(SLM_GGUF_ARRAY, 2, NULL);
    nested.v.arr.items = inner;
    SLM_ASSERT_OK(slm_gguf_writer_set(w, "a.nested", &nested, &err), &err);
    slm_gguf_value s1 = array_of(SLM_GGUF_STRING, 3, NULL);
    s1.v.arr.strs = strs;
    slm_gguf_value s2 = array_of(SLM_GGUF_ARRAY, 1, NULL);
    s2.v.arr.items = &s1;
    slm_gguf_value s3 = array_of(SLM_GGUF_ARRAY, 1, NULL);
    s3.v.arr.items = &s2;
    SLM_ASSERT_OK(slm_gguf_writer_set(w, "a.nested3_strings", &s3, &err), &err);
}

static void check_all_types(const slm_gguf *g) {
    slm_error err;
    uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
    uint64_t u64; int64_t i64; float f32; double f64; bool b; slm_str s;
    SLM_ASSERT_OK(slm_gguf_get_u8(g, "t.u8", &u8, &err), &err);
    assert_int_equal(u8, 250);
    SLM_ASSERT_OK(slm_gguf_get_i8(g, "t.i8", &i8, &err), &err);
    assert_int_equal(i8, -100);
    SLM_ASSERT_OK(slm_gguf_get_u16(g, "t.u16", &u16, &err), &err);
    assert_int_equal(u16, 65000);
    SLM_ASSERT_OK(slm_gguf_get_i16(g, "t.i16", &i16, &err), &err);
    assert_int_equal(i16, -32000);
    SLM_ASSERT_OK(slm_gguf_get_u32(g, "t.u32", &u32, &err), &err);
    assert_true(u32 == 4000000000u);
    SLM_ASSERT_OK(slm_gguf_get_i32(g, "t.i32", &i32, &err), &err);
    assert_int_equal(i32, -2000000000);
    SLM_ASSERT_OK(slm_gguf_get_f32(g, "t.f32", &f32, &err), &err);
    assert_true(f32 == 1e-5f);
    SLM_ASSERT_OK(slm_gguf_get_bool(g, "t.bool", &b, &err), &err);
    assert_true(b);
    SLM_ASSERT_OK(slm_gguf_get_str(g, "t.string", &s, &err), &err);
    assert_true(slm_str_eq(s, "héllo"));
    SLM_ASSERT_OK(slm_gguf_get_u64(g, "t.u64", &u64, &err), &err);
    assert_true(u64 == 0xfedcba9876543210ull);
    SLM_ASSERT_OK(slm_gguf_get_i64(g, "t.i64", &i64, &err), &err);
    assert_true(i64 == -5000000000ll);
    SLM_ASSERT_OK(slm_gguf_get_f64(g, "t.f64", &f64, &err), &err);
    assert_true(f64 == 3.141592653589793);
    SLM_ASSERT_OK(slm_gguf_get_str(g, "t.string_nul", &s, &err), &err);
    assert_int_equal(s.len, 3);
    assert_memory_equal(s.ptr, "a\0b", 3);

    const slm_gguf_value *a;
    SLM_ASSERT_OK(slm_gguf_get_arr(g, "a.i64", SLM_GGUF_I64, &a, &err), &err);
    assert_true(((const int64_t *)a->v.arr.data)[0] == INT64_MIN);
    SLM_ASSERT_OK(slm_gguf_get_arr(g, "a.bool", SLM_GGUF_BOOL, &a, &err), &err);
    assert_memory_equal(a->v.arr.data, "\1\0\1", 3);
    SLM_ASSERT_OK(slm_gguf_get_arr(g, "a.empty", SLM_GGUF_U32, &a, &err), &err);
    assert_int_equal(a->v.arr.n, 0);
    SLM_ASSERT_OK(slm_gguf_get_arr(g, "a.strings", SLM_GGUF_STRING, &a, &err), &err);
    assert_int_equal(a->v.arr.n, 3);
    assert_true(slm_str_eq(a->v.arr.strs[0], "zero"));
    assert_int_equal(a->v.arr.strs[1].len, 0);
    assert_int_equal(a->v.arr.strs[2].len, 3);
    SLM_ASSERT_OK(slm_gguf_get_arr(g, "a.nested", SLM_GGUF_ARRAY, &a, &err), &err);
    assert_int_equal(a->v.arr.n, 2);
    assert_int_equal(a->v.arr.items[0].v.arr.n, 2);
    assert_int_equal(((const uint32_t *)a->v.arr.items[1].v.arr.data)[0], 42);
    SLM_ASSERT_OK(slm_gguf_get_arr(g, "a.nested3_strings", SLM_GGUF_ARRAY, &a, &err), &err);
    const slm_gguf_value *deep = &a->v.arr.items[0].v.arr.items[0];
    assert_int_equal(deep->v.arr.type, SLM_GGUF_STRING);
    assert_true(slm_str_eq(deep->v.arr.strs[0], "zero"));
}

/* Tensors of several types whose sizes are not multiples of the alignment. */
static const struct {
    const char *name;
    slm_type type;
    uint32_t n_dims;
    int64_t ne[4];
    size_t bytes;
} TENSORS[] = {
    {"f32.matrix", SLM_TYPE_F32, 2, {7, 3, 1, 1}, 84},
    {"f16.vector", SLM_TYPE_F16, 1, {17, 1, 1, 1}, 34},
    {"empty", SLM_TYPE_F32, 2, {4, 0, 1, 1}, 0},
    {"q8_0.blocks", SLM_TYPE_Q8_0, 2, {64, 2, 1, 1}, 4 * 34},
    {"i32.cube", SLM_TYPE_I32, 4, {2, 3, 2, 1}, 48},
};
#define N_TENSORS (sizeof TENSORS / sizeof TENSORS[0])

static void fill_pattern(uint8_t *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(i * 31 + seed * 7 + 1);
}

static void write_test_file(const char *path, uint32_t alignment) {
    slm_gguf_writer *w;
    slm_error err;
    SLM_ASSERT_OK(slm_gguf_writer_new(path, &w, &err), &err);
    SLM_ASSERT_OK(slm_gguf_writer_set_str(w, "general.architecture", "test", &err), &err);
    set_all_types(w);
    set_all_arrays(w);
    /* Replacing a key keeps its first position. */
    SLM_ASSERT_OK(slm_gguf_writer_set_str(w, "general.architecture", "test2", &err), &err);
    if (alignment != 32) SLM_ASSERT_OK(slm_gguf_writer_set_alignment(w, alignment, &err), &err);
    for (size_t i = 0; i < N_TENSORS; i++)
        SLM_ASSERT_OK(slm_gguf_writer_add_tensor(w, TENSORS[i].name, TENSORS[i].type, TENSORS[i].n_dims,
                                                 TENSORS[i].ne, &err), &err);
    for (size_t i = 0; i < N_TENSORS; i++) {
        uint8_t buf[256];
        fill_pattern(buf, TENSORS[i].bytes, (unsigned)i);
        /* Byte by byte for one tensor, in one piece for the others. */
        if (i == 0)
            for (size_t k = 0; k < TENSORS[i].bytes; k++) SLM_ASSERT_OK(slm_gguf_writer_write(w, buf + k, 1, &err), &err);
        else
            SLM_ASSERT_OK(slm_gguf_writer_write(w, buf, TENSORS[i].bytes, &err), &err);
    }
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_true(file_exists(tmp));
    assert_false(file_exists(path));
    SLM_ASSERT_OK(slm_gguf_writer_finish(w, &err), &err);
    slm_gguf_writer_free(w);
    assert_false(file_exists(tmp));
}

static void check_test_file(const char *path, uint32_t alignment) {
    slm_gguf *g;
    slm_error err;
    SLM_ASSERT_OK(slm_gguf_open(path, &g, &err), &err);
    assert_int_equal(slm_gguf_version(g), 3);
    assert_int_equal(slm_gguf_alignment(g), alignment);
    assert_int_equal(slm_gguf_data_offset(g) % alignment, 0);
    assert_string_equal(slm_gguf_key_name(g, 0), "general.architecture");
    slm_str arch;
    SLM_ASSERT_OK(slm_gguf_get_str(g, "general.architecture", &arch, &err), &err);
    assert_true(slm_str_eq(arch, "test2"));
    assert_int_equal(slm_gguf_find_key(g, "general.alignment") >= 0, alignment != 32);
    assert_int_equal(slm_gguf_n_keys(g), 1 + 13 + 15 + (alignment != 32));
    check_all_types(g);
    assert_int_equal(slm_gguf_n_tensors(g), N_TENSORS);
    uint64_t expect_off = 0;
    for (size_t i = 0; i < N_TENSORS; i++) {
        const slm_gguf_tensor *t = slm_gguf_tensor_at(g, i);
        assert_string_equal(t->name, TENSORS[i].name);
        assert_int_equal(t->type, TENSORS[i].type);
        assert_int_equal(t->n_dims, TENSORS[i].n_dims);
        assert_memory_equal(t->ne, TENSORS[i].ne, sizeof t->ne);
        assert_int_equal(t->n_bytes, TENSORS[i].bytes);
        assert_int_equal(t->offset, expect_off);
        expect_off += (TENSORS[i].bytes + alignment - 1) / alignment * alignment;
        uint8_t buf[256];
        fill_pattern(buf, TENSORS[i].bytes, (unsigned)i);
        if (t->n_bytes) assert_memory_equal(t->data, buf, TENSORS[i].bytes);
    }
    /* Every tensor is padded, the last one too; the padding is zeros. */
    assert_int_equal(slm_gguf_file_size(g), slm_gguf_data_offset(g) + expect_off);
    const slm_gguf_tensor *last = slm_gguf_tensor_at(g, N_TENSORS - 1);
    const uint8_t *end = (const uint8_t *)last->data + last->n_bytes;
    for (uint64_t i = last->n_bytes; i < expect_off - last->offset; i++) assert_int_equal(*end++, 0);
    slm_gguf_close(g);
}

static void test_every_value_type(void **state) {
    (void)state;
    char *dir = slm_test_tmpdir(), path[4096];
    snprintf(path, sizeof path, "%s/all.gguf", dir);
    write_test_file(path, 32);
    check_test_file(path, 32);
    /* read -> write -> read keeps everything */
    slm_gguf *a, *b;
    slm_error err;
    char copy[4096];
    snprintf(copy, sizeof copy, "%s/copy.gguf", dir);
    SLM_ASSERT_OK(slm_gguf_open(path, &a, &err), &err);
    copy_gguf(a, copy, 5);
    SLM_ASSERT_OK(slm_gguf_open(copy, &b, &err), &err);
    assert_same_gguf(a, b);
    slm_gguf_close(a);
    slm_gguf_close(b);
    slm_test_rmtree(dir);
    free(dir);
}

static void test_alignment(void **state) {
    (void)state;
    char *dir = slm_test_tmpdir(), path[4096];
    snprintf(path, sizeof path, "%s/a64.gguf", dir);
    write_test_file(path, 64);
    check_test_file(path, 64);
    slm_gguf_writer *w;
    slm_error err;
    SLM_ASSERT_OK(slm_gguf_writer_new(path, &w, &err), &err);
    assert_int_equal(slm_gguf_writer_set_alignment(w, 48, &err), SLM_E_INVALID);
    assert_int_equal(slm_gguf_writer_set_u64(w, "general.alignment", 64, &err), SLM_E_INVALID);
    assert_non_null(strstr(err.message, "general.alignment"));
    /* Back to the default removes the key again. */
    SLM_ASSERT_OK(slm_gguf_writer_set_alignment(w, 8, &err), &err);
    SLM_ASSERT_OK(slm_gguf_writer_set_alignment(w, 32, &err), &err);
    SLM_ASSERT_OK(slm_gguf_writer_finish(w, &err), &err);
    slm_gguf_writer_free(w);
    slm_gguf *g;
    SLM_ASSERT_OK(slm_gguf_open(path, &g, &err), &err);
    assert_int_equal(slm_gguf_n_keys(g), 0);
    assert_int_equal(slm_gguf_n_tensors(g), 0);
    assert_int_equal(slm_gguf_file_size(g), 24); /* the bare header: no data section to pad */
    slm_gguf_close(g);
    slm_test_rmtree(dir);
    free(dir);
}

/* ---- real files ---------------------------------------------------------- */

static void roundtrip_file(const char *rel) {
    char src[4096];
    SLM_REQUIRE_DATA(src, rel);
    char *dir = slm_test_tmpdir(), out[4096];
    snprintf(out, sizeof out, "%s/copy.gguf", dir);
    slm_gguf *a, *b;
    slm_error err;
    SLM_ASSERT_OK(slm_gguf_open(src, &a, &err), &err);
    copy_gguf(a, out, 1000);
    SLM_ASSERT_OK(slm_gguf_open(out, &b, &err), &err);
    assert_same_gguf(a, b);
    /* llama.cpp's layout (alignment 32, every tensor padded): byte-identical. */
    size_t n1, n2;
    char *x = slm_test_read_file(src, &n1), *y = slm_test_read_file(out, &n2);
    assert_non_null(x);
    assert_non_null(y);
    assert_int_equal(n1, n2);
    assert_memory_equal(x, y, n1);
    free(x);
    free(y);
    slm_gguf_close(a);
    slm_gguf_close(b);
    slm_test_rmtree(dir);
    free(dir);
}

static void test_roundtrip_stories260k(void **state) {
    (void)state;
    roundtrip_file("models/stories260K.gguf");
}

static void test_roundtrip_vocab(void **state) {
    (void)state;
    roundtrip_file("models/vocab/ggml-vocab-gpt-2.gguf");
}

static void test_roundtrip_quantized(void **state) {
    (void)state;
    roundtrip_file("reference/stories260K/stories260K-Q4_0.gguf");
}

/* ---- errors -------------------------------------------------------------- */

static void test_size_mismatch(void **state) {
    (void)state;
    char *dir = slm_test_tmpdir(), path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/m.gguf", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    slm_gguf_writer *w;
    slm_error err;
    const int64_t ne[2] = {4, 2};
    float data[9] = {0};

    /* Too many bytes. */
    SLM_ASSERT_OK(slm_gguf_writer_new(path, &w, &err), &err);
    SLM_ASSERT_OK(slm_gguf_writer_add_tensor(w, "x", SLM_TYPE_F32, 2, ne, &err), &err);
    assert_int_equal(slm_gguf_writer_write(w, data, sizeof data, &err), SLM_E_INVALID);
    assert_non_null(strstr(err.message, "after the last tensor"));
    slm_gguf_writer_free(w);
    assert_false(file_exists(tmp));
    assert_false(file_exists(path));

    /* Too few bytes, then finish. */
    SLM_ASSERT_OK(slm_gguf_writer_new(path, &w, &err), &err);
    SLM_ASSERT_OK(slm_gguf_writer_add_tensor(w, "x", SLM_TYPE_F32, 2, ne, &err), &err);
    SLM_ASSERT_OK(slm_gguf_writer_add_tensor(w, "y", SLM_TYPE_F32, 1, ne, &err), &err);
    SLM_ASSERT_OK(slm_gguf_writer_write(w, data, 8 * sizeof(float), &err), &err);
    SLM_ASSERT_OK(slm_gguf_writer_write(w, data, 3 * sizeof(float), &err), &err);
    /* The layout is frozen once data flows. */
    assert_int_equal(slm_gguf_writer_set_u32(w, "k", 1, &err), SLM_E_INVALID);
    assert_int_equal(slm_gguf_writer_add_tensor(w, "z", SLM_TYPE_F32, 1, ne, &err), SLM_E_INVALID);
    assert_int_equal(slm_gguf_writer_finish(w, &err), SLM_E_INVALID);
    assert_non_null(strstr(err.message, "tensor 'y'"));
    assert_non_null(strstr(err.message, "12 of its 16 bytes"));
    slm_gguf_writer_free(w);
    assert_false(file_exists(tmp));
    assert_false(file_exists(path));
    slm_test_rmtree(dir);
    free(dir);
}

static void test_bad_tensor_infos(void **state) {
    (void)state;
    char *dir = slm_test_tmpdir(), path[4096];
    snprintf(path, sizeof path, "%s/b.gguf", dir);
    slm_gguf_writer *w;
    slm_error err;
    const int64_t ne[2] = {32, 2}, odd[2] = {33, 2}, neg[2] = {-1, 2};
    SLM_ASSERT_OK(slm_gguf_writer_new(path, &w, &err), &err);
    SLM_ASSERT_OK(slm_gguf_writer_add_tensor(w, "blk.0.attn_q.weight", SLM_TYPE_Q8_0, 2, ne, &err), &err);
    assert_int_equal(slm_gguf_writer_add_tensor(w, "blk.0.attn_q.weight", SLM_TYPE_F32, 2, ne, &err), SLM_E_INVALID);
    assert_non_null(strstr(err.message, "duplicate tensor name 'blk.0.attn_q.weight'"));
    assert_int_equal(slm_gguf_writer_add_tensor(w, "", SLM_TYPE_F32, 2, ne, &err), SLM_E_INVALID);
    assert_int_equal(slm_gguf_writer_add_tensor(w, NULL, SLM_TYPE_F32, 2, ne, &err), SLM_E_INVALID);
    char longname[80];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_int_equal(slm_gguf_writer_add_tensor(w, longname, SLM_TYPE_F32, 2, ne, &err), SLM_E_INVALID);
    assert_non_null(strstr(err.message, "79 bytes long"));
    assert_int_equal(slm_gguf_writer_add_tensor(w, "q", SLM_TYPE_Q8_0, 2, odd, &err), SLM_E_INVALID);
    assert_non_null(strstr(err.message, "block size"));
    assert_int_equal(slm_gguf_writer_add_tensor(w, "n", SLM_TYPE_F32, 2, neg, &err), SLM_E_INVALID);
    assert_int_equal(slm_gguf_writer_add_tensor(w, "d", SLM_TYPE_F32, 5, ne, &err), SLM_E_INVALID);
    assert_int_equal(slm_gguf_writer_add_tensor(w, "t", (slm_type)4, 2, ne, &err), SLM_E_INVALID);
    assert_int_equal(slm_gguf_writer_set_u32(w, "", 1, &err), SLM_E_INVALID);
    slm_gguf_value bad;
    memset(&bad, 0, sizeof bad);
    bad.type = SLM_GGUF_TYPE_COUNT;
    assert_int_equal(slm_gguf_writer_set(w, "k", &bad, &err), SLM_E_INVALID);
    assert_int_equal(slm_gguf_writer_remove(w, "absent"), SLM_E_NOT_FOUND);
    slm_gguf_writer_free(w);
    slm_test_rmtree(dir);
    free(dir);
}

static void test_unwritable_directory(void **state) {
    (void)state;
    slm_gguf_writer *w = (slm_gguf_writer *)1;
    slm_error err;
    assert_int_equal(slm_gguf_writer_new("/nonexistent-dir-slm/x/model.gguf", &w, &err), SLM_E_IO);
    assert_null(w);
    assert_non_null(strstr(err.message, "/nonexistent-dir-slm/x/model.gguf.tmp"));
    assert_non_null(strstr(err.message, "No such file"));
}

/* A disk that fills up: the file size limit makes write() fail with EFBIG,
 * as ENOSPC would.  Runs in a child so the limit does not leak. */
static void test_disk_full(void **state) {
    (void)state;
    char *dir = slm_test_tmpdir(), path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/full.gguf", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {64 * 1024, 64 * 1024};
        setrlimit(RLIMIT_FSIZE, &rl);
        slm_gguf_writer *w;
        slm_error err;
        const int64_t ne[1] = {1 << 20};
        if (slm_gguf_writer_new(path, &w, &err)) _exit(2);
        if (slm_gguf_writer_add_tensor(w, "big", SLM_TYPE_F32, 1, ne, &err)) _exit(3);
        static float chunk[1 << 14];
        slm_status s = SLM_OK;
        for (int i = 0; i < 64 && !s; i++) s = slm_gguf_writer_write(w, chunk, sizeof chunk, &err);
        if (!s) s = slm_gguf_writer_finish(w, &err);
        if (s != SLM_E_IO || !strstr(err.message, "failed")) _exit(4);
        /* The writer stays failed. */
        if (slm_gguf_writer_finish(w, &err) != SLM_E_IO) _exit(5);
        slm_gguf_writer_free(w);
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_false(file_exists(tmp));
    assert_false(file_exists(path));
    slm_test_rmtree(dir);
    free(dir);
}

/* finish replaces an existing file only at the very end. */
static void test_replaces_existing(void **state) {
    (void)state;
    char *dir = slm_test_tmpdir(), path[4096];
    snprintf(path, sizeof path, "%s/r.gguf", dir);
    assert_true(slm_test_write_file(path, "old", 3));
    slm_gguf_writer *w;
    slm_error err;
    SLM_ASSERT_OK(slm_gguf_writer_new(path, &w, &err), &err);
    SLM_ASSERT_OK(slm_gguf_writer_set_str(w, "general.name", "new", &err), &err);
    slm_gguf_writer_free(w); /* abandoned: the old file stays */
    size_t n;
    char *old = slm_test_read_file(path, &n);
    assert_int_equal(n, 3);
    free(old);
    SLM_ASSERT_OK(slm_gguf_writer_new(path, &w, &err), &err);
    SLM_ASSERT_OK(slm_gguf_writer_set_str(w, "general.name", "new", &err), &err);
    SLM_ASSERT_OK(slm_gguf_writer_finish(w, &err), &err);
    assert_int_equal(slm_gguf_writer_finish(w, &err), SLM_E_INVALID);
    slm_gguf_writer_free(w);
    slm_gguf *g;
    SLM_ASSERT_OK(slm_gguf_open(path, &g, &err), &err);
    assert_int_equal(slm_gguf_n_keys(g), 1);
    slm_gguf_close(g);
    slm_test_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_value_type),
        cmocka_unit_test(test_alignment),
        cmocka_unit_test(test_roundtrip_stories260k),
        cmocka_unit_test(test_roundtrip_vocab),
        cmocka_unit_test(test_roundtrip_quantized),
        cmocka_unit_test(test_size_mismatch),
        cmocka_unit_test(test_bad_tensor_infos),
        cmocka_unit_test(test_unwritable_directory),
        cmocka_unit_test(test_disk_full),
        cmocka_unit_test(test_replaces_existing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
