/* forward.c - the transformer forward pass (Llama-style decoder).
 *
 *   x = embed(tokens)
 *   for each layer:
 *       h = rms_norm(x) * attn_norm
 *       q, k, v = Wq h (+bq), Wk h (+bk), Wv h (+bv)
 *       rope(q), rope(k); append k, v to the KV cache
 *       x += Wo attention(q, cached k, cached v)        (+bo)
 *       h = rms_norm(x) * ffn_norm
 *       x += W_down (silu(W_gate h) * W_up h)
 *   logits = W_out (rms_norm(x) * output_norm)
 *
 * All activations are [token][width] arrays for the tokens of the batch.
 * In the last layer, once its keys and values are cached, only the tokens
 * that want logits go on: the others' x is never read again. */
#include <string.h>

#include "model/attention.h"
#include "model/context.h"
#include "model/ops.h"
#include "model/rope.h"
#include "types/types.h"

/* Row id of the token embedding matrix, dequantized exactly. */
static void embed(const slm_model *m, const slm_token *tokens, int32_t n, float *x) {
    const slm_matrix *e = &m->tok_embd;
    slm_to_float_fn to_float = slm_type_traits_of(e->type)->to_float;
    for (int32_t i = 0; i < n; i++)
        to_float(e->data + (uint64_t)tokens[i] * e->row_bytes, x + (int64_t)i * e->n_in, e->n_in);
}

static void add_bias(float *y, const float *b, int64_t width, int32_t n) {
    if (!b) return;
    for (int32_t t = 0; t < n; t++, y += width)
        for (int64_t i = 0; i < width; i++) y[i] += b[i];
}

static void add_residual(float *x, const float *d, int64_t count) {
    for (int64_t i = 0; i < count; i++) x[i] += d[i];
}

static void rope_all(const slm_context *c, float *x, int64_t n_heads, int64_t head_dim, int32_t n) {
    const slm_hparams *hp = &c->model->hp;
    int64_t half = hp->n_rot / 2;
    for (int32_t t = 0; t < n; t++)
        slm_rope_apply(x + t * n_heads * head_dim, n_heads, head_dim, hp->n_rot, c->model->arch->rope,
                       c->s.rope_cos + t * half, c->s.rope_sin + t * half);
}

/* ---- the KV cache (attention itself: attention.c) ------------------------- */

static void kv_append(slm_context *c, int64_t layer, int32_t n, const int32_t *pos, const int32_t *seq) {
    for (int32_t t = 0; t < n; t++) {
        slm_kv_store_k(&c->kv, layer, seq[t], pos[t], c->s.k + t * c->kv.k_width);
        slm_kv_store_v(&c->kv, layer, seq[t], pos[t], c->s.v + t * c->kv.v_width);
    }
}

/* ---- the block ------------------------------------------------------------ */

/* Moves the rows (width floats each) of the tokens that want logits
 * (out_row[t] >= 0) to the front, in token order; returns how many. */
static int32_t front_rows(float *rows, int64_t width, int32_t n, const int32_t *out_row) {
    int32_t k = 0;
    for (int32_t t = 0; t < n; t++)
        if (out_row[t] >= 0) memmove(rows + k++ * width, rows + t * width, (size_t)width * sizeof(float));
    return k;
}

/* The last layer's q and x rows of the tokens that want logits, moved to
 * the front with their positions; returns how many. */
static int32_t keep_output_rows(slm_context *c, int32_t n, const int32_t *out_row, const int32_t *pos,
                                const int32_t *seq, int32_t *kept_pos, int32_t *kept_seq) {
    const slm_hparams *hp = &c->model->hp;
    front_rows(c->s.q, hp->n_head * hp->head_dim, n, out_row);
    int32_t k = 0;
    for (int32_t t = 0; t < n; t++) {
        if (out_row[t] < 0) continue;
        kept_pos[k] = pos[t];
        kept_seq[k++] = seq[t];
    }
    front_rows(c->s.x, hp->n_embd, n, out_row);
    return k;
}

/* One layer for n tokens; with out_row (the last layer), only the tokens
 * that want logits go past the KV cache, to the front rows of x.  Returns
 * how many rows of x went through the whole layer. */
static int32_t transformer_block(slm_context *c, const slm_layer *L, int64_t il, int32_t n, const int32_t *pos,
                                 const int32_t *seq, const int32_t *out_row) {
    const slm_hparams *hp = &c->model->hp;
    slm_scratch *s = &c->s;
    int64_t n_embd = hp->n_embd;

    slm_op_rms_norm(c, s->x, L->attn_norm, hp->norm_eps, n_embd, n, s->xn);
    slm_matmul_shared(c, 3, (const slm_matrix *[]){&L->wq, &L->wk, &L->wv}, s->xn, n, (float *[]){s->q, s->k, s->v});
    add_bias(s->q, L->bq, L->wq.n_out, n);
    add_bias(s->k, L->bk, L->wk.n_out, n);
    add_bias(s->v, L->bv, L->wv.n_out, n);
    rope_all(c, s->q, hp->n_head, hp->head_dim, n);
    rope_all(c, s->k, hp->n_head_kv, hp->head_dim, n);
    kv_append(c, il, n, pos, seq);
    int32_t kept_pos[SLM_UBATCH], kept_seq[SLM_UBATCH];
    if (out_row) {
        n = keep_output_rows(c, n, out_row, pos, seq, kept_pos, kept_seq);
        pos = kept_pos;
        seq = kept_seq;
        if (n == 0) return 0;
    }
    slm_attention(c, il, n, pos, seq);
    slm_matmul(c, &L->wo, s->att, n, s->tmp);
    add_bias(s->tmp, L->bo, n_embd, n);
    add_residual(s->x, s->tmp, n * n_embd);

    slm_op_rms_norm(c, s->x, L->ffn_norm, hp->norm_eps, n_embd, n, s->xn);
    slm_matmul_shared(c, 2, (const slm_matrix *[]){&L->ffn_gate, &L->ffn_up}, s->xn, n, (float *[]){s->gate, s->up});
    slm_op_swiglu(c, s->gate, s->up, n * hp->n_ff);
    slm_matmul(c, &L->ffn_down, s->gate, n, s->tmp);
    add_residual(s->x, s->tmp, n * n_embd);
    return n;
}

void slm_forward(slm_context *c, int32_t n, const slm_token *tokens, const int32_t *pos, const int32_t *seq,
                 const int32_t *out_row, float *out) {
    const slm_model *m = c->model;
    const slm_hparams *hp = &m->hp;
    slm_scratch *s = &c->s;
    int64_t half = hp->n_rot / 2;

    embed(m, tokens, n, s->x);
    for (int32_t t = 0; t < n; t++)
        slm_rope_angles(pos[t], hp->n_rot, hp->rope_base, hp->rope_freq_scale, m->rope_freqs, s->rope_cos + t * half,
                        s->rope_sin + t * half);
    /* an observer (imatrix) sees every token of every matrix: no skipping then */
    const int32_t *skip_by = c->opts.observe ? NULL : out_row;
    int32_t n_kept = n;
    for (int64_t il = 0; il < hp->n_layer; il++)
        n_kept = transformer_block(c, &m->layers[il], il, n, pos, seq, il == hp->n_layer - 1 ? skip_by : NULL);

    /* logits for the tokens that asked for them, in token order: the front
     * rows of x, where the last layer left them unless it kept all */
    int32_t n_out = skip_by ? n_kept : front_rows(s->x, hp->n_embd, n, out_row);
    if (n_out == 0) return;
    slm_op_rms_norm(c, s->x, m->output_norm, hp->norm_eps, hp->n_embd, n_out, s->out_in);
    slm_matmul(c, &m->output, s->out_in, n_out, out);
}
