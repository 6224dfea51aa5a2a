/* dequant.c - scalar reference dequantizers for the GGUF block layouts.
 *
 * Block layouts (bytes, little-endian):
 *   Q4_0: f16 d, u8 qs[16]                 x = d * (nibble - 8)
 *   Q4_1: f16 d, f16 m, u8 qs[16]          x = d * nibble + m
 *   Q5_0: f16 d, u8 qh[4], u8 qs[16]       x = d * (nibble | high bit << 4) - 16 d
 *   Q5_1: f16 d, f16 m, u8 qh[4], u8 qs[16] x = d * (5-bit value) + m
 *   Q8_0: f16 d, i8 qs[32]                 x = d * q
 * In the 4/5-bit types, element j of a block is the low nibble of qs[j] and
 * element j + 16 the high nibble; bit j of qh is the 5th bit of element j. */
#include "types/dequant.h"

#include "types/half.h"

void slm_dequant_f32(const void *src, float *dst, int64_t n) { memcpy(dst, src, (size_t)n * sizeof(float)); }

void slm_dequant_f16(const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++) dst[i] = slm_f16_to_f32(slm_read_u16le(p + 2 * i));
}

void slm_dequant_bf16(const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++) dst[i] = slm_bf16_to_f32(slm_read_u16le(p + 2 * i));
}

void slm_dequant_q4_0(const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n; i += 32, b += 18, dst += 32) {
        float d = slm_f16_to_f32(slm_read_u16le(b));
        const uint8_t *qs = b + 2;
        for (int j = 0; j < 16; j++) {
            dst[j] = d * (float)((qs[j] & 0x0f) - 8);
            dst[j + 16] = d * (float)((qs[j] >> 4) - 8);
        }
    }
}

void slm_dequant_q4_1(const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n; i += 32, b += 20, dst += 32) {
        float d = slm_f16_to_f32(slm_read_u16le(b));
        float m = slm_f16_to_f32(slm_read_u16le(b + 2));
        const uint8_t *qs = b + 4;
        for (int j = 0; j < 16; j++) {
            dst[j] = d * (float)(qs[j] & 0x0f) + m;
            dst[j + 16] = d * (float)(qs[j] >> 4) + m;
        }
    }
}

void slm_dequant_q5_0(const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n; i += 32, b += 22, dst += 32) {
        float d = slm_f16_to_f32(slm_read_u16le(b));
        uint32_t qh = slm_read_u32le(b + 2);
        const uint8_t *qs = b + 6;
        for (int j = 0; j < 16; j++) {
            int lo = (qs[j] & 0x0f) | (int)(((qh >> j) & 1) << 4);
            int hi = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            dst[j] = d * (float)(lo - 16);
            dst[j + 16] = d * (float)(hi - 16);
        }
    }
}

void slm_dequant_q5_1(const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n; i += 32, b += 24, dst += 32) {
        float d = slm_f16_to_f32(slm_read_u16le(b));
        float m = slm_f16_to_f32(slm_read_u16le(b + 2));
        uint32_t qh = slm_read_u32le(b + 4);
        const uint8_t *qs = b + 8;
        for (int j = 0; j < 16; j++) {
            int lo = (qs[j] & 0x0f) | (int)(((qh >> j) & 1) << 4);
            int hi = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            dst[j] = d * (float)lo + m;
            dst[j + 16] = d * (float)hi + m;
        }
    }
}

void slm_dequant_q8_0(const void *src, float *dst, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n; i += 32, b += 34, dst += 32) {
        float d = slm_f16_to_f32(slm_read_u16le(b));
        const int8_t *qs = (const int8_t *)(b + 2);
        for (int j = 0; j < 32; j++) dst[j] = d * (float)qs[j];
    }
}
