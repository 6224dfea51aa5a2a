/* bench/membw.c - the machine's memory read bandwidth with 1 and N threads
 * (N = physical cores, or the argument): `membw [N] [MiB]`. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/membw.h"
#include "runtime/cpu.h"

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : slm_cpu_physical_cores();
    long mib = argc > 2 ? atol(argv[2]) : 1024;
    if (n < 1 || mib < 1) {
        fprintf(stderr, "usage: membw [THREADS] [MiB]\n");
        return 2;
    }
    size_t bytes = (size_t)mib << 20;
    for (int t = 1; t <= n; t = t == n ? n + 1 : (t * 2 > n ? n : t * 2)) {
        double bw = slm_measure_read_bandwidth(t, bytes, 5);
        if (bw <= 0) {
            fprintf(stderr, "membw: cannot allocate %ld MiB\n", mib);
            return 1;
        }
        printf("read bandwidth, %d thread%s: %.2f GB/s\n", t, t > 1 ? "s" : "", bw / 1e9);
    }
    return 0;
}
