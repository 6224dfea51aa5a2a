/* kv_cache.c - layout: [layer][seq][pos][width] for K and for V. */
#include "model/kv_cache.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"
#include "types/half.h"

static size_t elem_size(slm_cache_type t) { return t == SLM_CACHE_F32 ? 4 : 2; }

slm_status slm_kv_cache_init(slm_kv_cache *kv, int64_t n_layer, int64_t n_seq, int64_t n_ctx, int64_t k_width,
                             int64_t v_width, slm_cache_type type_k, slm_cache_type type_v, slm_error *err) {
    memset(kv, 0, sizeof *kv);
    if ((type_k != SLM_CACHE_F16 && type_k != SLM_CACHE_F32) || (type_v != SLM_CACHE_F16 && type_v != SLM_CACHE_F32))
        return slm_fail(err, SLM_E_INVALID, "unknown KV cache type (K %d, V %d)", (int)type_k, (int)type_v);
    kv->type_k = type_k;
    kv->type_v = type_v;
    kv->n_layer = n_layer;
    kv->n_seq = n_seq;
    kv->n_ctx = n_ctx;
    kv->k_width = k_width;
    kv->v_width = v_width;
    size_t rows = (size_t)n_layer * (size_t)n_seq * (size_t)n_ctx;
    kv->k = malloc(rows * (size_t)k_width * elem_size(type_k));
    kv->v = malloc(rows * (size_t)v_width * elem_size(type_v));
    kv->len = calloc((size_t)n_seq, sizeof *kv->len);
    if (!kv->k || !kv->v || !kv->len) {
        slm_kv_cache_free(kv);
        return slm_fail(err, SLM_E_NOMEM, "out of memory for a KV cache of %" PRId64 " layers x %" PRId64
                        " sequences x %" PRId64 " positions", n_layer, n_seq, n_ctx);
    }
    return SLM_OK;
}

void slm_kv_cache_free(slm_kv_cache *kv) {
    free(kv->k);
    free(kv->v);
    free(kv->len);
    memset(kv, 0, sizeof *kv);
}

static size_t row_index(const slm_kv_cache *kv, int64_t layer, int64_t seq, int64_t pos) {
    return ((size_t)layer * (size_t)kv->n_seq + (size_t)seq) * (size_t)kv->n_ctx + (size_t)pos;
}

static void store(uint8_t *base, slm_cache_type t, int64_t width, size_t row, const float *src) {
    if (t == SLM_CACHE_F32) {
        memcpy(base + row * (size_t)width * 4, src, (size_t)width * 4);
        return;
    }
    uint16_t *dst = (uint16_t *)(void *)(base + row * (size_t)width * 2);
    for (int64_t i = 0; i < width; i++) dst[i] = slm_f32_to_f16(src[i]);
}

static void load(const uint8_t *base, slm_cache_type t, int64_t width, size_t row, int64_t off, int64_t n,
                 float *dst) {
    if (t == SLM_CACHE_F32) {
        memcpy(dst, base + (row * (size_t)width + (size_t)off) * 4, (size_t)n * 4);
        return;
    }
    const uint16_t *src = (const uint16_t *)(const void *)(base + (row * (size_t)width + (size_t)off) * 2);
    for (int64_t i = 0; i < n; i++) dst[i] = slm_f16_to_f32(src[i]);
}

void slm_kv_store_k(slm_kv_cache *kv, int64_t layer, int64_t seq, int64_t pos, const float *row) {
    store(kv->k, kv->type_k, kv->k_width, row_index(kv, layer, seq, pos), row);
}

void slm_kv_store_v(slm_kv_cache *kv, int64_t layer, int64_t seq, int64_t pos, const float *row) {
    store(kv->v, kv->type_v, kv->v_width, row_index(kv, layer, seq, pos), row);
}

void slm_kv_load_k(const slm_kv_cache *kv, int64_t layer, int64_t seq, int64_t pos, int64_t off, int64_t n,
                   float *dst) {
    load(kv->k, kv->type_k, kv->k_width, row_index(kv, layer, seq, pos), off, n, dst);
}

void slm_kv_load_v(const slm_kv_cache *kv, int64_t layer, int64_t seq, int64_t pos, int64_t off, int64_t n,
                   float *dst) {
    load(kv->v, kv->type_v, kv->v_width, row_index(kv, layer, seq, pos), off, n, dst);
}

const void *slm_kv_row_k(const slm_kv_cache *kv, int64_t layer, int64_t seq, int64_t pos) {
    return kv->k + row_index(kv, layer, seq, pos) * (size_t)kv->k_width * elem_size(kv->type_k);
}

const void *slm_kv_row_v(const slm_kv_cache *kv, int64_t layer, int64_t seq, int64_t pos) {
    return kv->v + row_index(kv, layer, seq, pos) * (size_t)kv->v_width * elem_size(kv->type_v);
}
