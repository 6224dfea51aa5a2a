/* cpu.h - what the processor can do: the instruction-set extensions the
 * kernels dispatch on, and the number of physical cores (the default thread
 * count).  Probed when asked (a context asks once, when it is created). */
#ifndef SLM_RUNTIME_CPU_H
#define SLM_RUNTIME_CPU_H

enum {
    SLM_CPU_AVX2 = 1 << 0, /* x86-64: AVX2 with the OS saving YMM state */
    SLM_CPU_FMA = 1 << 1,
    SLM_CPU_F16C = 1 << 2,
    SLM_CPU_NEON = 1 << 3,    /* aarch64: always */
    SLM_CPU_DOTPROD = 1 << 4, /* aarch64: SDOT/UDOT */
};

/* Bit set of SLM_CPU_* flags. */
unsigned slm_cpu_features(void);

/* "avx2 fma f16c", "neon dotprod" or "none" for a feature set. */
const char *slm_cpu_features_name(unsigned features, char *buf, int size);

/* Physical cores (hyperthreads of one core count once); at least 1. */
int slm_cpu_physical_cores(void);

#endif
