/* simd_avx2_q23k_iq4.c - placeholder registration; the kernels land here. */
#include "types/gemm.h"

#if defined(__x86_64__)

void slm_kernels_avx2_q23k_iq4(slm_kernels *k) { (void)k; }

#endif
