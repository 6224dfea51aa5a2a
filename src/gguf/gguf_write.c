/* gguf_write.c - write a GGUF v3 file, streaming the tensor data.
 *
 * The metadata and tensor infos are kept in memory (each value already
 * encoded in its GGUF byte form, so the caller's buffers can go away at
 * once).  The header is written when the first tensor byte arrives (or at
 * finish), because every tensor's offset must be known by then; after that
 * the layout is frozen.  Tensor data goes straight to the file: a 5 GB
 * model never sits in memory.
 *
 * Layout is the one ggml writes: header, key/values, tensor infos, zero
 * padding to the alignment, then each tensor followed by zero padding to the
 * alignment (the last one too); a file without tensors ends after the
 * header, unpadded.  A file read with slm_gguf_open and written
 * back key by key and tensor by tensor is therefore byte-identical to a file
 * that llama.cpp wrote. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf/gguf_internal.h"
#include "runtime/error.h"
#include "types/types.h"

#define GGUF_VERSION 3
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_KEY_LEN 65535
#define GGUF_MAX_DEPTH 8
/* ggml's GGML_MAX_NAME is 64 including the NUL: longer names do not load. */
#define GGUF_MAX_TENSOR_NAME 63
#define WRITE_BUFFER_BYTES (1u << 20)

/* ---- growable byte buffer ------------------------------------------------ */

typedef struct bytes {
    uint8_t *p;
    size_t len, cap;
    bool oom;
} bytes;

static void put(bytes *b, const void *src, size_t n) {
    if (b->oom) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n) cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void put_le(bytes *b, uint64_t v, int n) {
    uint8_t tmp[8];
    for (int i = 0; i < n; i++) tmp[i] = (uint8_t)(v >> (8 * i));
    put(b, tmp, (size_t)n);
}

static void put_str(bytes *b, const char *s, uint64_t len) {
    put_le(b, len, 8);
    put(b, s, (size_t)len);
}

/* ---- the writer ---------------------------------------------------------- */

typedef struct wkey {
    char *name;
    bytes enc; /* u32 type + value, as stored in the file */
} wkey;

typedef struct wtensor {
    char *name;
    slm_type type;
    uint32_t n_dims;
    int64_t ne[4];
    uint64_t n_bytes;
    uint64_t offset; /* relative to the data section */
} wtensor;

struct slm_gguf_writer {
    char *path, *tmp_path;
    FILE *f;
    char *iobuf;
    uint32_t alignment;

    wkey *keys;
    size_t n_keys, cap_keys;
    wtensor *tensors;
    size_t n_tensors, cap_tensors;
    uint64_t data_bytes; /* data section size so far (padded) */

    bool header_written, finished;
    size_t cur;            /* tensor whose data is being written */
    uint64_t cur_written;  /* bytes of it written so far */
    slm_error failure;     /* first I/O error; the writer is dead after one */
    bool failed;
};

static slm_status fail_dead(slm_gguf_writer *w, slm_error *err) {
    if (err) *err = w->failure;
    return w->failure.status;
}

/* Records an I/O error (errno) and makes every later call return it. */
static slm_status fail_io(slm_gguf_writer *w, slm_error *err, const char *what) {
    int e = errno ? errno : EIO;
    slm_fail(&w->failure, SLM_E_IO, "%s: %s failed: %s", w->tmp_path, what, strerror(e));
    w->failed = true;
    return fail_dead(w, err);
}

static slm_status check_usable(slm_gguf_writer *w, bool need_open_layout, slm_error *err) {
    if (w->failed) return fail_dead(w, err);
    if (w->finished) return slm_fail(err, SLM_E_INVALID, "%s: the writer is already finished", w->path);
    if (need_open_layout && w->header_written)
        return slm_fail(err, SLM_E_INVALID,
                        "%s: metadata and tensor infos cannot change once tensor data is being written", w->path);
    return SLM_OK;
}

slm_status slm_gguf_writer_new(const char *path, slm_gguf_writer **out, slm_error *err) {
    *out = NULL;
    if (!path || !*path) return slm_fail(err, SLM_E_INVALID, "GGUF writer: empty output path");
    slm_gguf_writer *w = calloc(1, sizeof *w);
    size_t n = strlen(path);
    if (w) {
        w->path = strdup(path);
        w->tmp_path = malloc(n + 5);
        w->iobuf = malloc(WRITE_BUFFER_BYTES);
    }
    if (!w || !w->path || !w->tmp_path || !w->iobuf) {
        if (w) {
            free(w->path);
            free(w->tmp_path);
            free(w->iobuf);
        }
        free(w);
        return slm_fail(err, SLM_E_NOMEM, "%s: out of memory", path);
    }
    memcpy(w->tmp_path, path, n);
    memcpy(w->tmp_path + n, ".tmp", 5);
    w->alignment = GGUF_DEFAULT_ALIGNMENT;
    int fd = open(w->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0 && !(w->f = fdopen(fd, "wb"))) close(fd);
    if (!w->f) {
        slm_status s = slm_fail(err, SLM_E_IO, "%s: cannot create: %s", w->tmp_path, strerror(errno));
        free(w->path);
        free(w->tmp_path);
        free(w->iobuf);
        free(w);
        return s;
    }
    setvbuf(w->f, w->iobuf, _IOFBF, WRITE_BUFFER_BYTES);
    *out = w;
    return SLM_OK;
}

void slm_gguf_writer_free(slm_gguf_writer *w) {
    if (!w) return;
    if (w->f) {
        fclose(w->f);
        unlink(w->tmp_path);
    }
    for (size_t i = 0; i < w->n_keys; i++) {
        free(w->keys[i].name);
        free(w->keys[i].enc.p);
    }
    for (size_t i = 0; i < w->n_tensors; i++) free(w->tensors[i].name);
    free(w->keys);
    free(w->tensors);
    free(w->iobuf);
    free(w->path);
    free(w->tmp_path);
    free(w);
}

/* ---- metadata ------------------------------------------------------------ */

static slm_status encode_value(const slm_gguf_writer *w, const char *key, bytes *b, const slm_gguf_value *v,
                               int depth, slm_error *err);

static slm_status encode_array(const slm_gguf_writer *w, const char *key, bytes *b, const slm_gguf_value *v,
                               int depth, slm_error *err) {
    slm_gguf_type et = v->v.arr.type;
    uint64_t n = v->v.arr.n;
    if ((unsigned)et >= SLM_GGUF_TYPE_COUNT)
        return slm_fail(err, SLM_E_INVALID, "%s: key '%s': invalid array element type %d", w->path, key, (int)et);
    if (depth >= GGUF_MAX_DEPTH)
        return slm_fail(err, SLM_E_INVALID, "%s: key '%s': arrays nested deeper than %d levels", w->path, key,
                        GGUF_MAX_DEPTH);
    put_le(b, (uint64_t)et, 4);
    put_le(b, n, 8);
    if (n == 0) return SLM_OK;
    if (et == SLM_GGUF_STRING) {
        if (!v->v.arr.strs) return slm_fail(err, SLM_E_INVALID, "%s: key '%s': string array without strings", w->path, key);
        for (uint64_t i = 0; i < n; i++) {
            if (!v->v.arr.strs[i].ptr && v->v.arr.strs[i].len)
                return slm_fail(err, SLM_E_INVALID, "%s: key '%s': string %llu has no bytes", w->path, key,
                                (unsigned long long)i);
            put_str(b, v->v.arr.strs[i].ptr, v->v.arr.strs[i].len);
        }
        return SLM_OK;
    }
    if (et == SLM_GGUF_ARRAY) {
        if (!v->v.arr.items) return slm_fail(err, SLM_E_INVALID, "%s: key '%s': nested array without items", w->path, key);
        for (uint64_t i = 0; i < n; i++) {
            const slm_gguf_value *item = &v->v.arr.items[i];
            if (item->type != SLM_GGUF_ARRAY)
                return slm_fail(err, SLM_E_INVALID, "%s: key '%s': item %llu of an array of arrays has type %s",
                                w->path, key, (unsigned long long)i, slm_gguf_type_name(item->type));
            slm_status s = encode_array(w, key, b, item, depth + 1, err);
            if (s) return s;
        }
        return SLM_OK;
    }
    if (!v->v.arr.data) return slm_fail(err, SLM_E_INVALID, "%s: key '%s': numeric array without data", w->path, key);
    int es = slm_gguf_scalar_size(et);
    const uint8_t *src = v->v.arr.data;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t raw = 0;
        memcpy(&raw, src + i * (uint64_t)es, (size_t)es); /* native (little-endian) element */
        if (et == SLM_GGUF_BOOL) raw = raw != 0;
        put_le(b, raw, es);
    }
    return SLM_OK;
}

static uint64_t scalar_bits(const slm_gguf_value *v) {
    uint64_t raw = 0;
    switch (v->type) {
    case SLM_GGUF_U8: raw = v->v.u8; break;
    case SLM_GGUF_I8: raw = (uint8_t)v->v.i8; break;
    case SLM_GGUF_U16: raw = v->v.u16; break;
    case SLM_GGUF_I16: raw = (uint16_t)v->v.i16; break;
    case SLM_GGUF_U32: raw = v->v.u32; break;
    case SLM_GGUF_I32: raw = (uint32_t)v->v.i32; break;
    case SLM_GGUF_U64: raw = v->v.u64; break;
    case SLM_GGUF_I64: raw = (uint64_t)v->v.i64; break;
    case SLM_GGUF_BOOL: raw = v->v.b ? 1 : 0; break;
    case SLM_GGUF_F32: { uint32_t u; memcpy(&u, &v->v.f32, 4); raw = u; break; }
    case SLM_GGUF_F64: memcpy(&raw, &v->v.f64, 8); break;
    default: break;
    }
    return raw;
}

static slm_status encode_value(const slm_gguf_writer *w, const char *key, bytes *b, const slm_gguf_value *v,
                               int depth, slm_error *err) {
    if ((unsigned)v->type >= SLM_GGUF_TYPE_COUNT)
        return slm_fail(err, SLM_E_INVALID, "%s: key '%s': invalid value type %d", w->path, key, (int)v->type);
    put_le(b, (uint64_t)v->type, 4);
    if (v->type == SLM_GGUF_ARRAY) return encode_array(w, key, b, v, depth, err);
    if (v->type == SLM_GGUF_STRING) {
        if (!v->v.str.ptr && v->v.str.len) return slm_fail(err, SLM_E_INVALID, "%s: key '%s': string without bytes", w->path, key);
        put_str(b, v->v.str.ptr, v->v.str.len);
        return SLM_OK;
    }
    put_le(b, scalar_bits(v), slm_gguf_scalar_size(v->type));
    return SLM_OK;
}

static wkey *find_key(slm_gguf_writer *w, const char *key) {
    for (size_t i = 0; i < w->n_keys; i++)
        if (!strcmp(w->keys[i].name, key)) return &w->keys[i];
    return NULL;
}

static bool is_power_of_two(uint64_t a) { return a != 0 && (a & (a - 1)) == 0; }

/* general.alignment decides the layout, so it must be a valid u32. */
static slm_status check_alignment_key(slm_gguf_writer *w, const slm_gguf_value *v, slm_error *err) {
    if (v->type != SLM_GGUF_U32)
        return slm_fail(err, SLM_E_INVALID, "%s: key 'general.alignment' must be u32, not %s", w->path,
                        slm_gguf_type_name(v->type));
    if (!is_power_of_two(v->v.u32))
        return slm_fail(err, SLM_E_INVALID, "%s: key 'general.alignment' is %u, not a power of two", w->path,
                        v->v.u32);
    return SLM_OK;
}

slm_status slm_gguf_writer_set(slm_gguf_writer *w, const char *key, const slm_gguf_value *value, slm_error *err) {
    slm_status s = check_usable(w, true, err);
    if (s) return s;
    size_t klen = key ? strlen(key) : 0;
    if (klen == 0) return slm_fail(err, SLM_E_INVALID, "%s: empty metadata key", w->path);
    if (klen > GGUF_MAX_KEY_LEN)
        return slm_fail(err, SLM_E_INVALID, "%s: metadata key of %zu bytes (limit %d)", w->path, klen, GGUF_MAX_KEY_LEN);
    if (!value) return slm_fail(err, SLM_E_INVALID, "%s: key '%s': no value", w->path, key);
    bool is_align = !strcmp(key, "general.alignment");
    if (is_align && (s = check_alignment_key(w, value, err))) return s;
    bytes enc = {0};
    if ((s = encode_value(w, key, &enc, value, 0, err))) {
        free(enc.p);
        return s;
    }
    if (enc.oom) {
        free(enc.p);
        return slm_fail(err, SLM_E_NOMEM, "%s: key '%s': out of memory", w->path, key);
    }
    wkey *k = find_key(w, key);
    if (k) { /* replacing keeps the key's place in the order */
        free(k->enc.p);
        k->enc = enc;
    } else {
        if (w->n_keys == w->cap_keys) {
            size_t cap = w->cap_keys ? w->cap_keys * 2 : 32;
            wkey *p = realloc(w->keys, cap * sizeof *p);
            if (!p) {
                free(enc.p);
                return slm_fail(err, SLM_E_NOMEM, "%s: out of memory", w->path);
            }
            w->keys = p;
            w->cap_keys = cap;
        }
        char *name = strdup(key);
        if (!name) {
            free(enc.p);
            return slm_fail(err, SLM_E_NOMEM, "%s: out of memory", w->path);
        }
        w->keys[w->n_keys++] = (wkey){name, enc};
    }
    if (is_align) w->alignment = value->v.u32;
    return SLM_OK;
}

slm_status slm_gguf_writer_remove(slm_gguf_writer *w, const char *key) {
    slm_status s = check_usable(w, true, NULL);
    if (s) return s;
    wkey *k = key ? find_key(w, key) : NULL;
    if (!k) return SLM_E_NOT_FOUND;
    size_t i = (size_t)(k - w->keys);
    free(k->name);
    free(k->enc.p);
    memmove(&w->keys[i], &w->keys[i + 1], (w->n_keys - i - 1) * sizeof *w->keys);
    w->n_keys--;
    if (!strcmp(key, "general.alignment")) w->alignment = GGUF_DEFAULT_ALIGNMENT;
    return SLM_OK;
}

slm_status slm_gguf_writer_set_alignment(slm_gguf_writer *w, uint32_t alignment, slm_error *err) {
    slm_status s = check_usable(w, true, err);
    if (s) return s;
    if (!is_power_of_two(alignment))
        return slm_fail(err, SLM_E_INVALID, "%s: alignment %u is not a power of two", w->path, alignment);
    if (alignment != GGUF_DEFAULT_ALIGNMENT) return slm_gguf_writer_set_u32(w, "general.alignment", alignment, err);
    slm_gguf_writer_remove(w, "general.alignment");
    return SLM_OK;
}

#define SCALAR_SETTER(fn, ctype, tag, field)                                              \
    slm_status fn(slm_gguf_writer *w, const char *key, ctype v, slm_error *err) {         \
        slm_gguf_value val;                                                               \
        memset(&val, 0, sizeof val);                                                      \
        val.type = tag;                                                                   \
        val.v.field = v;                                                                  \
        return slm_gguf_writer_set(w, key, &val, err);                                    \
    }

SCALAR_SETTER(slm_gguf_writer_set_u32, uint32_t, SLM_GGUF_U32, u32)
SCALAR_SETTER(slm_gguf_writer_set_i32, int32_t, SLM_GGUF_I32, i32)
SCALAR_SETTER(slm_gguf_writer_set_u64, uint64_t, SLM_GGUF_U64, u64)
SCALAR_SETTER(slm_gguf_writer_set_f32, float, SLM_GGUF_F32, f32)
SCALAR_SETTER(slm_gguf_writer_set_bool, bool, SLM_GGUF_BOOL, b)

slm_status slm_gguf_writer_set_str(slm_gguf_writer *w, const char *key, const char *v, slm_error *err) {
    if (!v) return slm_fail(err, SLM_E_INVALID, "%s: key '%s': NULL string", w->path, key ? key : "");
    slm_gguf_value val;
    memset(&val, 0, sizeof val);
    val.type = SLM_GGUF_STRING;
    val.v.str = (slm_str){v, strlen(v)};
    return slm_gguf_writer_set(w, key, &val, err);
}

slm_status slm_gguf_writer_set_arr(slm_gguf_writer *w, const char *key, slm_gguf_type elem_type, const void *data,
                                   uint64_t n, slm_error *err) {
    if (elem_type == SLM_GGUF_STRING || elem_type == SLM_GGUF_ARRAY)
        return slm_fail(err, SLM_E_INVALID, "%s: key '%s': slm_gguf_writer_set_arr takes numeric elements, not %s",
                        w->path, key ? key : "", slm_gguf_type_name(elem_type));
    slm_gguf_value val;
    memset(&val, 0, sizeof val);
    val.type = SLM_GGUF_ARRAY;
    val.v.arr.type = elem_type;
    val.v.arr.n = n;
    val.v.arr.data = data;
    return slm_gguf_writer_set(w, key, &val, err);
}

slm_status slm_gguf_writer_set_arr_str(slm_gguf_writer *w, const char *key, const slm_str *strs, uint64_t n,
                                       slm_error *err) {
    slm_gguf_value val;
    memset(&val, 0, sizeof val);
    val.type = SLM_GGUF_ARRAY;
    val.v.arr.type = SLM_GGUF_STRING;
    val.v.arr.n = n;
    val.v.arr.strs = strs;
    return slm_gguf_writer_set(w, key, &val, err);
}

/* ---- tensor infos -------------------------------------------------------- */

static slm_status check_tensor_name(slm_gguf_writer *w, const char *name, slm_error *err) {
    size_t len = name ? strlen(name) : 0;
    if (len == 0) return slm_fail(err, SLM_E_INVALID, "%s: empty tensor name", w->path);
    if (len > GGUF_MAX_TENSOR_NAME)
        return slm_fail(err, SLM_E_INVALID, "%s: tensor name '%s' is %zu bytes long (ggml allows at most %d)",
                        w->path, name, len, GGUF_MAX_TENSOR_NAME);
    for (size_t i = 0; i < w->n_tensors; i++)
        if (!strcmp(w->tensors[i].name, name))
            return slm_fail(err, SLM_E_INVALID, "%s: duplicate tensor name '%s'", w->path, name);
    return SLM_OK;
}

/* Byte size of a tensor, or an error for a shape that cannot be stored. */
static slm_status tensor_bytes(slm_gguf_writer *w, const char *name, slm_type type, uint32_t n_dims,
                               const int64_t *ne, uint64_t *out, slm_error *err) {
    const slm_type_traits *tr = slm_type_traits_of(type);
    if (!tr) return slm_fail(err, SLM_E_INVALID, "%s: tensor '%s': unknown type id %d", w->path, name, (int)type);
    if (n_dims < 1 || n_dims > 4 || !ne)
        return slm_fail(err, SLM_E_INVALID, "%s: tensor '%s' has %u dimensions (must be 1 to 4)", w->path, name, n_dims);
    uint64_t n_el = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] < 0)
            return slm_fail(err, SLM_E_INVALID, "%s: tensor '%s': dimension %u is negative (%lld)", w->path, name, d,
                            (long long)ne[d]);
        if (ne[d] != 0 && n_el > (uint64_t)INT64_MAX / (uint64_t)ne[d])
            return slm_fail(err, SLM_E_INVALID, "%s: tensor '%s': element count overflows", w->path, name);
        n_el *= (uint64_t)ne[d];
    }
    if ((uint64_t)ne[0] % tr->block_size != 0)
        return slm_fail(err, SLM_E_INVALID, "%s: tensor '%s': row length %lld is not a multiple of the %s block size %u",
                        w->path, name, (long long)ne[0], tr->name, tr->block_size);
    uint64_t blocks = n_el / tr->block_size;
    if (blocks > UINT64_MAX / 2 / tr->block_bytes)
        return slm_fail(err, SLM_E_INVALID, "%s: tensor '%s': byte size overflows", w->path, name);
    *out = blocks * tr->block_bytes;
    return SLM_OK;
}

static uint64_t pad_to(uint64_t n, uint64_t align) { return (align - n % align) % align; }

slm_status slm_gguf_writer_add_tensor(slm_gguf_writer *w, const char *name, slm_type type, uint32_t n_dims,
                                      const int64_t *ne, slm_error *err) {
    slm_status s = check_usable(w, true, err);
    if (s || (s = check_tensor_name(w, name, err))) return s;
    uint64_t nb = 0;
    if ((s = tensor_bytes(w, name, type, n_dims, ne, &nb, err))) return s;
    if (w->n_tensors == w->cap_tensors) {
        size_t cap = w->cap_tensors ? w->cap_tensors * 2 : 64;
        wtensor *p = realloc(w->tensors, cap * sizeof *p);
        if (!p) return slm_fail(err, SLM_E_NOMEM, "%s: out of memory", w->path);
        w->tensors = p;
        w->cap_tensors = cap;
    }
    wtensor t = {.name = strdup(name), .type = type, .n_dims = n_dims, .n_bytes = nb};
    if (!t.name) return slm_fail(err, SLM_E_NOMEM, "%s: out of memory", w->path);
    for (uint32_t d = 0; d < 4; d++) t.ne[d] = d < n_dims ? ne[d] : 1;
    w->tensors[w->n_tensors++] = t;
    return SLM_OK;
}

/* ---- output -------------------------------------------------------------- */

static slm_status write_raw(slm_gguf_writer *w, const void *p, size_t n, slm_error *err) {
    errno = 0;
    if (n && fwrite(p, 1, n, w->f) != n) return fail_io(w, err, "write");
    return SLM_OK;
}

static slm_status write_zeros(slm_gguf_writer *w, uint64_t n, slm_error *err) {
    static const uint8_t zeros[4096];
    while (n > 0) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        slm_status s = write_raw(w, zeros, k, err);
        if (s) return s;
        n -= k;
    }
    return SLM_OK;
}

/* Offsets are assigned now, from the final alignment. */
static void assign_offsets(slm_gguf_writer *w) {
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_tensors; i++) {
        w->tensors[i].offset = off;
        off += w->tensors[i].n_bytes + pad_to(w->tensors[i].n_bytes, w->alignment);
    }
    w->data_bytes = off;
}

static slm_status write_header(slm_gguf_writer *w, slm_error *err) {
    assign_offsets(w);
    bytes b = {0};
    put(&b, "GGUF", 4);
    put_le(&b, GGUF_VERSION, 4);
    put_le(&b, w->n_tensors, 8);
    put_le(&b, w->n_keys, 8);
    for (size_t i = 0; i < w->n_keys; i++) {
        put_str(&b, w->keys[i].name, strlen(w->keys[i].name));
        put(&b, w->keys[i].enc.p, w->keys[i].enc.len);
    }
    for (size_t i = 0; i < w->n_tensors; i++) {
        const wtensor *t = &w->tensors[i];
        put_str(&b, t->name, strlen(t->name));
        put_le(&b, t->n_dims, 4);
        for (uint32_t d = 0; d < t->n_dims; d++) put_le(&b, (uint64_t)t->ne[d], 8);
        put_le(&b, (uint64_t)t->type, 4);
        put_le(&b, t->offset, 8);
    }
    if (b.oom) {
        free(b.p);
        return slm_fail(err, SLM_E_NOMEM, "%s: out of memory for the header", w->path);
    }
    slm_status s = write_raw(w, b.p, b.len, err);
    /* No tensors, no data section to align (as gguf-py writes vocab files). */
    if (!s && w->n_tensors > 0) s = write_zeros(w, pad_to(b.len, w->alignment), err);
    free(b.p);
    w->header_written = true;
    return s;
}

/* Moves past the current tensor if it is complete (and past empty ones). */
static slm_status advance(slm_gguf_writer *w, slm_error *err) {
    while (w->cur < w->n_tensors && w->cur_written == w->tensors[w->cur].n_bytes) {
        slm_status s = write_zeros(w, pad_to(w->tensors[w->cur].n_bytes, w->alignment), err);
        if (s) return s;
        w->cur++;
        w->cur_written = 0;
    }
    return SLM_OK;
}

slm_status slm_gguf_writer_write(slm_gguf_writer *w, const void *data, size_t n, slm_error *err) {
    slm_status s = check_usable(w, false, err);
    if (s) return s;
    if (!w->header_written && ((s = write_header(w, err)) || (s = advance(w, err)))) return s;
    const uint8_t *p = data;
    while (n > 0) {
        if (w->cur >= w->n_tensors)
            return slm_fail(err, SLM_E_INVALID, "%s: %zu bytes written after the last tensor's data is complete",
                            w->path, n);
        const wtensor *t = &w->tensors[w->cur];
        uint64_t left = t->n_bytes - w->cur_written;
        size_t k = n < left ? n : (size_t)left;
        if ((s = write_raw(w, p, k, err))) return s;
        w->cur_written += k;
        p += k;
        n -= k;
        if ((s = advance(w, err))) return s;
    }
    return SLM_OK;
}

/* Makes the rename durable: best effort, as some filesystems refuse it. */
static void sync_parent_dir(const char *path) {
    char *copy = strdup(path);
    if (!copy) return;
    int fd = open(dirname(copy), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

slm_status slm_gguf_writer_finish(slm_gguf_writer *w, slm_error *err) {
    slm_status s = check_usable(w, false, err);
    if (s) return s;
    if (!w->header_written && ((s = write_header(w, err)) || (s = advance(w, err)))) return s;
    if (w->cur < w->n_tensors) {
        const wtensor *t = &w->tensors[w->cur];
        return slm_fail(err, SLM_E_INVALID, "%s: tensor '%s' (%zu of %zu) has %llu of its %llu bytes written", w->path,
                        t->name, w->cur + 1, w->n_tensors, (unsigned long long)w->cur_written,
                        (unsigned long long)t->n_bytes);
    }
    errno = 0;
    if (fflush(w->f) != 0) return fail_io(w, err, "write");
    if (fsync(fileno(w->f)) != 0 && errno != EINVAL) return fail_io(w, err, "fsync");
    FILE *f = w->f;
    w->f = NULL;
    if (fclose(f) != 0) {
        s = fail_io(w, err, "close");
        unlink(w->tmp_path);
        return s;
    }
    if (rename(w->tmp_path, w->path) != 0) {
        int e = errno;
        unlink(w->tmp_path);
        slm_fail(&w->failure, SLM_E_IO, "%s: cannot rename %s to it: %s", w->path, w->tmp_path, strerror(e));
        w->failed = true;
        return fail_dead(w, err);
    }
    sync_parent_dir(w->path);
    w->finished = true;
    return SLM_OK;
}
