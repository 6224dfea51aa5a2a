/* imatrix_collect.h - gathering importance matrices: for every weight matrix
 * the forward pass multiplies, the sum over tokens of each input channel's
 * squared activation, and how many tokens were summed.  Written in the
 * imatrix GGUF layout that imatrix.h loads (llama.cpp's).
 *
 * Use: create a collector, pass slm_imatrix_observe and the collector as
 * the context's observe hook (model/context.h), decode a calibration text,
 * then write. */
#ifndef SLM_QUANT_IMATRIX_COLLECT_H
#define SLM_QUANT_IMATRIX_COLLECT_H

#include <stdint.h>

#include "slm.h"

typedef struct slm_imatrix_collector slm_imatrix_collector;

slm_status slm_imatrix_collector_new(slm_imatrix_collector **out, slm_error *err);

/* Also accumulate, for every matrix input of at most max_n_in channels, the
 * full n_in x n_in sum of x x^T (what `slm quantize --gptq` needs), written
 * as "NAME.in_cov" F32 [n_in, n_in] next to NAME.in_sum2.  Wider inputs get
 * only the diagonal (counted by slm_imatrix_collector_n_skipped_cov).
 * Memory while collecting: n_in^2 doubles per matrix.  The sums are added
 * by n_threads threads of the collector's own (the same sums for any
 * count).  Call before the first observation. */
#define SLM_IMATRIX_COV_MAX_N_IN 4096 /* 64 MiB as F32 */
slm_status slm_imatrix_collector_set_covariance(slm_imatrix_collector *c, int64_t max_n_in, int n_threads,
                                               slm_error *err);
uint64_t slm_imatrix_collector_n_skipped_cov(const slm_imatrix_collector *c);
void slm_imatrix_collector_free(slm_imatrix_collector *c);

/* The observe hook: adds x ([n_tokens][n_in]) to the statistics of matrix
 * `name`.  A matrix seen again with another width, or an allocation
 * failure, is remembered and reported by slm_imatrix_collector_write. */
void slm_imatrix_observe(void *collector, const char *name, const float *x, int64_t n_in, int64_t n_tokens);

/* Matrices seen so far. */
uint64_t slm_imatrix_collector_n_entries(const slm_imatrix_collector *c);
/* The running sums of matrix `name` (n_in of them) and its token count;
 * NULL when the matrix was not seen. */
const double *slm_imatrix_collector_sums(const slm_imatrix_collector *c, const char *name, int64_t *n_in,
                                         int64_t *count);

/* The upper triangle (row-major n_in x n_in, i <= j) of the running sum of
 * x x^T of matrix `name`; NULL when not collected. */
const double *slm_imatrix_collector_cov(const slm_imatrix_collector *c, const char *name);

/* Metadata stored with the statistics (llama.cpp's keys). */
typedef struct slm_imatrix_info {
    const char *dataset;  /* the calibration text's name, or NULL */
    uint32_t chunk_count, chunk_size;
} slm_imatrix_info;

/* Writes the file (a temporary file renamed into place). */
slm_status slm_imatrix_collector_write(const slm_imatrix_collector *c, const char *path,
                                       const slm_imatrix_info *info, slm_error *err);

#endif
