/* gguf_read.c - parse and validate a GGUF file (versions 2 and 3) held in
 * memory.  Opening files (mmap, read fallback) is in gguf_open.c.
 *
 * Layout (all little-endian):
 *   "GGUF" u32 version  u64 n_tensors  u64 n_kv
 *   n_kv x      { string key, u32 type, value }
 *   n_tensors x { string name, u32 n_dims, u64 ne[n_dims], u32 type, u64 offset }
 *   padding to general.alignment (default 32), then the tensor data.
 * A string is u64 length + bytes (no NUL).  An array is u32 element type +
 * u64 count + elements (arrays may nest).
 *
 * Everything read from the file is untrusted: each length, count and offset
 * is checked against the bytes that remain before anything is allocated or
 * dereferenced, with overflow-safe arithmetic. */
#include "gguf/gguf_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"
#include "types/types.h"

#define GGUF_MAX_KEY_LEN 65535 /* the spec's limit for keys */
#define GGUF_MAX_NAME_LEN 64   /* the spec's limit for tensor names */
#define GGUF_MAX_DIMS 4
#define GGUF_MAX_DEPTH 8       /* array nesting; real files use 1 */
#define GGUF_DEFAULT_ALIGNMENT 32

/* Smallest encodings, used to bound counts before allocating:
 * a key/value is key length 8 + 1 byte of key + type 4 + 1 byte of value,
 * a tensor info is 8 + 1 + n_dims 4 + one ne 8 + type 4 + offset 8,
 * an array element that is itself an array is type 4 + count 8. */
#define MIN_KV_BYTES 14
#define MIN_TENSOR_INFO_BYTES 33
#define MIN_ARRAY_BYTES 12

/* ---- reading cursor ------------------------------------------------------ */

typedef struct cursor {
    const uint8_t *base;
    uint64_t size;
    uint64_t pos;
    const char *path;
    slm_error *err;
    char where[320]; /* what is being read: "key 'x' at offset N"; "" = header */
} cursor;

static slm_status cfail(cursor *c, const char *fmt, ...) SLM_PRINTF(2, 3);
static slm_status cfail(cursor *c, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->where[0]) return slm_fail(c->err, SLM_E_FORMAT, "%s: %s: %s", c->path, c->where, msg);
    return slm_fail(c->err, SLM_E_FORMAT, "%s: %s", c->path, msg);
}

static slm_status nomem(cursor *c) { return slm_fail(c->err, SLM_E_NOMEM, "%s: out of memory", c->path); }

static uint64_t remaining(const cursor *c) { return c->size - c->pos; }

static slm_status need(cursor *c, uint64_t n, const char *what) {
    if (n > remaining(c))
        return cfail(c, "truncated file: %s needs %llu bytes at offset %llu, but the file ends at %llu", what,
                     (unsigned long long)n, (unsigned long long)c->pos, (unsigned long long)c->size);
    return SLM_OK;
}

static uint64_t rd_le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static slm_status read_uint(cursor *c, int nbytes, uint64_t *out, const char *what) {
    slm_status s = need(c, (uint64_t)nbytes, what);
    if (s) return s;
    *out = rd_le(c->base + c->pos, nbytes);
    c->pos += (uint64_t)nbytes;
    return SLM_OK;
}

static slm_status read_u32(cursor *c, uint32_t *out, const char *what) {
    uint64_t v = 0;
    slm_status s = read_uint(c, 4, &v, what);
    if (!s) *out = (uint32_t)v;
    return s;
}

static slm_status read_u64(cursor *c, uint64_t *out, const char *what) { return read_uint(c, 8, out, what); }

/* A GGUF string as a view into the file. */
static slm_status read_str(cursor *c, slm_str *out, const char *what) {
    uint64_t at = c->pos, len = 0;
    slm_status s = read_u64(c, &len, what);
    if (s) return s;
    if (len > remaining(c))
        return cfail(c, "%s at offset %llu has length %llu, more than the %llu bytes left in the file", what,
                     (unsigned long long)at, (unsigned long long)len, (unsigned long long)remaining(c));
    out->ptr = (const char *)(c->base + c->pos);
    out->len = len;
    c->pos += len;
    return SLM_OK;
}

/* ---- arena: every allocation tied to the handle --------------------------- */

static void *arena_alloc(slm_gguf *g, size_t n) {
    if (g->n_allocs == g->cap_allocs) {
        size_t cap = g->cap_allocs ? g->cap_allocs * 2 : 64;
        void **p = realloc(g->allocs, cap * sizeof *p);
        if (!p) return NULL;
        g->allocs = p;
        g->cap_allocs = cap;
    }
    void *mem = calloc(1, n ? n : 1);
    if (mem) g->allocs[g->n_allocs++] = mem;
    return mem;
}

/* n zeroed elements of elem bytes; NULL when the size does not fit size_t. */
static void *arena_array(slm_gguf *g, uint64_t n, size_t elem) {
    if (n > SIZE_MAX / elem) return NULL;
    return arena_alloc(g, (size_t)n * elem);
}

static char *arena_cstr(slm_gguf *g, slm_str s) {
    char *p = arena_array(g, s.len + 1, 1);
    if (p) memcpy(p, s.ptr, (size_t)s.len);
    return p;
}

/* ---- name index (open addressing, FNV-1a) ------------------------------- */

uint64_t slm_gguf_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static bool index_init(slm_gguf *g, slm_gguf_index *ix, uint64_t n) {
    uint64_t cap = 16;
    while (cap < 2 * n + 1) cap <<= 1; /* n is bounded by the file size: no overflow */
    ix->slots = arena_array(g, cap, sizeof *ix->slots);
    ix->cap = cap;
    return ix->slots != NULL;
}

/* Inserts entry i under name; returns false if the name is already there. */
static bool index_insert(slm_gguf_index *ix, const char *name, uint64_t i, const char *const *names) {
    for (uint64_t h = slm_gguf_hash(name) & (ix->cap - 1);; h = (h + 1) & (ix->cap - 1)) {
        uint64_t slot = ix->slots[h];
        if (slot == 0) {
            ix->slots[h] = i + 1;
            return true;
        }
        if (strcmp(names[slot - 1], name) == 0) return false;
    }
}

int64_t slm_gguf_index_find(const slm_gguf_index *ix, const char *name, const char *const *names) {
    if (ix->cap == 0) return -1;
    for (uint64_t h = slm_gguf_hash(name) & (ix->cap - 1);; h = (h + 1) & (ix->cap - 1)) {
        uint64_t slot = ix->slots[h];
        if (slot == 0) return -1;
        if (strcmp(names[slot - 1], name) == 0) return (int64_t)(slot - 1);
    }
}

/* ---- metadata values ----------------------------------------------------- */

int slm_gguf_scalar_size(slm_gguf_type t) {
    switch (t) {
    case SLM_GGUF_U8: case SLM_GGUF_I8: case SLM_GGUF_BOOL: return 1;
    case SLM_GGUF_U16: case SLM_GGUF_I16: return 2;
    case SLM_GGUF_U32: case SLM_GGUF_I32: case SLM_GGUF_F32: return 4;
    case SLM_GGUF_U64: case SLM_GGUF_I64: case SLM_GGUF_F64: return 8;
    default: return 0;
    }
}

static void set_scalar(slm_gguf_value *v, const uint8_t *p) {
    uint64_t raw = rd_le(p, slm_gguf_scalar_size(v->type));
    switch (v->type) {
    case SLM_GGUF_U8: v->v.u8 = (uint8_t)raw; break;
    case SLM_GGUF_I8: v->v.i8 = (int8_t)(uint8_t)raw; break;
    case SLM_GGUF_U16: v->v.u16 = (uint16_t)raw; break;
    case SLM_GGUF_I16: v->v.i16 = (int16_t)(uint16_t)raw; break;
    case SLM_GGUF_U32: v->v.u32 = (uint32_t)raw; break;
    case SLM_GGUF_I32: v->v.i32 = (int32_t)(uint32_t)raw; break;
    case SLM_GGUF_U64: v->v.u64 = raw; break;
    case SLM_GGUF_I64: v->v.i64 = (int64_t)raw; break;
    case SLM_GGUF_BOOL: v->v.b = raw != 0; break;
    case SLM_GGUF_F32: { uint32_t u = (uint32_t)raw; memcpy(&v->v.f32, &u, 4); break; }
    case SLM_GGUF_F64: memcpy(&v->v.f64, &raw, 8); break;
    default: break;
    }
}

static slm_status parse_array(slm_gguf *g, cursor *c, slm_gguf_value *v, int depth);

/* Numeric and bool elements, copied into an aligned native-endian buffer
 * (metadata in the file is unaligned).  The caller checked they fit. */
static slm_status copy_scalars(slm_gguf *g, cursor *c, slm_gguf_value *v) {
    size_t es = (size_t)slm_gguf_scalar_size(v->v.arr.type), n = (size_t)v->v.arr.n;
    uint8_t *data = arena_array(g, n, es);
    if (!data) return nomem(c);
    const uint8_t *src = c->base + c->pos;
    for (size_t i = 0; i < n; i++) {
        uint64_t raw = rd_le(src + i * es, (int)es);
        if (v->v.arr.type == SLM_GGUF_BOOL) raw = raw != 0; /* a bool other than 0/1 would be UB */
        memcpy(data + i * es, &raw, es); /* little-endian host: the low bytes come first */
    }
    c->pos += (uint64_t)n * es;
    v->v.arr.data = data;
    return SLM_OK;
}

static slm_status parse_array(slm_gguf *g, cursor *c, slm_gguf_value *v, int depth) {
    uint32_t et = 0;
    uint64_t n = 0, at = c->pos;
    slm_status s = read_u32(c, &et, "array element type");
    if (!s) s = read_u64(c, &n, "array length");
    if (s) return s;
    if (et >= SLM_GGUF_TYPE_COUNT)
        return cfail(c, "array at offset %llu has invalid element type %u", (unsigned long long)at, et);
    if (et == SLM_GGUF_ARRAY && depth + 1 >= GGUF_MAX_DEPTH)
        return cfail(c, "array at offset %llu nests arrays deeper than %d levels", (unsigned long long)at,
                     GGUF_MAX_DEPTH);
    v->v.arr.type = (slm_gguf_type)et;
    v->v.arr.n = n;
    uint64_t min_elem = et == SLM_GGUF_STRING  ? 8
                        : et == SLM_GGUF_ARRAY ? MIN_ARRAY_BYTES
                                               : (uint64_t)slm_gguf_scalar_size((slm_gguf_type)et);
    if (n > remaining(c) / min_elem)
        return cfail(c, "array at offset %llu claims %llu elements of type %s, more than the %llu bytes left "
                     "in the file can hold", (unsigned long long)at, (unsigned long long)n,
                     slm_gguf_type_name((slm_gguf_type)et), (unsigned long long)remaining(c));
    if (et == SLM_GGUF_STRING) {
        slm_str *strs = arena_array(g, n, sizeof *strs);
        if (!strs) return nomem(c);
        for (uint64_t i = 0; i < n; i++)
            if ((s = read_str(c, &strs[i], "array string"))) return s;
        v->v.arr.strs = strs;
        return SLM_OK;
    }
    if (et == SLM_GGUF_ARRAY) {
        slm_gguf_value *items = arena_array(g, n, sizeof *items);
        if (!items) return nomem(c);
        for (uint64_t i = 0; i < n; i++) {
            items[i].type = SLM_GGUF_ARRAY;
            if ((s = parse_array(g, c, &items[i], depth + 1))) return s;
        }
        v->v.arr.items = items;
        return SLM_OK;
    }
    return copy_scalars(g, c, v);
}

static slm_status parse_value(slm_gguf *g, cursor *c, slm_gguf_value *v) {
    if (v->type == SLM_GGUF_STRING) return read_str(c, &v->v.str, "string value");
    if (v->type == SLM_GGUF_ARRAY) return parse_array(g, c, v, 0);
    int sz = slm_gguf_scalar_size(v->type);
    slm_status s = need(c, (uint64_t)sz, "the value");
    if (s) return s;
    set_scalar(v, c->base + c->pos);
    c->pos += (uint64_t)sz;
    return SLM_OK;
}

/* A name (key or tensor) copied into a NUL-terminated string. */
static slm_status read_name(slm_gguf *g, cursor *c, uint64_t max, const char *what, char **out) {
    uint64_t at = c->pos;
    slm_str s = {0};
    slm_status st = read_str(c, &s, what);
    if (st) return st;
    if (s.len == 0) return cfail(c, "empty %s at offset %llu", what, (unsigned long long)at);
    if (s.len > max)
        return cfail(c, "%s at offset %llu is %llu bytes long (limit %llu)", what, (unsigned long long)at,
                     (unsigned long long)s.len, (unsigned long long)max);
    if (memchr(s.ptr, '\0', (size_t)s.len))
        return cfail(c, "%s at offset %llu contains a NUL byte", what, (unsigned long long)at);
    *out = arena_cstr(g, s);
    return *out ? SLM_OK : nomem(c);
}

static slm_status parse_kv(slm_gguf *g, cursor *c) {
    slm_status s;
    g->keys = arena_array(g, g->n_keys, sizeof *g->keys);
    g->values = arena_array(g, g->n_keys, sizeof *g->values);
    if (!g->keys || !g->values || !index_init(g, &g->key_index, g->n_keys)) return nomem(c);
    for (uint64_t i = 0; i < g->n_keys; i++) {
        uint64_t at = c->pos;
        snprintf(c->where, sizeof c->where, "metadata entry %llu at offset %llu", (unsigned long long)i,
                 (unsigned long long)at);
        if ((s = read_name(g, c, GGUF_MAX_KEY_LEN, "key", &g->keys[i]))) return s;
        snprintf(c->where, sizeof c->where, "key '%.200s' at offset %llu", g->keys[i], (unsigned long long)at);
        uint32_t type = 0;
        if ((s = read_u32(c, &type, "the value type"))) return s;
        if (type >= SLM_GGUF_TYPE_COUNT) return cfail(c, "invalid value type %u", type);
        g->values[i].type = (slm_gguf_type)type;
        if ((s = parse_value(g, c, &g->values[i]))) return s;
        if (!index_insert(&g->key_index, g->keys[i], i, (const char *const *)g->keys))
            return cfail(c, "duplicate key (it appears twice in the metadata)");
    }
    c->where[0] = '\0';
    return SLM_OK;
}

static slm_status read_alignment(slm_gguf *g, cursor *c) {
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    const slm_gguf_value *v = slm_gguf_get(g, "general.alignment");
    if (!v) return SLM_OK;
    if (v->type != SLM_GGUF_U32)
        return cfail(c, "key 'general.alignment' has type %s, expected u32", slm_gguf_type_name(v->type));
    uint32_t a = v->v.u32;
    if (a == 0 || (a & (a - 1)) != 0)
        return cfail(c, "key 'general.alignment' is %u, which is not a power of two", a);
    g->alignment = a;
    return SLM_OK;
}

/* ---- tensor infos -------------------------------------------------------- */

static bool mul_overflows(uint64_t a, uint64_t b, uint64_t *out) {
    if (a != 0 && b > UINT64_MAX / a) return true;
    *out = a * b;
    return false;
}

static slm_status read_shape(cursor *c, slm_gguf_tensor *t) {
    slm_status s = read_u32(c, &t->n_dims, "n_dims");
    if (s) return s;
    if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
        return cfail(c, "%u dimensions (must be 1 to %d)", t->n_dims, GGUF_MAX_DIMS);
    uint64_t n_el = 1;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
        uint64_t ne = 1;
        if (d < t->n_dims && (s = read_u64(c, &ne, "a dimension"))) return s;
        if (ne > (uint64_t)INT64_MAX || mul_overflows(n_el, ne, &n_el) || n_el > (uint64_t)INT64_MAX)
            return cfail(c, "the element count overflows (ne[%u] = %llu)", d, (unsigned long long)ne);
        t->ne[d] = (int64_t)ne;
    }
    t->n_elements = n_el;
    return SLM_OK;
}

static slm_status parse_tensor_info(slm_gguf *g, cursor *c, uint64_t i, slm_gguf_tensor *t) {
    uint64_t at = c->pos;
    snprintf(c->where, sizeof c->where, "tensor info %llu at offset %llu", (unsigned long long)i,
             (unsigned long long)at);
    char *name = NULL;
    slm_status s = read_name(g, c, GGUF_MAX_NAME_LEN, "tensor name", &name);
    if (s) return s;
    t->name = name;
    snprintf(c->where, sizeof c->where, "tensor '%s' at offset %llu", name, (unsigned long long)at);
    if ((s = read_shape(c, t))) return s;
    uint32_t type = 0;
    if ((s = read_u32(c, &type, "the tensor type"))) return s;
    if (!slm_type_valid(type)) return cfail(c, "unknown tensor type id %u", type);
    t->type = (slm_type)type;
    if ((s = read_u64(c, &t->offset, "the data offset"))) return s;
    const slm_type_traits *tr = slm_type_traits_of(t->type);
    uint64_t ne0 = (uint64_t)t->ne[0];
    if (ne0 % tr->block_size != 0)
        return cfail(c, "row length %llu is not a multiple of the %s block size %u", (unsigned long long)ne0,
                     tr->name, tr->block_size);
    uint64_t rows = ne0 ? t->n_elements / ne0 : 0, row_bytes = 0;
    if (mul_overflows(ne0 / tr->block_size, tr->block_bytes, &row_bytes) ||
        mul_overflows(rows, row_bytes, &t->n_bytes))
        return cfail(c, "the byte size of %llu %s elements overflows", (unsigned long long)t->n_elements,
                     tr->name);
    return SLM_OK;
}

static slm_status parse_tensors(slm_gguf *g, cursor *c) {
    slm_status s;
    g->tensors = arena_array(g, g->n_tensors, sizeof *g->tensors);
    g->tensor_names = arena_array(g, g->n_tensors, sizeof *g->tensor_names);
    if (!g->tensors || !g->tensor_names || !index_init(g, &g->tensor_index, g->n_tensors)) return nomem(c);
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        if ((s = parse_tensor_info(g, c, i, &g->tensors[i]))) return s;
        g->tensor_names[i] = g->tensors[i].name;
        if (!index_insert(&g->tensor_index, g->tensors[i].name, i, g->tensor_names))
            return cfail(c, "duplicate tensor name (two tensors are called '%s')", g->tensors[i].name);
    }
    c->where[0] = '\0';
    return SLM_OK;
}

/* ---- tensor data --------------------------------------------------------- */

static int cmp_by_offset(const void *a, const void *b) {
    const slm_gguf_tensor *x = *(const slm_gguf_tensor *const *)a, *y = *(const slm_gguf_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Each tensor aligned and inside the file. */
static slm_status place_tensors(slm_gguf *g, cursor *c) {
    uint64_t avail = g->size - g->data_offset; /* caller checked data_offset <= size */
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        slm_gguf_tensor *t = &g->tensors[i];
        if (t->offset % g->alignment != 0)
            return cfail(c, "tensor '%s': data offset %llu is not a multiple of the alignment %u", t->name,
                         (unsigned long long)t->offset, g->alignment);
        if (t->offset > avail || t->n_bytes > avail - t->offset)
            return cfail(c, "tensor '%s': its %llu bytes of data at data offset %llu (file offset %llu) run "
                         "past the end of the file (%llu bytes)", t->name, (unsigned long long)t->n_bytes,
                         (unsigned long long)t->offset, (unsigned long long)(g->data_offset + t->offset),
                         (unsigned long long)g->size);
        t->file_offset = g->data_offset + t->offset;
        t->data = g->base + t->file_offset;
    }
    return SLM_OK;
}

/* No two tensors with data share a byte.  Walking by offset, each tensor
 * must start at or after the furthest end seen so far (empty tensors own no
 * bytes, so they never overlap and never hide an overlap). */
static slm_status check_overlaps(slm_gguf *g, cursor *c) {
    if (g->n_tensors < 2) return SLM_OK;
    slm_gguf_tensor **sorted = malloc((size_t)g->n_tensors * sizeof *sorted);
    if (!sorted) return nomem(c);
    for (uint64_t i = 0; i < g->n_tensors; i++) sorted[i] = &g->tensors[i];
    qsort(sorted, (size_t)g->n_tensors, sizeof *sorted, cmp_by_offset);
    slm_status s = SLM_OK;
    const slm_gguf_tensor *furthest = NULL; /* the tensor whose data ends last so far */
    for (uint64_t i = 0; i < g->n_tensors && !s; i++) {
        const slm_gguf_tensor *t = sorted[i];
        if (t->n_bytes == 0) continue;
        if (furthest && t->offset < furthest->offset + furthest->n_bytes)
            s = cfail(c, "tensors '%s' (data offset %llu, %llu bytes) and '%s' (data offset %llu, %llu bytes) "
                      "overlap", furthest->name, (unsigned long long)furthest->offset,
                      (unsigned long long)furthest->n_bytes, t->name, (unsigned long long)t->offset,
                      (unsigned long long)t->n_bytes);
        else if (!furthest || t->offset + t->n_bytes > furthest->offset + furthest->n_bytes)
            furthest = t;
    }
    free(sorted);
    return s;
}

/* ---- the whole file -------------------------------------------------------- */

static slm_status parse_header(slm_gguf *g, cursor *c) {
    slm_status s;
    if (g->size == 0) return cfail(c, "file is empty (0 bytes), not a GGUF file");
    if (g->size < 4 || memcmp(g->base, "GGUF", 4) != 0) return cfail(c, "not a GGUF file (bad magic at offset 0)");
    c->pos = 4;
    if ((s = read_u32(c, &g->version, "the version"))) return s;
    if ((g->version & 0xffff) == 0 && g->version != 0)
        return cfail(c, "big-endian GGUF file (the version reads 0x%08x); only little-endian files are supported",
                     g->version);
    if (g->version == 1) return cfail(c, "GGUF version 1 is obsolete and not supported (need 2 or 3)");
    if (g->version < 2 || g->version > 3)
        return cfail(c, "unsupported GGUF version %u (supported: 2, 3)", g->version);
    if ((s = read_u64(c, &g->n_tensors, "the tensor count"))) return s;
    if ((s = read_u64(c, &g->n_keys, "the metadata key count"))) return s;
    if (g->n_keys > remaining(c) / MIN_KV_BYTES)
        return cfail(c, "metadata key count %llu is impossible for a file of %llu bytes",
                     (unsigned long long)g->n_keys, (unsigned long long)g->size);
    if (g->n_tensors > remaining(c) / MIN_TENSOR_INFO_BYTES)
        return cfail(c, "tensor count %llu is impossible for a file of %llu bytes",
                     (unsigned long long)g->n_tensors, (unsigned long long)g->size);
    return SLM_OK;
}

slm_status slm_gguf_parse(slm_gguf *g, slm_error *err) {
    cursor c = {g->base, g->size, 0, g->path, err, ""};
    slm_status s;
    if ((s = parse_header(g, &c))) return s;
    if ((s = parse_kv(g, &c))) return s;
    if ((s = read_alignment(g, &c))) return s;
    if ((s = parse_tensors(g, &c))) return s;
    uint64_t pad = (g->alignment - c.pos % g->alignment) % g->alignment;
    g->data_offset = c.pos + pad;
    if (g->n_tensors == 0) return SLM_OK; /* vocabulary-only files may end without padding */
    if (g->data_offset > g->size)
        return cfail(&c, "truncated file: tensor data should start at offset %llu, but the file ends at %llu",
                     (unsigned long long)g->data_offset, (unsigned long long)g->size);
    if ((s = place_tensors(g, &c))) return s;
    return check_overlaps(g, &c);
}
