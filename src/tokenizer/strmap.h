/* strmap.h - open-addressing hash maps used by the tokenizers:
 * byte string -> int32 (token text -> id) and id pair -> (rank, id)
 * (BPE merges).  Keys of the string map are views the caller keeps alive. */
#ifndef SLM_TOKENIZER_STRMAP_H
#define SLM_TOKENIZER_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct slm_strmap_slot {
    const char *ptr; /* NULL = empty */
    uint32_t len;
    uint32_t hash;
    int32_t value;
} slm_strmap_slot;

typedef struct slm_strmap {
    slm_strmap_slot *slots;
    size_t mask; /* capacity - 1, capacity a power of two */
    size_t count;
} slm_strmap;

/* Room for n keys at a load factor of at most 1/2.  False when out of memory. */
bool slm_strmap_init(slm_strmap *m, size_t n);
void slm_strmap_free(slm_strmap *m);
/* Inserts key -> value unless the key is present (first insertion wins).
 * Returns false when the map is full (init was given too small an n). */
bool slm_strmap_put(slm_strmap *m, const char *ptr, size_t len, int32_t value);
/* The value, or -1 when absent. */
int32_t slm_strmap_get(const slm_strmap *m, const char *ptr, size_t len);

typedef struct slm_pairmap_slot {
    uint64_t key; /* (left + 1) << 32 | (right + 1); 0 = empty */
    int32_t rank;
    int32_t result;
} slm_pairmap_slot;

typedef struct slm_pairmap {
    slm_pairmap_slot *slots;
    size_t mask;
    size_t count;
} slm_pairmap;

bool slm_pairmap_init(slm_pairmap *m, size_t n);
void slm_pairmap_free(slm_pairmap *m);
/* First insertion of a pair wins (the lowest rank). */
bool slm_pairmap_put(slm_pairmap *m, int32_t left, int32_t right, int32_t rank, int32_t result);
/* The slot of (left, right), or NULL. */
const slm_pairmap_slot *slm_pairmap_get(const slm_pairmap *m, int32_t left, int32_t right);

#endif
