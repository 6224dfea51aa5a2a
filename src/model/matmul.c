/* matmul.c - y = W x for a batch of tokens.
 *
 * The activations are first converted to the weight type's activation
 * format (as ggml does, so results track llama.cpp), once per token, the
 * tokens shared out among the threads.  Then each thread takes a contiguous
 * range of weight rows and the kernel set's gemm walks it in tiles of rows x
 * tokens, so the weights are read once per batch.  An output element is
 * always one dot product in the kernel's fixed order (types/gemm.h), so
 * neither the batch size, the tiling nor the thread count changes a bit. */
#include <string.h>

#include "model/context.h"
#include "types/dot.h"
#include "types/gemm.h"
#include "types/types.h"

/* Rows are handed out in multiples of the widest tile, so that only the last
 * thread's range has a ragged edge. */
#define ROW_ALIGN 8

/* Below this many tokens per thread the caller converts alone: waking the
 * pool costs more than the conversion. */
#define CONVERT_PARALLEL_MIN 4

typedef struct matmul_task {
    slm_context *c;
    slm_gemm_args g;
    slm_gemm_fn gemm;
    int64_t n_tokens;
    const float *x;             /* the input, [n_tokens][n_in] */
    slm_act_convert_fn convert; /* NULL: the kernels read x as it is */
} matmul_task;

static void convert_tokens(void *arg, int ith, int nth) {
    const matmul_task *t = arg;
    int64_t n_in = t->g.n;
    for (int64_t i = t->n_tokens * ith / nth; i < t->n_tokens * (ith + 1) / nth; i++)
        t->convert(t->x + i * n_in, (uint8_t *)t->c->s.act + (uint64_t)i * t->g.a_stride, n_in);
}

static void matmul_rows(void *arg, int ith, int nth) {
    const matmul_task *t = arg;
    int64_t n_out = t->g.y_stride, tiles = (n_out + ROW_ALIGN - 1) / ROW_ALIGN;
    int64_t r0 = tiles * ith / nth * ROW_ALIGN, r1 = tiles * (ith + 1) / nth * ROW_ALIGN;
    if (r1 > n_out) r1 = n_out;
    if (r0 >= r1) return;
    slm_gemm_args g = t->g;
    g.row_buf = t->c->ts[ith].row;
    t->gemm(&g, r0, r1, 0, t->n_tokens);
}

void slm_matmul(slm_context *c, const slm_matrix *w, const float *x, int64_t n_tokens, float *y) {
    const slm_dot_traits *dt = slm_dot_traits_of(w->type);
    const slm_kernels *k = &c->kern;
    matmul_task t = {.c = c, .n_tokens = n_tokens, .x = x};
    t.g = (slm_gemm_args){.type = w->type, .w = w->data, .w_stride = w->row_bytes, .a = x,
                          .a_stride = (uint64_t)w->n_in * sizeof(float), .n = w->n_in, .y = y, .y_stride = w->n_out};
    if (c->opts.f32_activations) {
        t.gemm = k->gemm_f32_act;
    } else {
        t.gemm = k->gemm[w->type];
        if (dt->act_type != SLM_TYPE_F32) {
            t.convert = k->convert[dt->act_type];
            t.g.a = c->s.act;
            if (dt->act_type != SLM_TYPE_F16 && dt->act_type != SLM_TYPE_BF16)
                t.g.a_stride = slm_type_row_bytes(dt->act_type, w->n_in);
        }
    }
    if (t.convert) {
        int nth = slm_threadpool_n_threads(c->pool);
        if (n_tokens >= (int64_t)nth * CONVERT_PARALLEL_MIN) slm_threadpool_run(c->pool, convert_tokens, &t);
        else convert_tokens(&t, 0, 1);
    }
    slm_threadpool_run(c->pool, matmul_rows, &t);
}
