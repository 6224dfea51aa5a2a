/* dequant_k.c - scalar reference dequantizers for K-quant blocks.
 *
 * Q6_K (210 bytes per 256 elements): u8 ql[128] (low 4 bits), u8 qh[64]
 * (high 2 bits), i8 scales[16] (one per 16 elements), f16 d.
 *   x = d * scale * (q - 32), q = 6-bit value.
 * Each half of 128 elements uses 64 ql bytes, 32 qh bytes and 8 scales:
 * element l + 32k (l < 32, k < 4) takes the low (k < 2) or high (k >= 2)
 * nibble of ql[l + 32 (k % 2)] and bits 2k..2k+1 of qh[l], and scale
 * 2k + l / 16. */
#include "types/dequant_k.h"

#include "types/half.h"

/* The 6-bit value (minus 32) of element l + 32k of one 128-element half. */
static int q6_value(const uint8_t *ql, const uint8_t *qh, int l, int k) {
    int lo = k < 2 ? (ql[l + 32 * (k % 2)] & 0x0f) : (ql[l + 32 * (k % 2)] >> 4);
    int hi = (qh[l] >> (2 * k)) & 3;
    return (lo | (hi << 4)) - 32;
}

void slm_dequant_q6_K(const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n; i += 256, b += 210) {
        float d = slm_f16_to_f32(slm_read_u16le(b + 208));
        const int8_t *sc = (const int8_t *)(b + 192);
        for (int half = 0; half < 2; half++, dst += 128) {
            const uint8_t *ql = b + 64 * half;
            const uint8_t *qh = b + 128 + 32 * half;
            const int8_t *s = sc + 8 * half;
            for (int k = 0; k < 4; k++)
                for (int l = 0; l < 32; l++)
                    dst[l + 32 * k] = d * (float)s[2 * k + l / 16] * (float)q6_value(ql, qh, l, k);
        }
    }
}
