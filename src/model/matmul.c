/* matmul.c - y = W x for a batch of tokens.
 *
 * The activations are first converted to the weight type's activation
 * format (as ggml does, so results track llama.cpp), once per token.  Then
 * each thread takes a contiguous range of weight rows and, for each row,
 * dots it with every token: the weights are read once per batch.  An output
 * element is always one dot product in the kernel's fixed order, so neither
 * the batch size nor the thread count changes a single bit. */
#include <string.h>

#include "model/context.h"
#include "types/dot.h"
#include "types/quantize_act.h"
#include "types/types.h"

typedef struct matmul_task {
    slm_context *c;
    const slm_matrix *w;
    int64_t n_tokens;
    const float *xf;   /* float path: activations (rounded when the type asks) */
    const uint8_t *xq; /* quantized path: converted activations */
    uint64_t xq_row_bytes;
    slm_vec_dot_fn vec_dot;
    float *y;
} matmul_task;

static void matmul_rows(void *arg, int ith, int nth) {
    const matmul_task *t = arg;
    const slm_matrix *w = t->w;
    int64_t r0 = w->n_out * ith / nth, r1 = w->n_out * (ith + 1) / nth;
    slm_to_float_fn to_float = slm_type_traits_of(w->type)->to_float;
    float *buf = t->c->ts[ith].row;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *wrow = w->data + (uint64_t)r * w->row_bytes;
        if (t->vec_dot) {
            for (int64_t i = 0; i < t->n_tokens; i++)
                t->y[i * w->n_out + r] = t->vec_dot(wrow, t->xq + (uint64_t)i * t->xq_row_bytes, w->n_in);
            continue;
        }
        const float *row = (const float *)(const void *)wrow;
        if (w->type != SLM_TYPE_F32) { /* dequantize the row once for all tokens */
            to_float(wrow, buf, w->n_in);
            row = buf;
        }
        for (int64_t i = 0; i < t->n_tokens; i++)
            t->y[i * w->n_out + r] = slm_dot_f32(row, t->xf + i * w->n_in, w->n_in);
    }
}

void slm_matmul(slm_context *c, const slm_matrix *w, const float *x, int64_t n_tokens, float *y) {
    const slm_dot_traits *dt = slm_dot_traits_of(w->type);
    matmul_task t = {.c = c, .w = w, .n_tokens = n_tokens, .xf = x, .y = y};
    int64_t n = n_tokens * w->n_in;
    if (c->opts.f32_activations || dt->act_type == SLM_TYPE_F32) {
        /* plain float dot products */
    } else if (dt->act_type == SLM_TYPE_F16) {
        slm_round_act_f16(x, c->s.act, n);
        t.xf = c->s.act;
    } else if (dt->act_type == SLM_TYPE_BF16) {
        slm_round_act_bf16(x, c->s.act, n);
        t.xf = c->s.act;
    } else {
        t.xq_row_bytes = slm_type_row_bytes(dt->act_type, w->n_in);
        for (int64_t i = 0; i < n_tokens; i++)
            dt->quantize(x + i * w->n_in, (uint8_t *)c->s.act + (uint64_t)i * t.xq_row_bytes, w->n_in);
        t.xq = c->s.act;
        t.vec_dot = dt->vec_dot;
    }
    slm_threadpool_run(c->pool, matmul_rows, &t);
}
