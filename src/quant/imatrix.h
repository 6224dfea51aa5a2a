/* imatrix.h - importance matrices: per weight matrix, the mean squared
 * value of each input channel over a calibration text.
 *
 * File format: llama.cpp's imatrix GGUF (general.type "imatrix"): for each
 * matrix NAME a tensor "NAME.in_sum2" F32 [n_in, n_mat] (sums of squared
 * activations) and "NAME.counts" F32 [1, n_mat] (how many rows were
 * summed), n_mat = 1 or the number of experts.  slm's extension
 * (`slm imatrix --covariance`): "NAME.in_cov" F32 [n_in, n_in], the sums of
 * x_i x_j over the same tokens (2-D matrices only); llama.cpp ignores it. */
#ifndef SLM_QUANT_IMATRIX_H
#define SLM_QUANT_IMATRIX_H

#include <stdint.h>

#include "slm.h"

typedef struct slm_imatrix slm_imatrix;

slm_status slm_imatrix_load(const char *path, slm_imatrix **out, slm_error *err);
void slm_imatrix_free(slm_imatrix *m);
uint64_t slm_imatrix_n_entries(const slm_imatrix *m);

/* The n_in importances (sum2 / count) of matrix `name` for expert `mat`
 * (0 for a 2-D matrix); NULL when the file has no entry of that size. */
const float *slm_imatrix_get(const slm_imatrix *m, const char *name, int64_t n_in, int64_t mat);

/* The n_in x n_in sums of x x^T (row-major, symmetric) of matrix `name`
 * and, in *count, the tokens summed; NULL when the file has none of that
 * size.  Points into the mapped file (valid until slm_imatrix_free). */
const float *slm_imatrix_cov(const slm_imatrix *m, const char *name, int64_t n_in, float *count);
/* Matrices with a covariance. */
uint64_t slm_imatrix_n_cov(const slm_imatrix *m);

#endif
