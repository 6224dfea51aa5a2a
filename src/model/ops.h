/* ops.h - the element-wise steps of the forward pass (RMSNorm, SwiGLU),
 * shared out among the context's threads when the batch is big enough to
 * pay for the wake-up.  Each output element is computed the same way
 * whoever computes it, so the split never changes a bit. */
#ifndef SLM_MODEL_OPS_H
#define SLM_MODEL_OPS_H

#include <stdint.h>

#include "model/context.h"

/* y = x / sqrt(mean(x^2) + eps) * w for each of n tokens of `width` floats. */
void slm_op_rms_norm(slm_context *c, const float *x, const float *w, float eps, int64_t width, int32_t n, float *y);

/* gate = silu(gate) * up over `count` floats, silu(z) = z / (1 + e^-z), by
 * the kernel set's swiglu (its own exp, the same bits on every CPU). */
void slm_op_swiglu(slm_context *c, float *gate, const float *up, int64_t count);

#endif
