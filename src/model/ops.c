/* ops.c - RMSNorm and SwiGLU for a batch (see ops.h). */
#include "model/ops.h"

#include <math.h>

/* Below this many floats the caller does the work alone. */
#define PARALLEL_MIN 8192

/* One token's RMSNorm; the sum of squares in double, as ggml does. */
static void rms_norm_row(const float *x, const float *w, float eps, int64_t width, float *y) {
    double sum = 0.0;
    for (int64_t i = 0; i < width; i++) sum += (double)(x[i] * x[i]);
    float scale = 1.0f / sqrtf((float)(sum / (double)width) + eps);
    for (int64_t i = 0; i < width; i++) y[i] = (x[i] * scale) * w[i];
}

typedef struct rms_norm_task {
    const float *x, *w;
    float eps;
    int64_t width;
    int32_t n;
    float *y;
} rms_norm_task;

static void rms_norm_part(void *arg, int ith, int nth) {
    const rms_norm_task *t = arg;
    for (int64_t i = (int64_t)t->n * ith / nth; i < (int64_t)t->n * (ith + 1) / nth; i++)
        rms_norm_row(t->x + i * t->width, t->w, t->eps, t->width, t->y + i * t->width);
}

void slm_op_rms_norm(slm_context *c, const float *x, const float *w, float eps, int64_t width, int32_t n, float *y) {
    rms_norm_task t = {x, w, eps, width, n, y};
    if (width * n < PARALLEL_MIN) rms_norm_part(&t, 0, 1);
    else slm_threadpool_run(c->pool, rms_norm_part, &t);
}

typedef struct swiglu_task {
    const slm_kernels *k;
    float *gate;
    const float *up;
    int64_t count;
} swiglu_task;

/* The kernel is element-wise, so any split gives the same bits. */
static void swiglu_part(void *arg, int ith, int nth) {
    const swiglu_task *t = arg;
    int64_t lo = t->count * ith / nth, hi = t->count * (ith + 1) / nth;
    t->k->swiglu(t->gate + lo, t->up + lo, hi - lo);
}

void slm_op_swiglu(slm_context *c, float *gate, const float *up, int64_t count) {
    swiglu_task t = {&c->kern, gate, up, count};
    if (count < PARALLEL_MIN) swiglu_part(&t, 0, 1);
    else slm_threadpool_run(c->pool, swiglu_part, &t);
}
