/* gguf.c - typed access to a parsed GGUF file. */
#include <string.h>

#include "gguf/gguf_internal.h"
#include "runtime/error.h"

const char *slm_gguf_type_name(slm_gguf_type type) {
    static const char *const names[SLM_GGUF_TYPE_COUNT] = {
        "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"};
    return (unsigned)type < SLM_GGUF_TYPE_COUNT ? names[type] : "invalid";
}

bool slm_str_eq(slm_str s, const char *cstr) {
    size_t n = strlen(cstr);
    return s.len == n && memcmp(s.ptr, cstr, n) == 0;
}

const char *slm_gguf_path(const slm_gguf *g) { return g->path; }
uint32_t slm_gguf_version(const slm_gguf *g) { return g->version; }
uint64_t slm_gguf_file_size(const slm_gguf *g) { return g->size; }
uint32_t slm_gguf_alignment(const slm_gguf *g) { return g->alignment; }
uint64_t slm_gguf_data_offset(const slm_gguf *g) { return g->data_offset; }
bool slm_gguf_is_mapped(const slm_gguf *g) { return g->mapped; }
bool slm_gguf_is_copied(const slm_gguf *g) { return g->copied; }

uint64_t slm_gguf_n_keys(const slm_gguf *g) { return g->n_keys; }
const char *slm_gguf_key_name(const slm_gguf *g, uint64_t i) { return i < g->n_keys ? g->keys[i] : NULL; }
const slm_gguf_value *slm_gguf_key_value(const slm_gguf *g, uint64_t i) {
    return i < g->n_keys ? &g->values[i] : NULL;
}

int64_t slm_gguf_find_key(const slm_gguf *g, const char *key) {
    return slm_gguf_index_find(&g->key_index, key, (const char *const *)g->keys);
}

const slm_gguf_value *slm_gguf_get(const slm_gguf *g, const char *key) {
    int64_t i = slm_gguf_find_key(g, key);
    return i < 0 ? NULL : &g->values[i];
}

static slm_status lookup(const slm_gguf *g, const char *key, slm_gguf_type want, const slm_gguf_value **out,
                         slm_error *err) {
    const slm_gguf_value *v = slm_gguf_get(g, key);
    if (!v) return slm_fail(err, SLM_E_NOT_FOUND, "%s: key '%s' not found", g->path, key);
    if (v->type != want)
        return slm_fail(err, SLM_E_TYPE, "%s: key '%s' has type %s, expected %s", g->path, key,
                        slm_gguf_type_name(v->type), slm_gguf_type_name(want));
    *out = v;
    return SLM_OK;
}

#define TYPED_GETTER(fn, ctype, tag, field)                                                   \
    slm_status fn(const slm_gguf *g, const char *key, ctype *out, slm_error *err) {          \
        const slm_gguf_value *v = NULL;                                                            \
        slm_status s = lookup(g, key, tag, &v, err);                                          \
        if (!s) *out = v->v.field;                                                            \
        return s;                                                                             \
    }

TYPED_GETTER(slm_gguf_get_u8, uint8_t, SLM_GGUF_U8, u8)
TYPED_GETTER(slm_gguf_get_i8, int8_t, SLM_GGUF_I8, i8)
TYPED_GETTER(slm_gguf_get_u16, uint16_t, SLM_GGUF_U16, u16)
TYPED_GETTER(slm_gguf_get_i16, int16_t, SLM_GGUF_I16, i16)
TYPED_GETTER(slm_gguf_get_u32, uint32_t, SLM_GGUF_U32, u32)
TYPED_GETTER(slm_gguf_get_i32, int32_t, SLM_GGUF_I32, i32)
TYPED_GETTER(slm_gguf_get_u64, uint64_t, SLM_GGUF_U64, u64)
TYPED_GETTER(slm_gguf_get_i64, int64_t, SLM_GGUF_I64, i64)
TYPED_GETTER(slm_gguf_get_f32, float, SLM_GGUF_F32, f32)
TYPED_GETTER(slm_gguf_get_f64, double, SLM_GGUF_F64, f64)
TYPED_GETTER(slm_gguf_get_bool, bool, SLM_GGUF_BOOL, b)
TYPED_GETTER(slm_gguf_get_str, slm_str, SLM_GGUF_STRING, str)

slm_status slm_gguf_get_int(const slm_gguf *g, const char *key, int64_t *out, slm_error *err) {
    const slm_gguf_value *v = slm_gguf_get(g, key);
    if (!v) return slm_fail(err, SLM_E_NOT_FOUND, "%s: key '%s' not found", g->path, key);
    switch (v->type) {
    case SLM_GGUF_U8: *out = v->v.u8; return SLM_OK;
    case SLM_GGUF_I8: *out = v->v.i8; return SLM_OK;
    case SLM_GGUF_U16: *out = v->v.u16; return SLM_OK;
    case SLM_GGUF_I16: *out = v->v.i16; return SLM_OK;
    case SLM_GGUF_U32: *out = v->v.u32; return SLM_OK;
    case SLM_GGUF_I32: *out = v->v.i32; return SLM_OK;
    case SLM_GGUF_I64: *out = v->v.i64; return SLM_OK;
    case SLM_GGUF_U64:
        if (v->v.u64 > (uint64_t)INT64_MAX)
            return slm_fail(err, SLM_E_TYPE, "%s: key '%s' value %llu is too large", g->path, key,
                            (unsigned long long)v->v.u64);
        *out = (int64_t)v->v.u64;
        return SLM_OK;
    default:
        return slm_fail(err, SLM_E_TYPE, "%s: key '%s' has type %s, expected an integer", g->path, key,
                        slm_gguf_type_name(v->type));
    }
}

slm_status slm_gguf_get_float(const slm_gguf *g, const char *key, double *out, slm_error *err) {
    const slm_gguf_value *v = slm_gguf_get(g, key);
    if (!v) return slm_fail(err, SLM_E_NOT_FOUND, "%s: key '%s' not found", g->path, key);
    if (v->type == SLM_GGUF_F32) *out = v->v.f32;
    else if (v->type == SLM_GGUF_F64) *out = v->v.f64;
    else
        return slm_fail(err, SLM_E_TYPE, "%s: key '%s' has type %s, expected f32 or f64", g->path, key,
                        slm_gguf_type_name(v->type));
    return SLM_OK;
}

slm_status slm_gguf_get_arr(const slm_gguf *g, const char *key, slm_gguf_type elem_type,
                            const slm_gguf_value **out, slm_error *err) {
    const slm_gguf_value *v = NULL;
    slm_status s = lookup(g, key, SLM_GGUF_ARRAY, &v, err);
    if (s) return s;
    if (v->v.arr.type != elem_type)
        return slm_fail(err, SLM_E_TYPE, "%s: key '%s' is an array of %s, expected an array of %s", g->path,
                        key, slm_gguf_type_name(v->v.arr.type), slm_gguf_type_name(elem_type));
    *out = v;
    return SLM_OK;
}

uint64_t slm_gguf_n_tensors(const slm_gguf *g) { return g->n_tensors; }

const slm_gguf_tensor *slm_gguf_tensor_at(const slm_gguf *g, uint64_t i) {
    return i < g->n_tensors ? &g->tensors[i] : NULL;
}

const slm_gguf_tensor *slm_gguf_find_tensor(const slm_gguf *g, const char *name) {
    int64_t i = slm_gguf_index_find(&g->tensor_index, name, g->tensor_names);
    return i < 0 ? NULL : &g->tensors[i];
}
