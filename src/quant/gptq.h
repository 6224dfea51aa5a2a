/* gptq.h - rounding with error feedback (the GPTQ idea, Frantar et al.
 * 2022), used by `slm quantize --gptq`.
 *
 * A matrix row w is used as y = w . x.  With H = E[x x^T] over a
 * calibration text (`slm imatrix --covariance`), the expected squared
 * output error of a rounded row q is (w - q)^T H (w - q).  Rounding the
 * columns one at a time and moving each column's rounding error onto the
 * columns not yet rounded, in proportions given by H^-1, lowers that error
 * far below rounding every column alone when the inputs are correlated.
 * With U the upper Cholesky factor of H^-1 (H^-1 = U^T U), after rounding
 * column j:   e = (w_j - q_j) / U_jj,   w_k -= e * U_jk  for all k > j.
 *
 * The block formats keep their scales: when the walk reaches a block, its
 * scales are chosen as without --gptq (slm_quantize_row, with the imatrix
 * importances) from the block's current, already corrected, weights; then
 * its columns are rounded one by one on that fixed grid with the feedback
 * above (quant_rows.h, slm_qgrid).  Rows are independent, so the result
 * does not depend on the thread count. */
#ifndef SLM_QUANT_GPTQ_H
#define SLM_QUANT_GPTQ_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/threadpool.h"
#include "slm.h"

/* Damping added to H's diagonal, as a fraction of its mean diagonal
 * (keeps H invertible and the corrections moderate). */
#define SLM_GPTQ_DAMP 0.01f

/* True for the types whose blocks slm can round with feedback. */
bool slm_gptq_supports(slm_type t);

/* U (n x n floats, row-major, upper triangle; lower part zero) from the
 * sums of x x^T over `count` tokens (imatrix.h, slm_imatrix_cov).  col: the
 * per-column multipliers applied to the weights before rounding (AWQ), or
 * NULL; the inputs are then divided by them.  Channels that never carried
 * any signal are decoupled.  pool: worker threads, or NULL (same result
 * either way).  *out is malloc'ed; free() it. */
slm_status slm_gptq_factor(const float *cov_sums, float count, int64_t n, const float *col, float damp,
                           slm_threadpool *pool, float **out, slm_error *err);

/* Quantizes row x (n floats; overwritten with the corrected weights) into
 * dst as type t (slm_gptq_supports(t)), with column importances imatrix
 * (n floats or NULL) for the block scales. */
void slm_gptq_row(slm_type t, float *x, int64_t n, const float *U, const float *imatrix, void *dst);

#endif
