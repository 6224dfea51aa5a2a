/* membw.h - the machine's memory read bandwidth, measured (for `slm bench`'s
 * roofline and bench/membw). */
#ifndef SLM_CLI_MEMBW_H
#define SLM_CLI_MEMBW_H

#include <stddef.h>

/* Best-of-reps read bandwidth in bytes/s with n_threads threads, each
 * reading its share of a buffer of `bytes` (far larger than the caches).
 * 0 when the buffer or the threads cannot be had. */
double slm_measure_read_bandwidth(int n_threads, size_t bytes, int reps);

#endif
