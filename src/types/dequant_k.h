/* dequant_k.h - scalar reference dequantizers for the K-quant block layouts
 * (256 elements per block). */
#ifndef SLM_TYPES_DEQUANT_K_H
#define SLM_TYPES_DEQUANT_K_H

#include <stdint.h>

void slm_dequant_q6_K(const void *src, float *dst, int64_t n);

#endif
