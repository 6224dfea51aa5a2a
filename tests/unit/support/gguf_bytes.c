/* gguf_bytes.c - byte builder for hand-made GGUF files in tests. */
#include "gguf_bytes.h"

#include <stdlib.h>
#include <string.h>

void gb_bytes(gbuf *b, const void *data, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) abort();
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void put_le(gbuf *b, uint64_t v, int n) {
    uint8_t tmp[8];
    for (int i = 0; i < n; i++) tmp[i] = (uint8_t)(v >> (8 * i));
    gb_bytes(b, tmp, (size_t)n);
}

void gb_u8(gbuf *b, uint8_t v) { put_le(b, v, 1); }
void gb_u16(gbuf *b, uint16_t v) { put_le(b, v, 2); }
void gb_u32(gbuf *b, uint32_t v) { put_le(b, v, 4); }
void gb_u64(gbuf *b, uint64_t v) { put_le(b, v, 8); }

void gb_f32(gbuf *b, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    gb_u32(b, u);
}

void gb_f64(gbuf *b, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    gb_u64(b, u);
}

void gb_strn(gbuf *b, const void *s, uint64_t len) {
    gb_u64(b, len);
    gb_bytes(b, s, (size_t)len);
}

void gb_str(gbuf *b, const char *s) { gb_strn(b, s, strlen(s)); }

void gb_header(gbuf *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    gb_bytes(b, "GGUF", 4);
    gb_u32(b, version);
    gb_u64(b, n_tensors);
    gb_u64(b, n_kv);
}

void gb_key(gbuf *b, const char *key, slm_gguf_type type) {
    gb_str(b, key);
    gb_u32(b, (uint32_t)type);
}

void gb_kv_u32(gbuf *b, const char *key, uint32_t v) {
    gb_key(b, key, SLM_GGUF_U32);
    gb_u32(b, v);
}

void gb_kv_str(gbuf *b, const char *key, const char *v) {
    gb_key(b, key, SLM_GGUF_STRING);
    gb_str(b, v);
}

void gb_tensor(gbuf *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t offset) {
    gb_str(b, name);
    gb_u32(b, n_dims);
    for (uint32_t d = 0; d < n_dims; d++) gb_u64(b, ne[d]);
    gb_u32(b, type);
    gb_u64(b, offset);
}

void gb_pad(gbuf *b, size_t align) {
    static const uint8_t zero[1] = {0};
    while (b->len % align) gb_bytes(b, zero, 1);
}

void gb_fill(gbuf *b, size_t n, uint8_t seed) {
    for (size_t i = 0; i < n; i++) gb_u8(b, (uint8_t)(seed + i));
}

void gb_free(gbuf *b) {
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}
