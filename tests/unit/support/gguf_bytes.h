/* gguf_bytes.h - build GGUF files byte by byte in tests, independently of
 * the library's writer, so reader tests can also build broken files. */
#ifndef SLM_TEST_GGUF_BYTES_H
#define SLM_TEST_GGUF_BYTES_H

#include <stddef.h>
#include <stdint.h>

#include "slm.h"

typedef struct gbuf {
    uint8_t *p;
    size_t len, cap;
} gbuf;

/* Little-endian scalars and raw bytes (abort on out of memory). */
void gb_bytes(gbuf *b, const void *data, size_t n);
void gb_u8(gbuf *b, uint8_t v);
void gb_u16(gbuf *b, uint16_t v);
void gb_u32(gbuf *b, uint32_t v);
void gb_u64(gbuf *b, uint64_t v);
void gb_f32(gbuf *b, float v);
void gb_f64(gbuf *b, double v);
/* A GGUF string: u64 length, then the bytes of s (no NUL). */
void gb_str(gbuf *b, const char *s);
void gb_strn(gbuf *b, const void *s, uint64_t len);

/* "GGUF", version, n_tensors, n_kv. */
void gb_header(gbuf *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv);
/* A key and its value type; the caller writes the value next. */
void gb_key(gbuf *b, const char *key, slm_gguf_type type);
void gb_kv_u32(gbuf *b, const char *key, uint32_t v);
void gb_kv_str(gbuf *b, const char *key, const char *v);
/* A tensor info: name, n_dims, ne[0..n_dims), type, offset. */
void gb_tensor(gbuf *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t offset);
/* Zero bytes up to the next multiple of align. */
void gb_pad(gbuf *b, size_t align);
/* n bytes of a recognisable pattern (data byte i = seed + i). */
void gb_fill(gbuf *b, size_t n, uint8_t seed);

void gb_free(gbuf *b);

#endif
