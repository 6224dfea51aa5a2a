/* model_load.c - GGUF metadata -> hyperparameters, tensor names -> weights.
 *
 * Every hyperparameter comes from the file's "<arch>." keys (with llama.cpp's
 * defaults for the optional ones), and every tensor is checked for presence,
 * type and exact shape before the model is handed out. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "runtime/error.h"
#include "types/dot.h"
#include "types/types.h"

#define MAX_DIM ((int64_t)1 << 24)

/* ---- metadata ------------------------------------------------------------ */

static slm_status arch_int(const slm_model *m, const char *suffix, bool required, int64_t dflt,
                           int64_t *out, slm_error *err) {
    char key[256];
    snprintf(key, sizeof key, "%s.%s", m->arch->name, suffix);
    if (!slm_gguf_get(m->gguf, key)) {
        if (required) return slm_fail(err, SLM_E_NOT_FOUND, "%s: required key '%s' is missing",
                                      slm_gguf_path(m->gguf), key);
        *out = dflt;
        return SLM_OK;
    }
    slm_status s = slm_gguf_get_int(m->gguf, key, out, err);
    if (s) return s;
    if (*out < (required ? 1 : 0) || *out > MAX_DIM)
        return slm_fail(err, SLM_E_FORMAT, "%s: key '%s' has value %" PRId64 ", out of range",
                        slm_gguf_path(m->gguf), key, *out);
    return SLM_OK;
}

static slm_status arch_float(const slm_model *m, const char *suffix, double dflt, double *out,
                             slm_error *err) {
    char key[256];
    snprintf(key, sizeof key, "%s.%s", m->arch->name, suffix);
    if (!slm_gguf_get(m->gguf, key)) {
        *out = dflt;
        return SLM_OK;
    }
    slm_status s = slm_gguf_get_float(m->gguf, key, out, err);
    if (s) return s;
    if (!isfinite(*out))
        return slm_fail(err, SLM_E_FORMAT, "%s: key '%s' is not a finite number", slm_gguf_path(m->gguf), key);
    return SLM_OK;
}

/* rope.scaling.type "linear" (+ rope.scaling.factor) or the older
 * rope.scale_linear: positions are divided by the factor. */
static slm_status load_rope_scaling(slm_model *m, slm_error *err) {
    const char *path = slm_gguf_path(m->gguf);
    char key[256];
    double factor = 1.0;
    snprintf(key, sizeof key, "%s.rope.scaling.type", m->arch->name);
    if (slm_gguf_get(m->gguf, key)) {
        slm_str type;
        slm_status s = slm_gguf_get_str(m->gguf, key, &type, err);
        if (s) return s;
        if (slm_str_eq(type, "linear")) {
            s = arch_float(m, "rope.scaling.factor", 1.0, &factor, err);
            if (s) return s;
        } else if (!slm_str_eq(type, "none")) {
            return slm_fail(err, SLM_E_UNSUPPORTED, "%s: key '%s' is '%.*s'; slm supports only linear RoPE scaling",
                            path, key, (int)type.len, type.ptr);
        }
    } else {
        slm_status s = arch_float(m, "rope.scale_linear", 1.0, &factor, err);
        if (s) return s;
    }
    if (factor == 0.0) factor = 1.0; /* llama.cpp treats 0 as "not set" */
    if (factor < 0.0)
        return slm_fail(err, SLM_E_FORMAT, "%s: RoPE scaling factor %g is negative", path, factor);
    m->hp.rope_freq_scale = (float)(1.0 / factor);
    return SLM_OK;
}

static slm_status load_hparams(slm_model *m, slm_error *err) {
    slm_hparams *hp = &m->hp;
    const char *path = slm_gguf_path(m->gguf);
    slm_status s;
    if ((s = arch_int(m, "embedding_length", true, 0, &hp->n_embd, err))) return s;
    if ((s = arch_int(m, "block_count", true, 0, &hp->n_layer, err))) return s;
    if ((s = arch_int(m, "feed_forward_length", true, 0, &hp->n_ff, err))) return s;
    if ((s = arch_int(m, "attention.head_count", true, 0, &hp->n_head, err))) return s;
    if ((s = arch_int(m, "attention.head_count_kv", false, hp->n_head, &hp->n_head_kv, err))) return s;
    if ((s = arch_int(m, "context_length", false, 2048, &hp->n_ctx_train, err))) return s;
    if (hp->n_head_kv < 1 || hp->n_head % hp->n_head_kv != 0)
        return slm_fail(err, SLM_E_FORMAT, "%s: %" PRId64 " attention heads cannot share %" PRId64 " KV heads",
                        path, hp->n_head, hp->n_head_kv);

    int64_t dflt_hd = hp->n_embd % hp->n_head == 0 ? hp->n_embd / hp->n_head : 0;
    if ((s = arch_int(m, "attention.key_length", false, dflt_hd, &hp->head_dim, err))) return s;
    if (hp->head_dim == 0)
        return slm_fail(err, SLM_E_FORMAT, "%s: n_embd %" PRId64 " is not a multiple of n_head %" PRId64
                        " and attention.key_length is missing", path, hp->n_embd, hp->n_head);
    if ((s = arch_int(m, "attention.value_length", false, hp->head_dim, &hp->head_dim_v, err))) return s;
    if ((s = arch_int(m, "rope.dimension_count", false, hp->head_dim, &hp->n_rot, err))) return s;
    if (hp->n_rot % 2 != 0 || hp->n_rot > hp->head_dim)
        return slm_fail(err, SLM_E_FORMAT, "%s: rope.dimension_count %" PRId64 " must be even and at most head_dim %"
                        PRId64, path, hp->n_rot, hp->head_dim);

    double v;
    if ((s = arch_float(m, "rope.freq_base", 10000.0, &v, err))) return s;
    hp->rope_base = (float)v;
    if ((s = arch_float(m, "attention.layer_norm_rms_epsilon", 1e-5, &v, err))) return s;
    hp->norm_eps = (float)v;
    return load_rope_scaling(m, err);
}

/* ---- tensors ------------------------------------------------------------- */

static void format_shape(char *buf, size_t cap, const int64_t *ne, int n) {
    size_t k = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < n && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%" PRId64, i ? ", " : "", ne[i]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
}

/* Finds a tensor and checks its exact shape (ne, GGUF order).  *out = NULL
 * when an optional tensor is absent. */
static slm_status find_tensor(const slm_model *m, const char *name, bool required, int n_dims,
                              int64_t ne0, int64_t ne1, const slm_gguf_tensor **out, slm_error *err) {
    const char *path = slm_gguf_path(m->gguf);
    const slm_gguf_tensor *t = slm_gguf_find_tensor(m->gguf, name);
    *out = NULL;
    if (!t) {
        if (!required) return SLM_OK;
        return slm_fail(err, SLM_E_NOT_FOUND, "%s: tensor '%s' is missing (architecture %s)", path, name,
                        m->arch->name);
    }
    int64_t want[4] = {ne0, n_dims > 1 ? ne1 : 1, 1, 1};
    if (memcmp(want, t->ne, sizeof want) != 0) {
        char got_s[96], want_s[96];
        format_shape(got_s, sizeof got_s, t->ne, (int)t->n_dims);
        format_shape(want_s, sizeof want_s, want, n_dims);
        return slm_fail(err, SLM_E_FORMAT, "%s: tensor '%s' has shape %s, expected %s", path, name, got_s, want_s);
    }
    *out = t;
    return SLM_OK;
}

static slm_status uncomputable(const slm_model *m, const slm_gguf_tensor *t, slm_error *err) {
    return slm_fail(err, SLM_E_UNSUPPORTED, "%s: tensor '%s' has type %s, which slm cannot compute yet",
                    slm_gguf_path(m->gguf), t->name, slm_type_name(t->type));
}

/* A norm weight or bias: F32, [n]. */
static slm_status load_vector(const slm_model *m, const char *name, bool required, int64_t n,
                              const float **out, slm_error *err) {
    const slm_gguf_tensor *t;
    slm_status s = find_tensor(m, name, required, 1, n, 1, &t, err);
    *out = NULL;
    if (s || !t) return s;
    if (t->type != SLM_TYPE_F32)
        return slm_fail(err, SLM_E_UNSUPPORTED, "%s: tensor '%s' has type %s, expected F32",
                        slm_gguf_path(m->gguf), name, slm_type_name(t->type));
    if ((uintptr_t)t->data % sizeof(float) != 0)
        return slm_fail(err, SLM_E_FORMAT, "%s: tensor '%s' at offset %" PRIu64 " is not 4-byte aligned",
                        slm_gguf_path(m->gguf), name, t->file_offset);
    *out = t->data;
    return SLM_OK;
}

/* A matrix of n_out rows of n_in.  for_matmul: it must have a dot kernel
 * (otherwise only dequantized rows are read, as for token_embd). */
static slm_status load_matrix(const slm_model *m, const char *name, bool required, int64_t n_in,
                              int64_t n_out, bool for_matmul, slm_matrix *out, slm_error *err) {
    const slm_gguf_tensor *t;
    memset(out, 0, sizeof *out);
    slm_status s = find_tensor(m, name, required, 2, n_in, n_out, &t, err);
    if (s || !t) return s;
    if (!slm_type_computable(t->type) || (for_matmul && !slm_dot_traits_of(t->type))) return uncomputable(m, t, err);
    uint64_t row_bytes = slm_type_row_bytes(t->type, n_in);
    if (row_bytes == 0)
        return slm_fail(err, SLM_E_FORMAT, "%s: tensor '%s' has rows of %" PRId64 " elements, not a multiple of the %s block size %u",
                        slm_gguf_path(m->gguf), name, n_in, slm_type_name(t->type), slm_type_block_size(t->type));
    if (t->type == SLM_TYPE_F32 && (uintptr_t)t->data % sizeof(float) != 0)
        return slm_fail(err, SLM_E_FORMAT, "%s: tensor '%s' at offset %" PRIu64 " is not 4-byte aligned",
                        slm_gguf_path(m->gguf), name, t->file_offset);
    out->name = t->name;
    out->type = t->type;
    out->n_in = n_in;
    out->n_out = n_out;
    out->row_bytes = row_bytes;
    out->data = t->data;
    return SLM_OK;
}

static slm_status load_layer(slm_model *m, int il, slm_error *err) {
    const slm_hparams *hp = &m->hp;
    slm_layer *L = &m->layers[il];
    int64_t q_dim = hp->n_head * hp->head_dim, k_dim = hp->n_head_kv * hp->head_dim;
    int64_t v_dim = hp->n_head_kv * hp->head_dim_v, o_dim = hp->n_head * hp->head_dim_v;
    bool bias = m->arch->qkv_bias == SLM_REQUIRED;
    char n[128];
    slm_status s;
#define NAME(suffix) (snprintf(n, sizeof n, "blk.%d." suffix, il), n)
    if ((s = load_vector(m, NAME("attn_norm.weight"), true, hp->n_embd, &L->attn_norm, err))) return s;
    if ((s = load_matrix(m, NAME("attn_q.weight"), true, hp->n_embd, q_dim, true, &L->wq, err))) return s;
    if ((s = load_matrix(m, NAME("attn_k.weight"), true, hp->n_embd, k_dim, true, &L->wk, err))) return s;
    if ((s = load_matrix(m, NAME("attn_v.weight"), true, hp->n_embd, v_dim, true, &L->wv, err))) return s;
    if ((s = load_matrix(m, NAME("attn_output.weight"), true, o_dim, hp->n_embd, true, &L->wo, err))) return s;
    if (m->arch->qkv_bias != SLM_ABSENT) {
        if ((s = load_vector(m, NAME("attn_q.bias"), bias, q_dim, &L->bq, err))) return s;
        if ((s = load_vector(m, NAME("attn_k.bias"), bias, k_dim, &L->bk, err))) return s;
        if ((s = load_vector(m, NAME("attn_v.bias"), bias, v_dim, &L->bv, err))) return s;
    }
    if (m->arch->output_bias != SLM_ABSENT &&
        (s = load_vector(m, NAME("attn_output.bias"), m->arch->output_bias == SLM_REQUIRED, hp->n_embd, &L->bo, err)))
        return s;
    if ((s = load_vector(m, NAME("ffn_norm.weight"), true, hp->n_embd, &L->ffn_norm, err))) return s;
    if ((s = load_matrix(m, NAME("ffn_gate.weight"), true, hp->n_embd, hp->n_ff, true, &L->ffn_gate, err))) return s;
    if ((s = load_matrix(m, NAME("ffn_up.weight"), true, hp->n_embd, hp->n_ff, true, &L->ffn_up, err))) return s;
    if ((s = load_matrix(m, NAME("ffn_down.weight"), true, hp->n_ff, hp->n_embd, true, &L->ffn_down, err))) return s;
#undef NAME
    return SLM_OK;
}

static slm_status load_tensors(slm_model *m, slm_error *err) {
    const slm_hparams *hp = &m->hp;
    slm_status s;
    if ((s = load_matrix(m, "token_embd.weight", true, hp->n_embd, hp->n_vocab, false, &m->tok_embd, err))) return s;
    if ((s = load_vector(m, "output_norm.weight", true, hp->n_embd, &m->output_norm, err))) return s;
    if ((s = load_matrix(m, "output.weight", false, hp->n_embd, hp->n_vocab, true, &m->output, err))) return s;
    if (!m->output.data) { /* tied: the embedding matrix is the output matrix */
        const slm_gguf_tensor *t = slm_gguf_find_tensor(m->gguf, "token_embd.weight");
        if (!slm_dot_traits_of(t->type)) return uncomputable(m, t, err);
        m->output = m->tok_embd;
    }
    if ((s = load_vector(m, "rope_freqs.weight", false, hp->n_rot / 2, &m->rope_freqs, err))) return s;
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) return slm_fail(err, SLM_E_NOMEM, "out of memory for %" PRId64 " layers", hp->n_layer);
    for (int il = 0; il < hp->n_layer; il++)
        if ((s = load_layer(m, il, err))) return s;
    return SLM_OK;
}

/* ---- public API ---------------------------------------------------------- */

static slm_status load(slm_model *m, const char *path, slm_load_mode mode, slm_error *err) {
    slm_status s = slm_gguf_open_with(path, mode, &m->gguf, err);
    if (s) return s;
    slm_str arch;
    if ((s = slm_gguf_get_str(m->gguf, "general.architecture", &arch, err))) return s;
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)(arch.len < 63 ? arch.len : 63), arch.ptr);
    m->arch = slm_arch_find(name);
    if (!m->arch || arch.len >= sizeof name)
        return slm_fail(err, SLM_E_UNSUPPORTED, "%s: architecture '%s' is not supported (supported: %s)", path, name,
                        slm_arch_list());
    if ((s = load_hparams(m, err))) return s;
    if ((s = slm_vocab_load(m->gguf, &m->vocab, err))) return s;
    m->hp.n_vocab = slm_vocab_n_tokens(m->vocab);
    if ((s = load_tensors(m, err))) return s;
    for (uint64_t i = 0; i < slm_gguf_n_tensors(m->gguf); i++) {
        const slm_gguf_tensor *t = slm_gguf_tensor_at(m->gguf, i);
        m->n_params += t->n_elements;
        m->size_bytes += t->n_bytes;
    }
    return SLM_OK;
}

slm_status slm_model_load(const char *path, slm_model **out, slm_error *err) {
    return slm_model_load_with(path, SLM_LOAD_AUTO, out, err);
}

slm_status slm_model_load_with(const char *path, slm_load_mode mode, slm_model **out, slm_error *err) {
    *out = NULL;
    slm_model *m = calloc(1, sizeof *m);
    if (!m) return slm_fail(err, SLM_E_NOMEM, "out of memory loading %s", path);
    slm_status s = load(m, path, mode, err);
    if (s) {
        slm_model_free(m);
        return s;
    }
    *out = m;
    return SLM_OK;
}

void slm_model_free(slm_model *m) {
    if (!m) return;
    free(m->layers);
    if (m->vocab) slm_vocab_free(m->vocab);
    if (m->gguf) slm_gguf_close(m->gguf);
    free(m);
}

const slm_vocab *slm_model_vocab(const slm_model *m) { return m->vocab; }
const slm_gguf *slm_model_gguf(const slm_model *m) { return m->gguf; }
const char *slm_model_arch(const slm_model *m) { return m->arch->name; }
int32_t slm_model_n_vocab(const slm_model *m) { return (int32_t)m->hp.n_vocab; }
int32_t slm_model_n_ctx_train(const slm_model *m) { return (int32_t)m->hp.n_ctx_train; }
int32_t slm_model_n_embd(const slm_model *m) { return (int32_t)m->hp.n_embd; }
int32_t slm_model_n_layer(const slm_model *m) { return (int32_t)m->hp.n_layer; }
uint64_t slm_model_n_params(const slm_model *m) { return m->n_params; }
uint64_t slm_model_size_bytes(const slm_model *m) { return m->size_bytes; }
