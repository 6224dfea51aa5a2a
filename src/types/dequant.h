/* dequant.h - scalar reference dequantizers: n elements (a multiple of the
 * type's block size) from the GGUF block layout to float. */
#ifndef SLM_TYPES_DEQUANT_H
#define SLM_TYPES_DEQUANT_H

#include <stdint.h>

void slm_dequant_f32(const void *src, float *dst, int64_t n);
void slm_dequant_f16(const void *src, float *dst, int64_t n);
void slm_dequant_bf16(const void *src, float *dst, int64_t n);
void slm_dequant_q4_0(const void *src, float *dst, int64_t n);
void slm_dequant_q4_1(const void *src, float *dst, int64_t n);
void slm_dequant_q5_0(const void *src, float *dst, int64_t n);
void slm_dequant_q5_1(const void *src, float *dst, int64_t n);
void slm_dequant_q8_0(const void *src, float *dst, int64_t n);

#endif
