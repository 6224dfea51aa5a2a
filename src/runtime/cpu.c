/* cpu.c - feature detection with cpuid (x86-64) or the auxiliary vector
 * (aarch64 Linux), and physical cores from sysfs topology. */
#include "runtime/cpu.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "runtime/threadpool.h"

#if defined(__x86_64__)
#include <cpuid.h>

/* XCR0 bits 1 and 2: the OS saves SSE and AVX (YMM) state on context switch. */
static int os_saves_ymm(void) {
    unsigned lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (lo & 6) == 6;
}

unsigned slm_cpu_features(void) {
    unsigned a = 0, b = 0, c = 0, d = 0, f = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    if (!osxsave || !avx || !os_saves_ymm()) return 0;
    if ((c >> 12) & 1) f |= SLM_CPU_FMA;
    if ((c >> 29) & 1) f |= SLM_CPU_F16C;
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d) && ((b >> 5) & 1)) f |= SLM_CPU_AVX2;
    return f;
}
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif

unsigned slm_cpu_features(void) {
    unsigned f = SLM_CPU_NEON;
    if (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) f |= SLM_CPU_DOTPROD;
    return f;
}
#elif defined(__aarch64__)
unsigned slm_cpu_features(void) { return SLM_CPU_NEON; }
#else
unsigned slm_cpu_features(void) { return 0; }
#endif

const char *slm_cpu_features_name(unsigned features, char *buf, int size) {
    static const struct {
        unsigned bit;
        const char *name;
    } NAMES[] = {{SLM_CPU_AVX2, "avx2"}, {SLM_CPU_FMA, "fma"}, {SLM_CPU_F16C, "f16c"},
                 {SLM_CPU_NEON, "neon"}, {SLM_CPU_DOTPROD, "dotprod"}};
    int len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof NAMES / sizeof NAMES[0]; i++)
        if ((features & NAMES[i].bit) && len < size)
            len += snprintf(buf + len, (size_t)(size - len), "%s%s", len ? " " : "", NAMES[i].name);
    if (!len) snprintf(buf, (size_t)size, "none");
    return buf;
}

/* Reads one integer from a sysfs file; -1 when absent. */
static long read_long(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long v = -1;
    if (fscanf(f, "%ld", &v) != 1) v = -1;
    fclose(f);
    return v;
}

int slm_cpu_physical_cores(void) {
    enum { MAX = 1024 };
    static const char *const BASE = "/sys/devices/system/cpu/cpu";
    long seen[MAX];
    int n_seen = 0, n_cpu = slm_cpu_count();
    for (int cpu = 0; cpu < MAX && n_seen < MAX; cpu++) {
        char path[128];
        snprintf(path, sizeof path, "%s%d/topology/core_id", BASE, cpu);
        long core = read_long(path);
        if (core < 0) {
            if (cpu >= n_cpu) break;
            continue;
        }
        snprintf(path, sizeof path, "%s%d/topology/physical_package_id", BASE, cpu);
        long key = read_long(path) * 1000003L + core;
        int dup = 0;
        for (int i = 0; i < n_seen && !dup; i++) dup = seen[i] == key;
        if (!dup) seen[n_seen++] = key;
    }
    return n_seen > 0 && n_seen <= n_cpu ? n_seen : n_cpu;
}
