/* kv_cache.h - keys and values of every layer for n_seq sequences, each with
 * its own region of n_ctx positions.  Rows are stored as F16 (default) or F32
 * and read back as float. */
#ifndef SLM_MODEL_KV_CACHE_H
#define SLM_MODEL_KV_CACHE_H

#include <stdint.h>

#include "slm.h"

typedef struct slm_kv_cache {
    slm_cache_type type_k, type_v;
    int64_t n_layer, n_seq, n_ctx;
    int64_t k_width, v_width; /* floats per position: n_head_kv * head_dim(_v) */
    uint8_t *k, *v;
    int32_t *len; /* positions held per sequence */
} slm_kv_cache;

slm_status slm_kv_cache_init(slm_kv_cache *kv, int64_t n_layer, int64_t n_seq, int64_t n_ctx, int64_t k_width,
                             int64_t v_width, slm_cache_type type_k, slm_cache_type type_v, slm_error *err);
void slm_kv_cache_free(slm_kv_cache *kv);

/* Writes the key or value row of (layer, seq, pos). */
void slm_kv_store_k(slm_kv_cache *kv, int64_t layer, int64_t seq, int64_t pos, const float *row);
void slm_kv_store_v(slm_kv_cache *kv, int64_t layer, int64_t seq, int64_t pos, const float *row);
/* Reads n floats starting at element `off` of a stored row into dst. */
void slm_kv_load_k(const slm_kv_cache *kv, int64_t layer, int64_t seq, int64_t pos, int64_t off, int64_t n,
                   float *dst);
void slm_kv_load_v(const slm_kv_cache *kv, int64_t layer, int64_t seq, int64_t pos, int64_t off, int64_t n,
                   float *dst);

/* The stored key or value row of (layer, seq, pos): uint16_t fp16 values or
 * floats, as type_k / type_v say.  Attention reads the cache in place. */
const void *slm_kv_row_k(const slm_kv_cache *kv, int64_t layer, int64_t seq, int64_t pos);
const void *slm_kv_row_v(const slm_kv_cache *kv, int64_t layer, int64_t seq, int64_t pos);

#endif
