/* sha256.h - SHA-256 (FIPS 180-4), streaming, for verifying downloads. */
#ifndef SLM_CLI_SHA256_H
#define SLM_CLI_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct slm_sha256 {
    uint32_t h[8];        /* running hash value H(i) */
    uint64_t n_bytes;     /* message length so far */
    uint8_t block[64];    /* pending input, not yet a full block */
    size_t n_block;       /* bytes used in block */
} slm_sha256;

void slm_sha256_init(slm_sha256 *s);
void slm_sha256_update(slm_sha256 *s, const void *data, size_t n);
/* Pads, finishes and writes the 32-byte digest; s must be re-initialized to reuse. */
void slm_sha256_final(slm_sha256 *s, uint8_t digest[32]);

/* Lowercase hex of a digest: 64 characters plus NUL. */
void slm_sha256_hex(const uint8_t digest[32], char hex[65]);
/* Hashes a whole file into hex. Returns 0, or -1 with errno set. */
int slm_sha256_file(const char *path, char hex[65]);

#endif
