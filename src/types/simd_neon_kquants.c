/* simd_neon_kquants.c - placeholder registration; the kernels land here. */
#include "types/gemm.h"

#if defined(__aarch64__)

void slm_kernels_neon_kquants(slm_kernels *k) { (void)k; }

#endif
