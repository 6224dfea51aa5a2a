/* membw.c - read bandwidth: threads sum their slice of a big buffer (eight
 * independent accumulators, so the loads, not the adds, are the limit). */
#include "cli/membw.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

typedef struct reader {
    const uint64_t *data;
    size_t n; /* words */
    uint64_t sink;
} reader;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *read_slice(void *p) {
    reader *r = p;
    uint64_t s[8] = {0};
    size_t i = 0;
    for (; i + 8 <= r->n; i += 8)
        for (int k = 0; k < 8; k++) s[k] += r->data[i + k];
    for (; i < r->n; i++) s[0] += r->data[i];
    r->sink = s[0] ^ s[1] ^ s[2] ^ s[3] ^ s[4] ^ s[5] ^ s[6] ^ s[7];
    return NULL;
}

/* One pass over the whole buffer with n threads (the wall time includes
 * starting them: microseconds against tens of milliseconds); bytes/s. */
static double one_pass(const uint64_t *data, size_t words, int n) {
    pthread_t tid[256];
    reader rd[256];
    for (int i = 0; i < n; i++) {
        size_t a = words * (size_t)i / (size_t)n, b = words * (size_t)(i + 1) / (size_t)n;
        rd[i] = (reader){.data = data + a, .n = b - a};
    }
    double t0 = now_s();
    int started = 1;
    for (; started < n; started++)
        if (pthread_create(&tid[started], NULL, read_slice, &rd[started]) != 0) break;
    read_slice(&rd[0]);
    for (int i = 1; i < started; i++) pthread_join(tid[i], NULL);
    for (int i = started; i < n; i++) read_slice(&rd[i]); /* a thread did not start: read its slice here */
    double seconds = now_s() - t0;
    uint64_t sink = 0;
    for (int i = 0; i < n; i++) sink ^= rd[i].sink;
    return seconds > 0 && sink != 1 ? (double)(words * 8) / seconds : 0; /* sink keeps the sums live */
}

double slm_measure_read_bandwidth(int n_threads, size_t bytes, int reps) {
    if (n_threads < 1) n_threads = 1;
    if (n_threads > 256) n_threads = 256;
    size_t words = bytes / 8;
    uint64_t *data = malloc(words * 8);
    if (!data) return 0;
    for (size_t i = 0; i < words; i++) data[i] = i * 0x9e3779b97f4a7c15u; /* touch every page */
    double best = 0;
    for (int r = 0; r < reps; r++) {
        double bw = one_pass(data, words, n_threads);
        if (bw > best) best = bw;
    }
    free(data);
    return best;
}
