/* simd_avx2_q45k.c - placeholder registration; the kernels land here. */
#include "types/gemm.h"

#if defined(__x86_64__)

void slm_kernels_avx2_q45k(slm_kernels *k) { (void)k; }

#endif
