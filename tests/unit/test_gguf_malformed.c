/* test_gguf_malformed.c - the GGUF reader on broken input: every truncation
 * point of a small file, impossible counts and lengths, bad type ids, bad
 * shapes and tensor layouts, bad general.alignment, bad headers, and files
 * that are not regular files.  Each must fail with an slm error whose
 * message names the file (and, for the representative cases checked below,
 * the key or tensor and the offset), never crash or hang. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gguf_bytes.h"
#include "testutil.h"

#define NAME "bad.gguf"

/* Opens exactly n bytes (a fresh heap copy, so ASan sees any read past the
 * end) and checks the failure; each NULL-terminated needle must appear in the
 * message.  Returns the status. */
static slm_status open_fails(const uint8_t *p, size_t n, const char *const *needles) {
    uint8_t *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    if (n) memcpy(copy, p, n);
    slm_gguf *g = (slm_gguf *)&g; /* must be reset to NULL */
    slm_error err;
    memset(&err, 0, sizeof err);
    slm_status s = slm_gguf_open_memory(copy, n, NAME, &g, &err);
    if (s == SLM_OK) fail_msg("%zu-byte input opened, expected an error", n);
    assert_null(g);
    assert_int_equal(err.status, s);
    if (!strstr(err.message, NAME)) fail_msg("message does not name the file: '%s'", err.message);
    for (; needles && *needles; needles++)
        if (!strstr(err.message, *needles)) fail_msg("message lacks '%s': '%s'", *needles, err.message);
    free(copy);
    return s;
}

#define EXPECT_FORMAT(buf, ...)                                                                  \
    do {                                                                                         \
        const char *const needles_[] = {__VA_ARGS__, NULL};                                      \
        assert_int_equal(open_fails((buf).p, (buf).len, needles_), SLM_E_FORMAT);               \
    } while (0)

static void opens(const gbuf *b) {
    slm_gguf *g;
    slm_error err;
    SLM_ASSERT_OK(slm_gguf_open_memory(b->p, b->len, NAME, &g, &err), &err);
    slm_gguf_close(g);
}

/* A small valid file touching every section: scalars, a string, a string
 * array, a nested array, general.alignment, two tensors with data. */
static gbuf small_file(void) {
    gbuf b = {0};
    gb_header(&b, 3, 2, 6);
    gb_kv_str(&b, "general.architecture", "llama");
    gb_kv_u32(&b, "general.alignment", 16);
    gb_key(&b, "f", SLM_GGUF_F32), gb_f32(&b, 0.5f);
    gb_key(&b, "toks", SLM_GGUF_ARRAY), gb_u32(&b, SLM_GGUF_STRING), gb_u64(&b, 2);
    gb_str(&b, "ab"), gb_str(&b, "c");
    gb_key(&b, "nest", SLM_GGUF_ARRAY), gb_u32(&b, SLM_GGUF_ARRAY), gb_u64(&b, 1);
    gb_u32(&b, SLM_GGUF_I16), gb_u64(&b, 2), gb_u16(&b, 1), gb_u16(&b, 2);
    gb_key(&b, "b", SLM_GGUF_BOOL), gb_u8(&b, 1);
    gb_tensor(&b, "w", 2, (const uint64_t[]){2, 2}, SLM_TYPE_F32, 0);
    gb_tensor(&b, "q", 1, (const uint64_t[]){32}, SLM_TYPE_Q8_0, 16);
    gb_pad(&b, 16);
    gb_fill(&b, 16 + 34, 3);
    return b;
}

/* A file with one tensor and data_len bytes of data. */
static gbuf one_tensor(uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t offset, size_t data_len) {
    gbuf b = {0};
    gb_header(&b, 3, 1, 0);
    gb_tensor(&b, "w", n_dims, ne, type, offset);
    gb_pad(&b, 32);
    gb_fill(&b, data_len, 0);
    return b;
}

/* ---- truncation ---------------------------------------------------------- */

static void test_truncated_everywhere(void **state) {
    (void)state;
    gbuf b = small_file();
    opens(&b);
    for (size_t n = 0; n < b.len; n++) assert_int_equal(open_fails(b.p, n, NULL), SLM_E_FORMAT);

    /* The same through real files on disk, mapped and copied: the same error. */
    char *dir = slm_test_tmpdir();
    assert_non_null(dir);
    char path[4096];
    snprintf(path, sizeof path, "%s/cut.gguf", dir);
    for (size_t n = 0; n < b.len; n++) {
        assert_true(slm_test_write_file(path, b.p, n));
        slm_gguf *g;
        slm_error err, err_copy;
        assert_int_equal(slm_gguf_open(path, &g, &err), SLM_E_FORMAT);
        assert_null(g);
        assert_non_null(strstr(err.message, path));
        assert_int_equal(slm_gguf_open_with(path, SLM_LOAD_COPY, &g, &err_copy), SLM_E_FORMAT);
        assert_null(g);
        assert_string_equal(err_copy.message, err.message);
    }
    slm_test_rmtree(dir);
    free(dir);

    /* Representative messages: where the data ran out. */
    static const char *const in_header[] = {"truncated", "tensor count", "offset 8", NULL};
    open_fails(b.p, 12, in_header);
    gbuf kv = {0};
    gb_header(&kv, 3, 0, 1);
    gb_kv_str(&kv, "general.architecture", "llama");
    static const char *const in_key[] = {"key 'general.architecture' at offset 24", "string value",
                                         "offset 56", NULL};
    open_fails(kv.p, kv.len - 1, NULL);
    open_fails(kv.p, 24 + 8 + 20 + 4 + 3, in_key);
    gb_free(&kv);
    static const char *const in_data[] = {"tensor 'q'", "past the end", NULL};
    open_fails(b.p, b.len - 1, in_data);
    gb_free(&b);
}

/* ---- counts and lengths ---------------------------------------------------- */

static void test_huge_counts(void **state) {
    (void)state;
    static const uint64_t huge[] = {(uint64_t)1 << 63, UINT64_MAX, (uint64_t)1 << 62, 1000000};
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        uint64_t n = huge[i];
        gbuf b = {0};
        gb_header(&b, 3, 0, n); /* key count */
        gb_kv_u32(&b, "k", 1);
        EXPECT_FORMAT(b, "metadata key count");
        gb_free(&b);

        gb_header(&b, 3, n, 0); /* tensor count */
        gb_tensor(&b, "w", 1, (const uint64_t[]){1}, SLM_TYPE_F32, 0);
        EXPECT_FORMAT(b, "tensor count");
        gb_free(&b);

        gb_header(&b, 3, 0, 1); /* key length */
        gb_u64(&b, n), gb_bytes(&b, "key", 3), gb_u32(&b, SLM_GGUF_U8), gb_u8(&b, 0);
        EXPECT_FORMAT(b, "key", "offset 24", "has length");
        gb_free(&b);

        gb_header(&b, 3, 0, 1); /* string value length */
        gb_key(&b, "s", SLM_GGUF_STRING), gb_u64(&b, n), gb_bytes(&b, "abc", 3);
        EXPECT_FORMAT(b, "key 's'", "string value", "has length");
        gb_free(&b);

        gb_header(&b, 3, 1, 0); /* tensor name length */
        gb_u64(&b, n), gb_bytes(&b, "w", 1), gb_u32(&b, 1), gb_u64(&b, 1), gb_u32(&b, 0), gb_u64(&b, 0);
        gb_pad(&b, 32), gb_fill(&b, 32, 0);
        EXPECT_FORMAT(b, "tensor info 0", "has length");
        gb_free(&b);

        static const slm_gguf_type elem[] = {SLM_GGUF_U8, SLM_GGUF_U32, SLM_GGUF_F64, SLM_GGUF_STRING,
                                             SLM_GGUF_ARRAY};
        for (size_t e = 0; e < sizeof elem / sizeof elem[0]; e++) { /* array length */
            gb_header(&b, 3, 0, 1);
            gb_key(&b, "arr", SLM_GGUF_ARRAY), gb_u32(&b, elem[e]), gb_u64(&b, n);
            gb_fill(&b, 64, 1);
            EXPECT_FORMAT(b, "key 'arr'", "array at offset 39", "elements");
            gb_free(&b);
        }
        /* a nested array's length */
        gb_header(&b, 3, 0, 1);
        gb_key(&b, "arr", SLM_GGUF_ARRAY), gb_u32(&b, SLM_GGUF_ARRAY), gb_u64(&b, 1);
        gb_u32(&b, SLM_GGUF_U16), gb_u64(&b, n), gb_u16(&b, 7);
        EXPECT_FORMAT(b, "key 'arr'", "array at offset 51");
        gb_free(&b);
    }
}

/* ---- type ids -------------------------------------------------------------- */

static void test_bad_value_types(void **state) {
    (void)state;
    static const uint32_t bad[] = {13, 14, 100, 0x80000000u, UINT32_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char id[16];
        snprintf(id, sizeof id, "%u", bad[i]);
        gbuf b = {0};
        gb_header(&b, 3, 0, 2);
        gb_kv_u32(&b, "ok", 1);
        gb_key(&b, "bad.key", (slm_gguf_type)bad[i]), gb_u64(&b, 0);
        EXPECT_FORMAT(b, "key 'bad.key' at offset 42", "invalid value type", id);
        gb_free(&b);

        gb_header(&b, 3, 0, 1);
        gb_key(&b, "arr", SLM_GGUF_ARRAY), gb_u32(&b, bad[i]), gb_u64(&b, 1), gb_u64(&b, 0);
        EXPECT_FORMAT(b, "key 'arr'", "invalid element type", id);
        gb_free(&b);
    }
}

static void test_bad_tensor_types(void **state) {
    (void)state;
    static const uint32_t bad[] = {4, 5, 31, 32, 33, 36, 37, 38, 40, 1000, UINT32_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char id[32];
        snprintf(id, sizeof id, "type id %u", bad[i]);
        gbuf b = one_tensor(1, (const uint64_t[]){256}, bad[i], 0, 2048);
        EXPECT_FORMAT(b, "tensor 'w' at offset 24", id);
        gb_free(&b);
    }
}

/* ---- shapes ------------------------------------------------------------------ */

static void test_bad_shapes(void **state) {
    (void)state;
    gbuf b = one_tensor(0, NULL, SLM_TYPE_F32, 0, 32);
    EXPECT_FORMAT(b, "tensor 'w'", "0 dimensions");
    gb_free(&b);
    b = one_tensor(5, (const uint64_t[]){1, 1, 1, 1, 1}, SLM_TYPE_F32, 0, 32);
    EXPECT_FORMAT(b, "tensor 'w'", "5 dimensions");
    gb_free(&b);
    gb_header(&b, 3, 1, 0);
    gb_str(&b, "w"), gb_u32(&b, UINT32_MAX), gb_u64(&b, 1), gb_u32(&b, SLM_TYPE_F32), gb_u64(&b, 0);
    gb_pad(&b, 32), gb_fill(&b, 32, 0);
    EXPECT_FORMAT(b, "tensor 'w'", "4294967295 dimensions");
    gb_free(&b);

    /* Element counts that overflow, one dimension above INT64_MAX, byte sizes that overflow. */
    static const uint64_t ne_overflow[][4] = {
        {(uint64_t)1 << 32, (uint64_t)1 << 32, 1, 1},
        {(uint64_t)1 << 63, 1, 1, 1},
        {UINT64_MAX, 1, 1, 1},
        {2, (uint64_t)1 << 62, 1, 1},
        {(uint64_t)1 << 21, (uint64_t)1 << 21, (uint64_t)1 << 21, 2},
        {0, UINT64_MAX, 1, 1}, /* zero elements, but a dimension above INT64_MAX */
    };
    for (size_t i = 0; i < sizeof ne_overflow / sizeof ne_overflow[0]; i++) {
        b = one_tensor(4, ne_overflow[i], SLM_TYPE_F32, 0, 32);
        EXPECT_FORMAT(b, "tensor 'w'", "overflows");
        gb_free(&b);
    }
    /* 2^62 F32 elements fit int64 but their 2^64 bytes do not: must not wrap to 0. */
    b = one_tensor(1, (const uint64_t[]){(uint64_t)1 << 62}, SLM_TYPE_F32, 0, 32);
    EXPECT_FORMAT(b, "tensor 'w'", "byte size", "overflows");
    gb_free(&b);
    b = one_tensor(2, (const uint64_t[]){(uint64_t)1 << 31, (uint64_t)1 << 31}, SLM_TYPE_F64, 0, 32);
    EXPECT_FORMAT(b, "tensor 'w'", "overflows");
    gb_free(&b);
    /* Huge but representable: caught as data past the end of the file. */
    b = one_tensor(2, (const uint64_t[]){(uint64_t)1 << 30, (uint64_t)1 << 30}, SLM_TYPE_Q4_0, 0, 32);
    EXPECT_FORMAT(b, "tensor 'w'", "past the end");
    gb_free(&b);

    /* A row that is not a whole number of blocks. */
    b = one_tensor(2, (const uint64_t[]){16, 2}, SLM_TYPE_Q4_0, 0, 64);
    EXPECT_FORMAT(b, "tensor 'w'", "row length 16", "block size 32");
    gb_free(&b);
    b = one_tensor(1, (const uint64_t[]){300}, SLM_TYPE_Q4_K, 0, 1024);
    EXPECT_FORMAT(b, "tensor 'w'", "Q4_K");
    gb_free(&b);
}

/* ---- tensor layout ------------------------------------------------------------ */

static void test_bad_layout(void **state) {
    (void)state;
    static const uint64_t ne8[] = {8};
    /* Offsets that are not a multiple of the alignment. */
    static const uint64_t misaligned[] = {4, 16, 31, 33, UINT64_MAX};
    for (size_t i = 0; i < sizeof misaligned / sizeof misaligned[0]; i++) {
        gbuf b = one_tensor(1, ne8, SLM_TYPE_F32, misaligned[i], 128);
        EXPECT_FORMAT(b, "tensor 'w'", "not a multiple of the alignment 32");
        gb_free(&b);
    }
    gbuf b = {0};
    gb_header(&b, 3, 1, 1);
    gb_kv_u32(&b, "general.alignment", 64);
    gb_tensor(&b, "w", 1, ne8, SLM_TYPE_F32, 32);
    gb_pad(&b, 64), gb_fill(&b, 128, 0);
    EXPECT_FORMAT(b, "tensor 'w'", "data offset 32", "alignment 64");
    gb_free(&b);

    /* Data past the end of the file: the start, the end, and an offset so
     * large that offset + size would wrap. */
    b = one_tensor(1, ne8, SLM_TYPE_F32, 64, 64);
    EXPECT_FORMAT(b, "tensor 'w'", "past the end", "data offset 64");
    gb_free(&b);
    b = one_tensor(1, ne8, SLM_TYPE_F32, 0, 31);
    EXPECT_FORMAT(b, "tensor 'w'", "past the end");
    gb_free(&b);
    b = one_tensor(1, ne8, SLM_TYPE_F32, UINT64_MAX - 31, 64);
    EXPECT_FORMAT(b, "tensor 'w'", "past the end");
    gb_free(&b);
    b = one_tensor(1, (const uint64_t[]){0}, SLM_TYPE_F32, 4096, 32); /* even an empty tensor */
    EXPECT_FORMAT(b, "tensor 'w'", "past the end");
    gb_free(&b);

    /* Overlaps: partial, identical, one inside the other. */
    static const struct { uint64_t ne_a, off_a, ne_b, off_b; } overlaps[] = {
        {16, 0, 8, 32}, {8, 0, 8, 0}, {32, 0, 8, 64}, {8, 64, 32, 0},
    };
    for (size_t i = 0; i < sizeof overlaps / sizeof overlaps[0]; i++) {
        gb_header(&b, 3, 2, 0);
        gb_tensor(&b, "a", 1, &overlaps[i].ne_a, SLM_TYPE_F32, overlaps[i].off_a);
        gb_tensor(&b, "b", 1, &overlaps[i].ne_b, SLM_TYPE_F32, overlaps[i].off_b);
        gb_pad(&b, 32), gb_fill(&b, 256, 0);
        EXPECT_FORMAT(b, "'a'", "'b'", "overlap");
        gb_free(&b);
    }
    /* Regression: an empty tensor between two overlapping ones used to hide
     * the overlap (only neighbours in offset order were compared). */
    gb_header(&b, 3, 3, 0);
    gb_tensor(&b, "big", 1, (const uint64_t[]){32}, SLM_TYPE_F32, 0); /* bytes [0, 128) */
    gb_tensor(&b, "empty", 1, (const uint64_t[]){0}, SLM_TYPE_F32, 32);
    gb_tensor(&b, "inner", 1, ne8, SLM_TYPE_F32, 64); /* bytes [64, 96) */
    gb_pad(&b, 32), gb_fill(&b, 128, 0);
    EXPECT_FORMAT(b, "'big'", "'inner'", "overlap");
    gb_free(&b);
    /* ... while an empty tensor inside another one's data is fine. */
    gb_header(&b, 3, 2, 0);
    gb_tensor(&b, "big", 1, (const uint64_t[]){32}, SLM_TYPE_F32, 0);
    gb_tensor(&b, "empty", 1, (const uint64_t[]){0}, SLM_TYPE_F32, 32);
    gb_pad(&b, 32), gb_fill(&b, 128, 0);
    opens(&b);
    gb_free(&b);
}

/* ---- duplicates and names ------------------------------------------------------ */

static void test_duplicates_and_names(void **state) {
    (void)state;
    gbuf b = {0};
    gb_header(&b, 3, 0, 3);
    gb_kv_u32(&b, "a", 1);
    gb_kv_u32(&b, "dup.key", 1);
    gb_kv_str(&b, "dup.key", "again");
    EXPECT_FORMAT(b, "key 'dup.key' at offset 64", "duplicate");
    gb_free(&b);

    gb_header(&b, 3, 2, 0);
    gb_tensor(&b, "w", 1, (const uint64_t[]){8}, SLM_TYPE_F32, 0);
    gb_tensor(&b, "w", 1, (const uint64_t[]){8}, SLM_TYPE_F32, 32);
    gb_pad(&b, 32), gb_fill(&b, 64, 0);
    EXPECT_FORMAT(b, "tensor 'w' at offset 57", "duplicate");
    gb_free(&b);

    gb_header(&b, 3, 0, 1); /* a key with an embedded NUL */
    gb_strn(&b, "gen\0eral", 8), gb_u32(&b, SLM_GGUF_U8), gb_u8(&b, 1);
    EXPECT_FORMAT(b, "key", "offset 24", "NUL");
    gb_free(&b);
    gb_header(&b, 3, 0, 1); /* an empty key */
    gb_strn(&b, "", 0), gb_u32(&b, SLM_GGUF_U8), gb_u8(&b, 1), gb_u8(&b, 0);
    EXPECT_FORMAT(b, "empty key");
    gb_free(&b);

    gb_header(&b, 3, 1, 0); /* a tensor name with a NUL, an empty one, an overlong one */
    gb_strn(&b, "w\0", 2), gb_u32(&b, 1), gb_u64(&b, 1), gb_u32(&b, 0), gb_u64(&b, 0);
    gb_pad(&b, 32), gb_fill(&b, 32, 0);
    EXPECT_FORMAT(b, "tensor name", "NUL");
    gb_free(&b);
    b = one_tensor(1, (const uint64_t[]){1}, SLM_TYPE_F32, 0, 32);
    memset(b.p + 24, 0, 8); /* name length 0 */
    memmove(b.p + 32, b.p + 33, b.len - 33);
    b.len--;
    EXPECT_FORMAT(b, "empty tensor name");
    gb_free(&b);
    char longname[66];
    memset(longname, 'n', 65);
    longname[65] = '\0';
    gb_header(&b, 3, 1, 0);
    gb_tensor(&b, longname, 1, (const uint64_t[]){1}, SLM_TYPE_F32, 0);
    gb_pad(&b, 32), gb_fill(&b, 32, 0);
    EXPECT_FORMAT(b, "tensor name", "65 bytes");
    gb_free(&b);
    longname[64] = '\0'; /* 64 bytes: the spec's limit, still valid */
    gb_header(&b, 3, 1, 0);
    gb_tensor(&b, longname, 1, (const uint64_t[]){1}, SLM_TYPE_F32, 0);
    gb_pad(&b, 32), gb_fill(&b, 32, 0);
    opens(&b);
    gb_free(&b);
}

/* ---- general.alignment ------------------------------------------------------------ */

static void test_bad_alignment(void **state) {
    (void)state;
    gbuf b = {0};
    static const uint32_t not_pow2[] = {0, 3, 48, 0x80000001u, UINT32_MAX};
    for (size_t i = 0; i < sizeof not_pow2 / sizeof not_pow2[0]; i++) {
        gb_header(&b, 3, 0, 1);
        gb_kv_u32(&b, "general.alignment", not_pow2[i]);
        EXPECT_FORMAT(b, "general.alignment", "power of two");
        gb_free(&b);
    }
    gb_header(&b, 3, 0, 1);
    gb_key(&b, "general.alignment", SLM_GGUF_F32), gb_f32(&b, 32.0f);
    EXPECT_FORMAT(b, "general.alignment", "type f32, expected u32");
    gb_free(&b);
    gb_header(&b, 3, 0, 1);
    gb_key(&b, "general.alignment", SLM_GGUF_U64), gb_u64(&b, 32);
    EXPECT_FORMAT(b, "general.alignment", "type u64");
    gb_free(&b);
    gb_header(&b, 3, 0, 1);
    gb_key(&b, "general.alignment", SLM_GGUF_I32), gb_u32(&b, 32);
    EXPECT_FORMAT(b, "general.alignment", "type i32");
    gb_free(&b);
    gb_header(&b, 3, 0, 1);
    gb_kv_str(&b, "general.alignment", "32");
    EXPECT_FORMAT(b, "general.alignment", "type string");
    gb_free(&b);
    gb_header(&b, 3, 0, 1);
    gb_key(&b, "general.alignment", SLM_GGUF_ARRAY), gb_u32(&b, SLM_GGUF_U32), gb_u64(&b, 1), gb_u32(&b, 32);
    EXPECT_FORMAT(b, "general.alignment", "type array");
    gb_free(&b);
}

/* ---- nesting ------------------------------------------------------------------ */

/* `levels` arrays nested in one another around a u8 array of one element. */
static gbuf nested(int levels) {
    gbuf b = {0};
    gb_header(&b, 3, 0, 1);
    gb_key(&b, "deep", SLM_GGUF_ARRAY);
    for (int i = 1; i < levels; i++) gb_u32(&b, SLM_GGUF_ARRAY), gb_u64(&b, 1);
    gb_u32(&b, SLM_GGUF_U8), gb_u64(&b, 1), gb_u8(&b, 42);
    return b;
}

static void test_deep_nesting(void **state) {
    (void)state;
    gbuf b = nested(8); /* the limit */
    slm_gguf *g;
    slm_error err;
    SLM_ASSERT_OK(slm_gguf_open_memory(b.p, b.len, NAME, &g, &err), &err);
    const slm_gguf_value *v = slm_gguf_get(g, "deep");
    for (int i = 1; i < 8; i++) v = &v->v.arr.items[0];
    assert_int_equal(v->v.arr.type, SLM_GGUF_U8);
    assert_int_equal(((const uint8_t *)v->v.arr.data)[0], 42);
    slm_gguf_close(g);
    gb_free(&b);
    static const int too_deep[] = {9, 100, 100000};
    for (size_t i = 0; i < sizeof too_deep / sizeof too_deep[0]; i++) {
        b = nested(too_deep[i]);
        EXPECT_FORMAT(b, "key 'deep'", "deeper than 8");
        gb_free(&b);
    }
}

/* ---- headers ------------------------------------------------------------------ */

static void test_bad_headers(void **state) {
    (void)state;
    gbuf b = small_file();
    /* Version: big-endian files, versions 0, 1, 4 and a random number. */
    static const struct { uint8_t bytes[4]; const char *needle; } versions[] = {
        {{0, 0, 0, 3}, "big-endian"}, {{0, 0, 0, 2}, "big-endian"}, {{1, 0, 0, 0}, "version 1"},
        {{4, 0, 0, 0}, "version 4"},  {{0, 0, 0, 0}, "version 0"},  {{0x39, 0x30, 0, 0}, "version 12345"},
    };
    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
        gbuf v = {0};
        gb_bytes(&v, b.p, b.len);
        memcpy(v.p + 4, versions[i].bytes, 4);
        EXPECT_FORMAT(v, versions[i].needle);
        gb_free(&v);
    }
    /* A whole big-endian file (counts too). */
    gbuf be = {0};
    gb_bytes(&be, "GGUF\0\0\0\3\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 24);
    gb_bytes(&be, "\0\0\0\0\0\0\0\1k\0\0\0\4\0\0\0\7", 17);
    EXPECT_FORMAT(be, "big-endian", "0x03000000");
    gb_free(&be);
    /* Bad magic. */
    static const char *const magics[] = {"GGUX", "gguf", "GGML", "\0\0\0\0", "FUGG"};
    for (size_t i = 0; i < sizeof magics / sizeof magics[0]; i++) {
        gbuf m = {0};
        gb_bytes(&m, b.p, b.len);
        memcpy(m.p, magics[i], 4);
        EXPECT_FORMAT(m, "not a GGUF file", "magic");
        gb_free(&m);
    }
    static const char *const empty[] = {"empty", NULL};
    assert_int_equal(open_fails(b.p, 0, empty), SLM_E_FORMAT);
    assert_int_equal(slm_gguf_open_memory(NULL, 0, NAME, &(slm_gguf *){NULL}, NULL), SLM_E_FORMAT);
    gb_free(&b);
}

/* ---- things that are not regular files --------------------------------------------- */

static void expect_open_fails(const char *path, slm_status want, const char *needle) {
    slm_gguf *g = (slm_gguf *)&g;
    slm_error err;
    memset(&err, 0, sizeof err);
    slm_status s = slm_gguf_open(path, &g, &err);
    if (s != want) fail_msg("%s: status %s, expected %s (%s)", path, slm_status_name(s), slm_status_name(want),
                            err.message);
    assert_null(g);
    if (!strstr(err.message, path)) fail_msg("message does not name %s: '%s'", path, err.message);
    if (!strstr(err.message, needle)) fail_msg("message lacks '%s': '%s'", needle, err.message);
}

static void test_not_regular_files(void **state) {
    (void)state;
    char *dir = slm_test_tmpdir();
    assert_non_null(dir);
    char path[4096];
    expect_open_fails(dir, SLM_E_IO, "directory");
    snprintf(path, sizeof path, "%s/missing.gguf", dir);
    expect_open_fails(path, SLM_E_IO, strerror(ENOENT));
    snprintf(path, sizeof path, "%s/empty.gguf", dir);
    assert_true(slm_test_write_file(path, "", 0));
    expect_open_fails(path, SLM_E_FORMAT, "empty");
    if (access("/dev/null", R_OK) == 0) expect_open_fails("/dev/null", SLM_E_FORMAT, "empty");
    /* An endless device: the read fallback must stop at the bad magic. */
    if (access("/dev/zero", R_OK) == 0) expect_open_fails("/dev/zero", SLM_E_FORMAT, "magic");
    slm_test_rmtree(dir);
    free(dir);
}

/* Writes n bytes of p into a FIFO from a child process and opens the FIFO,
 * which cannot be mapped: the read() fallback path. */
static slm_status open_fifo(const uint8_t *p, size_t n, slm_gguf **g, slm_error *err) {
    char *dir = slm_test_tmpdir();
    assert_non_null(dir);
    char path[4096];
    snprintf(path, sizeof path, "%s/pipe.gguf", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGPIPE, SIG_DFL);
        int fd = open(path, O_WRONLY);
        size_t off = 0;
        while (fd >= 0 && off < n) {
            ssize_t w = write(fd, p + off, n - off);
            if (w <= 0) break;
            off += (size_t)w;
        }
        _exit(0);
    }
    slm_status s = slm_gguf_open(path, g, err);
    int status = 0;
    waitpid(pid, &status, 0);
    if (s) assert_non_null(strstr(err->message, path));
    slm_test_rmtree(dir);
    free(dir);
    return s;
}

static void test_fifo(void **state) {
    (void)state;
    gbuf b = small_file();
    slm_gguf *g;
    slm_error err;
    SLM_ASSERT_OK(open_fifo(b.p, b.len, &g, &err), &err);
    assert_false(slm_gguf_is_mapped(g));
    assert_int_equal(slm_gguf_n_tensors(g), 2);
    assert_int_equal(slm_gguf_alignment(g), 16);
    const slm_gguf_tensor *q = slm_gguf_find_tensor(g, "q");
    assert_memory_equal(q->data, b.p + q->file_offset, 34);
    slm_gguf_close(g);
    /* Bigger than the first read buffer (64 KiB). */
    gbuf big = {0};
    gb_header(&big, 3, 1, 0);
    gb_tensor(&big, "w", 1, (const uint64_t[]){100000}, SLM_TYPE_F32, 0);
    gb_pad(&big, 32), gb_fill(&big, 400000, 5);
    SLM_ASSERT_OK(open_fifo(big.p, big.len, &g, &err), &err);
    assert_memory_equal(slm_gguf_tensor_at(g, 0)->data, big.p + big.len - 400000, 400000);
    slm_gguf_close(g);
    gb_free(&big);
    /* Broken input through the pipe. */
    assert_int_equal(open_fifo(b.p, b.len - 10, &g, &err), SLM_E_FORMAT);
    assert_null(g);
    assert_non_null(strstr(err.message, "past the end"));
    assert_int_equal(open_fifo(b.p, 0, &g, &err), SLM_E_FORMAT);
    assert_non_null(strstr(err.message, "empty"));
    assert_int_equal(open_fifo((const uint8_t *)"not a gguf file at all", 22, &g, &err), SLM_E_FORMAT);
    assert_non_null(strstr(err.message, "magic"));
    gb_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_truncated_everywhere), cmocka_unit_test(test_huge_counts),
        cmocka_unit_test(test_bad_value_types),      cmocka_unit_test(test_bad_tensor_types),
        cmocka_unit_test(test_bad_shapes),           cmocka_unit_test(test_bad_layout),
        cmocka_unit_test(test_duplicates_and_names), cmocka_unit_test(test_bad_alignment),
        cmocka_unit_test(test_deep_nesting),         cmocka_unit_test(test_bad_headers),
        cmocka_unit_test(test_not_regular_files),    cmocka_unit_test(test_fifo),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
