/* simd_neon.c - aarch64 kernels (placeholder until the NEON set lands). */
#include "types/gemm.h"

#if defined(__aarch64__)
void slm_kernels_neon(slm_kernels *k) { (void)k; }
#endif
