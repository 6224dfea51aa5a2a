/* types.h - the table of tensor type traits.
 *
 * One row per ggml type: its name, block geometry and (when this build can
 * compute with it) the kernels.  Code that handles weights looks up the row
 * instead of switching on the type. */
#ifndef SLM_TYPES_H
#define SLM_TYPES_H

#include <stdint.h>

#include "slm.h"

typedef void (*slm_to_float_fn)(const void *src, float *dst, int64_t n);

typedef struct slm_type_traits {
    const char *name;
    uint32_t block_size;    /* elements per block */
    uint32_t block_bytes;   /* bytes per block */
    slm_to_float_fn to_float; /* dequantize n elements (n % block_size == 0); NULL = not computable */
} slm_type_traits;

/* NULL for an id that is not a ggml type. */
const slm_type_traits *slm_type_traits_of(slm_type type);

/* Byte size of a row of n elements; 0 when n is not a multiple of the block size. */
uint64_t slm_type_row_bytes(slm_type type, int64_t n);

#endif
