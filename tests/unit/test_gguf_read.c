/* test_gguf_read.c - the GGUF reader on stories260K.gguf and on hand-built
 * valid files: every value type, nested and string arrays, alignment, tensor
 * infos, and the typed lookup API. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf_bytes.h"
#include "testutil.h"

/* ---- stories260K.gguf: the values its README lists ----------------------- */

static void check_u32(const slm_gguf *g, const char *key, uint32_t want) {
    uint32_t v = 0;
    slm_error err;
    SLM_ASSERT_OK(slm_gguf_get_u32(g, key, &v, &err), &err);
    if (v != want) fail_msg("%s = %u, expected %u", key, v, want);
}

static void check_str(const slm_gguf *g, const char *key, const char *want) {
    slm_str v = {0};
    slm_error err;
    SLM_ASSERT_OK(slm_gguf_get_str(g, key, &v, &err), &err);
    if (!slm_str_eq(v, want)) fail_msg("%s = '%.*s', expected '%s'", key, (int)v.len, v.ptr, want);
}

static void check_shape(const slm_gguf *g, const char *name, int64_t ne0, int64_t ne1) {
    const slm_gguf_tensor *t = slm_gguf_find_tensor(g, name);
    if (!t) fail_msg("tensor %s missing", name);
    assert_int_equal(t->type, SLM_TYPE_F32);
    assert_int_equal(t->n_dims, ne1 ? 2 : 1);
    assert_int_equal(t->ne[0], ne0);
    assert_int_equal(t->ne[1], ne1 ? ne1 : 1);
    assert_int_equal(t->ne[2], 1);
    assert_int_equal(t->ne[3], 1);
    assert_int_equal(t->n_elements, (uint64_t)ne0 * (uint64_t)(ne1 ? ne1 : 1));
    assert_int_equal(t->n_bytes, t->n_elements * 4);
    assert_int_equal(t->file_offset, slm_gguf_data_offset(g) + t->offset);
    assert_int_equal(t->offset % 32, 0);
}

static void test_stories260k_header(void **state) {
    (void)state;
    char path[4096];
    SLM_REQUIRE_DATA(path, "models/stories260K.gguf");
    slm_gguf *g;
    slm_error err;
    SLM_ASSERT_OK(slm_gguf_open(path, &g, &err), &err);
    assert_true(slm_gguf_is_mapped(g));
    assert_string_equal(slm_gguf_path(g), path);
    assert_int_equal(slm_gguf_version(g), 3);
    assert_int_equal(slm_gguf_file_size(g), 1185376);
    assert_int_equal(slm_gguf_n_keys(g), 19);
    assert_int_equal(slm_gguf_n_tensors(g), 48);
    assert_int_equal(slm_gguf_data_offset(g), 14176);
    assert_int_equal(slm_gguf_alignment(g), 32);
    assert_null(slm_gguf_get(g, "general.alignment"));
    assert_null(slm_gguf_get(g, "tokenizer.ggml.pre"));

    check_str(g, "general.architecture", "llama");
    check_str(g, "general.name", "llama");
    check_str(g, "tokenizer.ggml.model", "llama");
    check_u32(g, "llama.context_length", 2048);
    check_u32(g, "llama.embedding_length", 64);
    check_u32(g, "llama.feed_forward_length", 172);
    check_u32(g, "llama.attention.head_count", 8);
    check_u32(g, "llama.attention.head_count_kv", 4);
    check_u32(g, "llama.block_count", 5);
    check_u32(g, "llama.rope.dimension_count", 8);
    check_u32(g, "tokenizer.ggml.unknown_token_id", 0);
    check_u32(g, "tokenizer.ggml.bos_token_id", 1);
    check_u32(g, "tokenizer.ggml.eos_token_id", 2);
    check_u32(g, "tokenizer.ggml.seperator_token_id", 0xFFFFFFFFu);
    check_u32(g, "tokenizer.ggml.padding_token_id", 0xFFFFFFFFu);
    float eps = 0;
    SLM_ASSERT_OK(slm_gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &eps, &err), &err);
    assert_true(fabsf(eps - 1e-5f) < 1e-12f);

    const slm_gguf_value *tok, *scores, *types;
    SLM_ASSERT_OK(slm_gguf_get_arr(g, "tokenizer.ggml.tokens", SLM_GGUF_STRING, &tok, &err), &err);
    SLM_ASSERT_OK(slm_gguf_get_arr(g, "tokenizer.ggml.scores", SLM_GGUF_F32, &scores, &err), &err);
    SLM_ASSERT_OK(slm_gguf_get_arr(g, "tokenizer.ggml.token_type", SLM_GGUF_I32, &types, &err), &err);
    assert_int_equal(tok->v.arr.n, 512);
    assert_int_equal(scores->v.arr.n, 512);
    assert_int_equal(types->v.arr.n, 512);
    assert_true(slm_str_eq(tok->v.arr.strs[0], "<unk>"));
    assert_true(slm_str_eq(tok->v.arr.strs[1], "<s>"));
    assert_true(slm_str_eq(tok->v.arr.strs[3], "<0x00>"));
    const int32_t *tt = types->v.arr.data;
    assert_int_equal(tt[0], 2);
    assert_int_equal(tt[1], 3);
    assert_int_equal(tt[3], 6);
    slm_gguf_close(g);
}

static void test_stories260k_tensors(void **state) {
    (void)state;
    char path[4096];
    SLM_REQUIRE_DATA(path, "models/stories260K.gguf");
    slm_gguf *g;
    slm_error err;
    SLM_ASSERT_OK(slm_gguf_open(path, &g, &err), &err);
    check_shape(g, "token_embd.weight", 64, 512);
    check_shape(g, "output.weight", 64, 512);
    check_shape(g, "output_norm.weight", 64, 0);
    for (int l = 0; l < 5; l++) {
        static const struct { const char *name; int64_t ne0, ne1; } blk[] = {
            {"attn_q", 64, 64},      {"attn_k", 64, 32},     {"attn_v", 64, 32},
            {"attn_output", 64, 64}, {"attn_norm", 64, 0},   {"ffn_gate", 64, 172},
            {"ffn_down", 172, 64},   {"ffn_up", 64, 172},    {"ffn_norm", 64, 0},
        };
        for (size_t i = 0; i < sizeof blk / sizeof blk[0]; i++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, blk[i].name);
            check_shape(g, name, blk[i].ne0, blk[i].ne1);
        }
    }
    assert_null(slm_gguf_find_tensor(g, "blk.5.attn_q.weight"));
    const slm_gguf_tensor *emb = slm_gguf_find_tensor(g, "token_embd.weight");
    const slm_gguf_tensor *out = slm_gguf_find_tensor(g, "output.weight");
    assert_ptr_not_equal(emb->data, out->data);
    assert_memory_equal(emb->data, out->data, emb->n_bytes);
    /* The data pointer is the mapping at file_offset: compare with a plain read. */
    size_t len = 0;
    char *raw = slm_test_read_file(path, &len);
    assert_non_null(raw);
    assert_int_equal(len, 1185376);
    assert_memory_equal(emb->data, raw + emb->file_offset, emb->n_bytes);
    /* The same bytes opened from memory give the same parse. */
    slm_gguf *m;
    SLM_ASSERT_OK(slm_gguf_open_memory(raw, len, "copy", &m, &err), &err);
    assert_false(slm_gguf_is_mapped(m));
    assert_int_equal(slm_gguf_n_tensors(m), 48);
    for (uint64_t i = 0; i < 48; i++) {
        const slm_gguf_tensor *a = slm_gguf_tensor_at(g, i), *b = slm_gguf_tensor_at(m, i);
        assert_string_equal(a->name, b->name);
        assert_int_equal(a->file_offset, b->file_offset);
        assert_ptr_equal(b->data, raw + b->file_offset);
    }
    assert_null(slm_gguf_tensor_at(m, 48));
    slm_gguf_close(m);
    /* Copied into private memory (SLM_LOAD_COPY): the same parse and bytes. */
    SLM_ASSERT_OK(slm_gguf_open_with(path, SLM_LOAD_COPY, &m, &err), &err);
    assert_true(slm_gguf_is_copied(m));
    assert_false(slm_gguf_is_mapped(m));
    assert_int_equal(slm_gguf_n_tensors(m), 48);
    for (uint64_t i = 0; i < 48; i++) {
        const slm_gguf_tensor *b = slm_gguf_tensor_at(m, i);
        assert_memory_equal(b->data, raw + b->file_offset, b->n_bytes);
    }
    slm_gguf_close(m);
    /* AUTO maps a file smaller than one huge page; an unknown mode is refused. */
    SLM_ASSERT_OK(slm_gguf_open_with(path, SLM_LOAD_AUTO, &m, &err), &err);
    assert_true(slm_gguf_is_mapped(m));
    assert_false(slm_gguf_is_copied(m));
    slm_gguf_close(m);
    assert_int_equal(slm_gguf_open_with(path, (slm_load_mode)7, &m, &err), SLM_E_INVALID);
    assert_null(m);
    free(raw);
    slm_gguf_close(g);
}

/* ---- a hand-built file with every value type ----------------------------- */

/* 13 scalar and string keys, 7 arrays, then three tensors. */
static gbuf all_types_file(uint32_t version) {
    gbuf b = {0};
    gb_header(&b, version, 3, 20);
    gb_key(&b, "t.u8", SLM_GGUF_U8), gb_u8(&b, 250);
    gb_key(&b, "t.i8", SLM_GGUF_I8), gb_u8(&b, 0x80);
    gb_key(&b, "t.u16", SLM_GGUF_U16), gb_u16(&b, 65535);
    gb_key(&b, "t.i16", SLM_GGUF_I16), gb_u16(&b, 0xFFFE);
    gb_kv_u32(&b, "t.u32", 4000000000u);
    gb_key(&b, "t.i32", SLM_GGUF_I32), gb_u32(&b, (uint32_t)-123456);
    gb_key(&b, "t.f32", SLM_GGUF_F32), gb_f32(&b, 0.125f);
    gb_key(&b, "t.bool", SLM_GGUF_BOOL), gb_u8(&b, 1);
    gb_kv_str(&b, "t.str", "h\xc3\xa9llo");
    gb_key(&b, "t.u64", SLM_GGUF_U64), gb_u64(&b, UINT64_MAX);
    gb_key(&b, "t.i64", SLM_GGUF_I64), gb_u64(&b, (uint64_t)INT64_MIN);
    gb_key(&b, "t.f64", SLM_GGUF_F64), gb_f64(&b, -2.5);
    gb_key(&b, "t.u64small", SLM_GGUF_U64), gb_u64(&b, 42);
    /* Arrays. */
    gb_key(&b, "a.u16", SLM_GGUF_ARRAY), gb_u32(&b, SLM_GGUF_U16), gb_u64(&b, 3);
    gb_u16(&b, 1), gb_u16(&b, 2), gb_u16(&b, 0xFFFF);
    gb_key(&b, "a.i64", SLM_GGUF_ARRAY), gb_u32(&b, SLM_GGUF_I64), gb_u64(&b, 2);
    gb_u64(&b, (uint64_t)-1), gb_u64(&b, 7);
    gb_key(&b, "a.f64", SLM_GGUF_ARRAY), gb_u32(&b, SLM_GGUF_F64), gb_u64(&b, 1), gb_f64(&b, 3.5);
    gb_key(&b, "a.bool", SLM_GGUF_ARRAY), gb_u32(&b, SLM_GGUF_BOOL), gb_u64(&b, 3);
    gb_u8(&b, 0), gb_u8(&b, 1), gb_u8(&b, 2); /* 2: a sloppy "true", stored as 1 */
    gb_key(&b, "a.str", SLM_GGUF_ARRAY), gb_u32(&b, SLM_GGUF_STRING), gb_u64(&b, 3);
    gb_str(&b, "a"), gb_str(&b, ""), gb_strn(&b, "x\0y", 3);
    gb_key(&b, "a.empty", SLM_GGUF_ARRAY), gb_u32(&b, SLM_GGUF_U32), gb_u64(&b, 0);
    /* [[1, 2], ["z"], [[-1]]] */
    gb_key(&b, "a.nested", SLM_GGUF_ARRAY), gb_u32(&b, SLM_GGUF_ARRAY), gb_u64(&b, 3);
    gb_u32(&b, SLM_GGUF_U8), gb_u64(&b, 2), gb_u8(&b, 1), gb_u8(&b, 2);
    gb_u32(&b, SLM_GGUF_STRING), gb_u64(&b, 1), gb_str(&b, "z");
    gb_u32(&b, SLM_GGUF_ARRAY), gb_u64(&b, 1), gb_u32(&b, SLM_GGUF_I32), gb_u64(&b, 1), gb_u32(&b, (uint32_t)-1);
    /* Tensors: F32 [4,2] at 0, Q4_0 [32] at 32, and an IQ2_XXS [256] that this
     * build cannot compute but must still open. */
    gb_tensor(&b, "w.f32", 2, (const uint64_t[]){4, 2}, SLM_TYPE_F32, 0);
    gb_tensor(&b, "w.q4_0", 1, (const uint64_t[]){32}, SLM_TYPE_Q4_0, 64);
    gb_tensor(&b, "w.iq2", 3, (const uint64_t[]){256, 1, 1}, SLM_TYPE_IQ2_XXS, 96);
    gb_pad(&b, 32);
    gb_fill(&b, 96 + 66, 1);
    return b;
}

static void test_all_value_types(void **state) {
    (void)state;
    for (uint32_t version = 2; version <= 3; version++) {
        gbuf b = all_types_file(version);
        slm_gguf *g;
        slm_error err;
        SLM_ASSERT_OK(slm_gguf_open_memory(b.p, b.len, "all.gguf", &g, &err), &err);
        assert_int_equal(slm_gguf_version(g), version);
        assert_int_equal(slm_gguf_n_keys(g), 20);
        assert_string_equal(slm_gguf_key_name(g, 0), "t.u8");
        assert_null(slm_gguf_key_name(g, 20));
        assert_null(slm_gguf_key_value(g, 20));
        assert_int_equal(slm_gguf_find_key(g, "t.f64"), 11);
        assert_int_equal(slm_gguf_find_key(g, "t.f6"), -1);

        uint8_t u8 = 0; int8_t i8 = 0; uint16_t u16 = 0; int16_t i16 = 0; uint32_t u32 = 0; int32_t i32 = 0;
        uint64_t u64 = 0; int64_t i64 = 0; float f32 = 0; double f64 = 0; bool bo = false; slm_str s = {0};
        SLM_ASSERT_OK(slm_gguf_get_u8(g, "t.u8", &u8, &err), &err);
        SLM_ASSERT_OK(slm_gguf_get_i8(g, "t.i8", &i8, &err), &err);
        SLM_ASSERT_OK(slm_gguf_get_u16(g, "t.u16", &u16, &err), &err);
        SLM_ASSERT_OK(slm_gguf_get_i16(g, "t.i16", &i16, &err), &err);
        SLM_ASSERT_OK(slm_gguf_get_u32(g, "t.u32", &u32, &err), &err);
        SLM_ASSERT_OK(slm_gguf_get_i32(g, "t.i32", &i32, &err), &err);
        SLM_ASSERT_OK(slm_gguf_get_u64(g, "t.u64", &u64, &err), &err);
        SLM_ASSERT_OK(slm_gguf_get_i64(g, "t.i64", &i64, &err), &err);
        SLM_ASSERT_OK(slm_gguf_get_f32(g, "t.f32", &f32, &err), &err);
        SLM_ASSERT_OK(slm_gguf_get_f64(g, "t.f64", &f64, &err), &err);
        SLM_ASSERT_OK(slm_gguf_get_bool(g, "t.bool", &bo, &err), &err);
        SLM_ASSERT_OK(slm_gguf_get_str(g, "t.str", &s, &err), &err);
        assert_int_equal(u8, 250);
        assert_int_equal(i8, -128);
        assert_int_equal(u16, 65535);
        assert_int_equal(i16, -2);
        assert_int_equal(u32, 4000000000u);
        assert_int_equal(i32, -123456);
        assert_true(u64 == UINT64_MAX);
        assert_true(i64 == INT64_MIN);
        assert_true(f32 == 0.125f);
        assert_true(f64 == -2.5);
        assert_true(bo);
        assert_true(slm_str_eq(s, "h\xc3\xa9llo"));

        const slm_gguf_value *v;
        SLM_ASSERT_OK(slm_gguf_get_arr(g, "a.u16", SLM_GGUF_U16, &v, &err), &err);
        assert_int_equal(v->v.arr.n, 3);
        assert_int_equal(((const uint16_t *)v->v.arr.data)[2], 0xFFFF);
        SLM_ASSERT_OK(slm_gguf_get_arr(g, "a.i64", SLM_GGUF_I64, &v, &err), &err);
        assert_true(((const int64_t *)v->v.arr.data)[0] == -1);
        assert_true(((const int64_t *)v->v.arr.data)[1] == 7);
        SLM_ASSERT_OK(slm_gguf_get_arr(g, "a.f64", SLM_GGUF_F64, &v, &err), &err);
        assert_true(((const double *)v->v.arr.data)[0] == 3.5);
        SLM_ASSERT_OK(slm_gguf_get_arr(g, "a.bool", SLM_GGUF_BOOL, &v, &err), &err);
        assert_memory_equal(v->v.arr.data, "\0\1\1", 3);
        SLM_ASSERT_OK(slm_gguf_get_arr(g, "a.str", SLM_GGUF_STRING, &v, &err), &err);
        assert_true(slm_str_eq(v->v.arr.strs[0], "a"));
        assert_int_equal(v->v.arr.strs[1].len, 0);
        assert_int_equal(v->v.arr.strs[2].len, 3);
        assert_memory_equal(v->v.arr.strs[2].ptr, "x\0y", 3);
        SLM_ASSERT_OK(slm_gguf_get_arr(g, "a.empty", SLM_GGUF_U32, &v, &err), &err);
        assert_int_equal(v->v.arr.n, 0);

        SLM_ASSERT_OK(slm_gguf_get_arr(g, "a.nested", SLM_GGUF_ARRAY, &v, &err), &err);
        assert_int_equal(v->v.arr.n, 3);
        const slm_gguf_value *it = v->v.arr.items;
        assert_int_equal(it[0].type, SLM_GGUF_ARRAY);
        assert_int_equal(it[0].v.arr.type, SLM_GGUF_U8);
        assert_memory_equal(it[0].v.arr.data, "\1\2", 2);
        assert_int_equal(it[1].v.arr.type, SLM_GGUF_STRING);
        assert_true(slm_str_eq(it[1].v.arr.strs[0], "z"));
        assert_int_equal(it[2].v.arr.type, SLM_GGUF_ARRAY);
        assert_int_equal(it[2].v.arr.items[0].v.arr.type, SLM_GGUF_I32);
        assert_int_equal(((const int32_t *)it[2].v.arr.items[0].v.arr.data)[0], -1);

        assert_int_equal(slm_gguf_n_tensors(g), 3);
        assert_int_equal(slm_gguf_alignment(g), 32);
        uint64_t data_off = slm_gguf_data_offset(g);
        assert_int_equal(data_off % 32, 0);
        assert_int_equal(b.len, data_off + 96 + 66);
        const slm_gguf_tensor *t = slm_gguf_find_tensor(g, "w.q4_0");
        assert_non_null(t);
        assert_int_equal(t->type, SLM_TYPE_Q4_0);
        assert_int_equal(t->n_bytes, 18);
        assert_int_equal(t->file_offset, data_off + 64);
        assert_ptr_equal(t->data, b.p + data_off + 64);
        t = slm_gguf_find_tensor(g, "w.iq2");
        assert_non_null(t);
        assert_int_equal(t->type, SLM_TYPE_IQ2_XXS);
        assert_false(slm_type_computable(t->type));
        assert_int_equal(t->n_dims, 3);
        assert_int_equal(t->n_elements, 256);
        assert_int_equal(t->n_bytes, 66);
        assert_int_equal(((const uint8_t *)t->data)[0], (uint8_t)(1 + 96));
        t = slm_gguf_tensor_at(g, 0);
        assert_string_equal(t->name, "w.f32");
        assert_int_equal(t->n_elements, 8);
        assert_int_equal(t->n_bytes, 32);
        slm_gguf_close(g);
        gb_free(&b);
    }
}

static void test_typed_errors(void **state) {
    (void)state;
    gbuf b = all_types_file(3);
    slm_gguf *g;
    slm_error err;
    SLM_ASSERT_OK(slm_gguf_open_memory(b.p, b.len, "typed.gguf", &g, &err), &err);

    uint32_t u32 = 77;
    assert_int_equal(slm_gguf_get_u32(g, "t.f32", &u32, &err), SLM_E_TYPE);
    assert_int_equal(err.status, SLM_E_TYPE);
    assert_int_equal(u32, 77); /* untouched on error */
    assert_non_null(strstr(err.message, "typed.gguf"));
    assert_non_null(strstr(err.message, "t.f32"));
    assert_non_null(strstr(err.message, "f32"));
    assert_non_null(strstr(err.message, "u32"));

    assert_int_equal(slm_gguf_get_u32(g, "no.such.key", &u32, &err), SLM_E_NOT_FOUND);
    assert_non_null(strstr(err.message, "no.such.key"));
    assert_int_equal(u32, 77);
    assert_null(slm_gguf_get(g, "no.such.key"));
    assert_int_equal(slm_gguf_get_u32(g, "t.u32", &u32, NULL), SLM_OK); /* err may be NULL */
    assert_int_equal(slm_gguf_get_i32(g, "t.u32", NULL, NULL), SLM_E_TYPE);
    slm_str s;
    assert_int_equal(slm_gguf_get_str(g, "t.u8", &s, &err), SLM_E_TYPE);
    assert_non_null(strstr(err.message, "string"));
    bool bo;
    assert_int_equal(slm_gguf_get_bool(g, "t.u8", &bo, &err), SLM_E_TYPE);

    /* get_int: every integer type that fits int64. */
    int64_t i = 0;
    SLM_ASSERT_OK(slm_gguf_get_int(g, "t.u8", &i, &err), &err);
    assert_int_equal(i, 250);
    SLM_ASSERT_OK(slm_gguf_get_int(g, "t.i8", &i, &err), &err);
    assert_int_equal(i, -128);
    SLM_ASSERT_OK(slm_gguf_get_int(g, "t.u16", &i, &err), &err);
    assert_int_equal(i, 65535);
    SLM_ASSERT_OK(slm_gguf_get_int(g, "t.i16", &i, &err), &err);
    assert_int_equal(i, -2);
    SLM_ASSERT_OK(slm_gguf_get_int(g, "t.u32", &i, &err), &err);
    assert_int_equal(i, 4000000000ll);
    SLM_ASSERT_OK(slm_gguf_get_int(g, "t.i32", &i, &err), &err);
    assert_int_equal(i, -123456);
    SLM_ASSERT_OK(slm_gguf_get_int(g, "t.i64", &i, &err), &err);
    assert_true(i == INT64_MIN);
    SLM_ASSERT_OK(slm_gguf_get_int(g, "t.u64small", &i, &err), &err);
    assert_int_equal(i, 42);
    i = 5;
    assert_int_equal(slm_gguf_get_int(g, "t.u64", &i, &err), SLM_E_TYPE); /* 2^64-1 does not fit */
    assert_non_null(strstr(err.message, "t.u64"));
    assert_int_equal(i, 5);
    assert_int_equal(slm_gguf_get_int(g, "t.f32", &i, &err), SLM_E_TYPE);
    assert_int_equal(slm_gguf_get_int(g, "t.bool", &i, &err), SLM_E_TYPE);
    assert_int_equal(slm_gguf_get_int(g, "t.str", &i, &err), SLM_E_TYPE);
    assert_int_equal(slm_gguf_get_int(g, "missing", &i, &err), SLM_E_NOT_FOUND);

    /* get_float: f32 or f64 only. */
    double d = 0;
    SLM_ASSERT_OK(slm_gguf_get_float(g, "t.f32", &d, &err), &err);
    assert_true(d == 0.125);
    SLM_ASSERT_OK(slm_gguf_get_float(g, "t.f64", &d, &err), &err);
    assert_true(d == -2.5);
    assert_int_equal(slm_gguf_get_float(g, "t.u32", &d, &err), SLM_E_TYPE);
    assert_non_null(strstr(err.message, "u32"));
    assert_int_equal(slm_gguf_get_float(g, "missing", &d, &err), SLM_E_NOT_FOUND);

    /* get_arr: the element type must match; scalars are not arrays. */
    const slm_gguf_value *v = NULL;
    assert_int_equal(slm_gguf_get_arr(g, "a.u16", SLM_GGUF_U32, &v, &err), SLM_E_TYPE);
    assert_non_null(strstr(err.message, "array of u16"));
    assert_non_null(strstr(err.message, "u32"));
    assert_null(v);
    assert_int_equal(slm_gguf_get_arr(g, "t.u32", SLM_GGUF_U32, &v, &err), SLM_E_TYPE);
    assert_non_null(strstr(err.message, "array"));
    assert_int_equal(slm_gguf_get_arr(g, "missing", SLM_GGUF_U32, &v, &err), SLM_E_NOT_FOUND);

    assert_null(slm_gguf_find_tensor(g, "w"));
    assert_null(slm_gguf_tensor_at(g, 3));
    assert_string_equal(slm_gguf_type_name(SLM_GGUF_F64), "f64");
    assert_string_equal(slm_gguf_type_name((slm_gguf_type)13), "invalid");
    slm_gguf_close(g);
    gb_free(&b);
}

/* general.alignment moves the data section and the offsets' unit. */
static void test_alignment(void **state) {
    (void)state;
    static const uint32_t aligns[] = {1, 8, 64, 4096};
    for (size_t k = 0; k < sizeof aligns / sizeof aligns[0]; k++) {
        uint32_t a = aligns[k];
        gbuf b = {0};
        gb_header(&b, 3, 2, 1);
        gb_kv_u32(&b, "general.alignment", a);
        gb_tensor(&b, "x", 1, (const uint64_t[]){3}, SLM_TYPE_F16, 0);
        uint64_t second = a >= 6 ? a : 8; /* a multiple of a at or after the 6 bytes of x */
        gb_tensor(&b, "y", 1, (const uint64_t[]){2}, SLM_TYPE_F32, second);
        gb_pad(&b, a);
        size_t data_off = b.len;
        gb_fill(&b, (size_t)second + 8, 9);
        slm_gguf *g;
        slm_error err;
        SLM_ASSERT_OK(slm_gguf_open_memory(b.p, b.len, "align.gguf", &g, &err), &err);
        assert_int_equal(slm_gguf_alignment(g), a);
        assert_int_equal(slm_gguf_data_offset(g), data_off);
        assert_int_equal(slm_gguf_find_tensor(g, "y")->file_offset, data_off + second);
        slm_gguf_close(g);
        gb_free(&b);
    }
}

/* Odd but valid: empty tensors, tensors out of file order, gaps, unpadded
 * vocabulary-only files, 4-D shapes, every known type. */
static void test_valid_layouts(void **state) {
    (void)state;
    slm_gguf *g;
    slm_error err;
    gbuf b = {0};
    gb_header(&b, 3, 4, 0);
    gb_tensor(&b, "late", 1, (const uint64_t[]){8}, SLM_TYPE_F32, 64);
    gb_tensor(&b, "early", 4, (const uint64_t[]){2, 1, 2, 2}, SLM_TYPE_F32, 0);
    gb_tensor(&b, "empty", 2, (const uint64_t[]){0, 5}, SLM_TYPE_Q8_0, 32);
    gb_tensor(&b, "empty2", 2, (const uint64_t[]){32, 0}, SLM_TYPE_Q8_0, 96);
    gb_pad(&b, 32);
    gb_fill(&b, 96, 0);
    SLM_ASSERT_OK(slm_gguf_open_memory(b.p, b.len, "layout.gguf", &g, &err), &err);
    assert_int_equal(slm_gguf_find_tensor(g, "early")->n_elements, 8);
    assert_int_equal(slm_gguf_find_tensor(g, "early")->ne[3], 2);
    assert_int_equal(slm_gguf_find_tensor(g, "empty")->n_bytes, 0);
    assert_int_equal(slm_gguf_find_tensor(g, "empty2")->n_bytes, 0);
    slm_gguf_close(g);
    gb_free(&b);

    /* No tensors: the file may end right after the metadata. */
    gb_header(&b, 3, 0, 1);
    gb_kv_str(&b, "general.architecture", "llama");
    SLM_ASSERT_OK(slm_gguf_open_memory(b.p, b.len, "vocab.gguf", &g, &err), &err);
    assert_int_equal(slm_gguf_n_tensors(g), 0);
    slm_gguf_close(g);
    gb_free(&b);

    /* One tensor of every type id that exists, two blocks each. */
    uint32_t n = 0;
    for (uint32_t id = 0; id < 64; id++) n += slm_type_valid(id);
    assert_int_equal(n, 32);
    gb_header(&b, 3, n, 0);
    uint64_t off = 0;
    for (uint32_t id = 0; id < SLM_TYPE_COUNT; id++) {
        if (!slm_type_valid(id)) continue;
        char name[16];
        snprintf(name, sizeof name, "t%u", id);
        gb_tensor(&b, name, 1, (const uint64_t[]){2u * slm_type_block_size(id)}, id, off);
        off += (2u * slm_type_block_bytes(id) + 31) / 32 * 32;
    }
    gb_pad(&b, 32);
    gb_fill(&b, (size_t)off, 0);
    SLM_ASSERT_OK(slm_gguf_open_memory(b.p, b.len, "types.gguf", &g, &err), &err);
    for (uint64_t i = 0; i < n; i++) {
        const slm_gguf_tensor *t = slm_gguf_tensor_at(g, i);
        assert_int_equal(t->n_bytes, 2u * slm_type_block_bytes(t->type));
    }
    slm_gguf_close(g);
    gb_free(&b);
}

/* The byte size of each ggml type's block (checked against ggml's table). */
static void test_type_sizes(void **state) {
    (void)state;
    static const struct { slm_type t; uint32_t bs, bb; } want[] = {
        {SLM_TYPE_F32, 1, 4},       {SLM_TYPE_F16, 1, 2},        {SLM_TYPE_Q4_0, 32, 18},
        {SLM_TYPE_Q4_1, 32, 20},    {SLM_TYPE_Q5_0, 32, 22},     {SLM_TYPE_Q5_1, 32, 24},
        {SLM_TYPE_Q8_0, 32, 34},    {SLM_TYPE_Q8_1, 32, 36},     {SLM_TYPE_Q2_K, 256, 84},
        {SLM_TYPE_Q3_K, 256, 110},  {SLM_TYPE_Q4_K, 256, 144},   {SLM_TYPE_Q5_K, 256, 176},
        {SLM_TYPE_Q6_K, 256, 210},  {SLM_TYPE_Q8_K, 256, 292},   {SLM_TYPE_IQ2_XXS, 256, 66},
        {SLM_TYPE_IQ2_XS, 256, 74}, {SLM_TYPE_IQ3_XXS, 256, 98}, {SLM_TYPE_IQ1_S, 256, 50},
        {SLM_TYPE_IQ4_NL, 32, 18},  {SLM_TYPE_IQ3_S, 256, 110},  {SLM_TYPE_IQ2_S, 256, 82},
        {SLM_TYPE_IQ4_XS, 256, 136}, {SLM_TYPE_I8, 1, 1},        {SLM_TYPE_I16, 1, 2},
        {SLM_TYPE_I32, 1, 4},       {SLM_TYPE_I64, 1, 8},        {SLM_TYPE_F64, 1, 8},
        {SLM_TYPE_IQ1_M, 256, 56},  {SLM_TYPE_BF16, 1, 2},       {SLM_TYPE_TQ1_0, 256, 54},
        {SLM_TYPE_TQ2_0, 256, 66},  {SLM_TYPE_MXFP4, 32, 17},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (slm_type_block_size(want[i].t) != want[i].bs || slm_type_block_bytes(want[i].t) != want[i].bb)
            fail_msg("%s: block %u/%u bytes, expected %u/%u", slm_type_name(want[i].t),
                     slm_type_block_size(want[i].t), slm_type_block_bytes(want[i].t), want[i].bs, want[i].bb);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stories260k_header), cmocka_unit_test(test_stories260k_tensors),
        cmocka_unit_test(test_all_value_types),    cmocka_unit_test(test_typed_errors),
        cmocka_unit_test(test_alignment),          cmocka_unit_test(test_valid_layouts),
        cmocka_unit_test(test_type_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
