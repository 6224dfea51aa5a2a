/* matmul.c - y = W x for a batch of tokens.
 *
 * The activations are first converted to the weight type's activation
 * format (as ggml does, so results track llama.cpp), once per token, the
 * tokens shared out among the threads.  Then each thread takes a contiguous
 * range of weight rows and the kernel set's gemm walks it in tiles of rows x
 * tokens, so the weights are read once per batch.  An output element is
 * always one dot product in the kernel's fixed order (types/gemm.h), so
 * neither the batch size, the tiling nor the thread count changes a bit.
 *
 * Matrices that read the same input (q, k and v; gate and up) go through
 * together: one conversion, one dispatch of all their row tiles, so a token
 * costs fewer conversions and fewer waits for the slowest thread. */
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

/* Matrices that read the same input in one pass (q, k, v; gate, up). */
#define MAX_SHARED 3

typedef struct matmul_task {
    slm_context *c;
    int n_mats;
    slm_gemm_args g[MAX_SHARED];
    slm_gemm_fn gemm[MAX_SHARED];
    int64_t n_tokens;
    const float *x;             /* the input, [n_tokens][n_in] */
    slm_act_convert_fn convert; /* NULL: the kernels read x as it is */
} matmul_task;

static void convert_tokens(void *arg, int ith, int nth) {
    const matmul_task *t = arg;
    int64_t n_in = t->g[0].n;
    for (int64_t i = t->n_tokens * ith / nth; i < t->n_tokens * (ith + 1) / nth; i++)
        t->convert(t->x + i * n_in, (uint8_t *)t->c->s.act + (uint64_t)i * t->g[0].a_stride, n_in);
}

static int64_t row_tiles(const slm_gemm_args *g) { return (g->y_stride + ROW_ALIGN - 1) / ROW_ALIGN; }

/* The row tiles of all matrices, one after the other, split evenly. */
static void matmul_rows(void *arg, int ith, int nth) {
    const matmul_task *t = arg;
    int64_t total = 0;
    for (int m = 0; m < t->n_mats; m++) total += row_tiles(&t->g[m]);
    int64_t lo = total * ith / nth, hi = total * (ith + 1) / nth, first = 0;
    for (int m = 0; m < t->n_mats && first < hi; first += row_tiles(&t->g[m]), m++) {
        int64_t n_out = t->g[m].y_stride;
        int64_t r0 = (lo > first ? lo - first : 0) * ROW_ALIGN, r1 = (hi - first) * ROW_ALIGN;
        if (r1 > n_out) r1 = n_out;
        if (r0 >= r1) continue;
        slm_gemm_args g = t->g[m];
        g.row_buf = t->c->ts[ith].row;
        t->gemm[m](&g, r0, r1, 0, t->n_tokens);
    }
}

/* The kernel and arguments for W, and the conversion its activations need. */
static void prepare(slm_context *c, const slm_matrix *w, matmul_task *t, int m, float *y) {
    const slm_dot_traits *dt = slm_dot_traits_of(w->type);
    const slm_kernels *k = &c->kern;
    slm_gemm_args *g = &t->g[m];
    *g = (slm_gemm_args){.type = w->type, .w = w->data, .w_stride = w->row_bytes, .a = t->x,
                         .a_stride = (uint64_t)w->n_in * sizeof(float), .n = w->n_in, .y = y, .y_stride = w->n_out};
    t->convert = NULL;
    if (c->opts.f32_activations) {
        t->gemm[m] = k->gemm_f32_act;
        return;
    }
    t->gemm[m] = k->gemm[w->type];
    if (dt->act_type == SLM_TYPE_F32) return;
    t->convert = k->convert[dt->act_type];
    g->a = c->s.act;
    if (dt->act_type != SLM_TYPE_F16 && dt->act_type != SLM_TYPE_BF16)
        g->a_stride = slm_type_row_bytes(dt->act_type, w->n_in);
}

static void run(slm_context *c, matmul_task *t) {
    if (t->convert) {
        int nth = slm_threadpool_n_threads(c->pool);
        if (t->n_tokens >= (int64_t)nth * CONVERT_PARALLEL_MIN) slm_threadpool_run(c->pool, convert_tokens, t);
        else convert_tokens(t, 0, 1);
    }
    slm_threadpool_run(c->pool, matmul_rows, t);
}

void slm_matmul(slm_context *c, const slm_matrix *w, const float *x, int64_t n_tokens, float *y) {
    if (c->opts.observe) c->opts.observe(c->opts.observe_user, w->name, x, w->n_in, n_tokens);
    matmul_task t = {.c = c, .n_mats = 1, .n_tokens = n_tokens, .x = x};
    prepare(c, w, &t, 0, y);
    run(c, &t);
}

void slm_matmul_shared(slm_context *c, int n_mats, const slm_matrix *const *w, const float *x, int64_t n_tokens,
                       float *const *y) {
    matmul_task t = {.c = c, .n_mats = n_mats, .n_tokens = n_tokens, .x = x};
    slm_act_convert_fn convert = NULL;
    bool shared = n_mats <= MAX_SHARED && !c->opts.observe; /* observers see each matrix by name */
    for (int m = 0; shared && m < n_mats; m++) {
        prepare(c, w[m], &t, m, y[m]);
        if (m == 0) convert = t.convert;
        /* one conversion serves all only when they all want the same one */
        shared = t.convert == convert && t.g[m].a_stride == t.g[0].a_stride && t.g[m].n == t.g[0].n;
    }
    if (!shared) {
        for (int m = 0; m < n_mats; m++) slm_matmul(c, w[m], x, n_tokens, y[m]);
        return;
    }
    run(c, &t);
}
