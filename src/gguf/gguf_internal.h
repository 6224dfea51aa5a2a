/* gguf_internal.h - the GGUF handle, shared by the reader and the accessors. */
#ifndef SLM_GGUF_INTERNAL_H
#define SLM_GGUF_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slm.h"

/* Name -> index map; slots hold index + 1 (0 = empty). */
typedef struct slm_gguf_index {
    uint64_t *slots;
    uint64_t cap; /* power of two */
} slm_gguf_index;

struct slm_gguf {
    char *path;
    const uint8_t *base; /* whole file */
    uint64_t size;
    bool mapped; /* base is an mmap of the file */
    bool copied; /* base is anonymous memory holding a copy of the file (SLM_LOAD_COPY) */
    uint8_t *owned; /* read() fallback buffer */

    uint32_t version;
    uint32_t alignment;
    uint64_t data_offset;

    uint64_t n_keys;
    char **keys;
    slm_gguf_value *values;
    slm_gguf_index key_index;

    uint64_t n_tensors;
    slm_gguf_tensor *tensors;
    const char **tensor_names;
    slm_gguf_index tensor_index;

    void **allocs; /* everything allocated for this handle */
    size_t n_allocs, cap_allocs;
};

uint64_t slm_gguf_hash(const char *s);
int64_t slm_gguf_index_find(const slm_gguf_index *ix, const char *name, const char *const *names);
/* Bytes of one scalar element; 0 for string/array. */
int slm_gguf_scalar_size(slm_gguf_type t);

/* Parses and validates g->base[0, g->size) into g (gguf_read.c). */
slm_status slm_gguf_parse(slm_gguf *g, slm_error *err);

#endif
