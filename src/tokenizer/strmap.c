/* strmap.c - the tokenizers' hash maps (FNV-1a strings, mixed id pairs). */
#include "tokenizer/strmap.h"

#include <stdlib.h>
#include <string.h>

static size_t capacity_for(size_t n) {
    size_t cap = 16;
    while (cap < n * 2) cap *= 2;
    return cap;
}

static uint32_t hash_bytes(const char *p, size_t len) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t)p[i];
        h *= 16777619u;
    }
    return h;
}

bool slm_strmap_init(slm_strmap *m, size_t n) {
    size_t cap = capacity_for(n);
    m->slots = calloc(cap, sizeof *m->slots);
    m->mask = cap - 1;
    m->count = 0;
    return m->slots != NULL;
}

void slm_strmap_free(slm_strmap *m) {
    free(m->slots);
    m->slots = NULL;
    m->mask = m->count = 0;
}

bool slm_strmap_put(slm_strmap *m, const char *ptr, size_t len, int32_t value) {
    if ((m->count + 1) * 2 > m->mask + 1 || len > UINT32_MAX) return false;
    uint32_t h = hash_bytes(ptr, len);
    for (size_t i = h & m->mask;; i = (i + 1) & m->mask) {
        slm_strmap_slot *s = &m->slots[i];
        if (!s->ptr) {
            /* An empty key still needs a non-NULL pointer to mark the slot used. */
            s->ptr = len ? ptr : "";
            s->len = (uint32_t)len;
            s->hash = h;
            s->value = value;
            m->count++;
            return true;
        }
        if (s->hash == h && s->len == len && memcmp(s->ptr, ptr, len) == 0) return true;
    }
}

int32_t slm_strmap_get(const slm_strmap *m, const char *ptr, size_t len) {
    if (!m->slots) return -1;
    uint32_t h = hash_bytes(ptr, len);
    for (size_t i = h & m->mask;; i = (i + 1) & m->mask) {
        const slm_strmap_slot *s = &m->slots[i];
        if (!s->ptr) return -1;
        if (s->hash == h && s->len == len && memcmp(s->ptr, ptr, len) == 0) return s->value;
    }
}

static uint64_t pair_key(int32_t left, int32_t right) {
    return ((uint64_t)(uint32_t)(left + 1) << 32) | (uint32_t)(right + 1);
}

static size_t pair_hash(uint64_t k) {
    /* splitmix64 finalizer: ids are small and dense, so mix them well. */
    k ^= k >> 30;
    k *= 0xbf58476d1ce4e5b9ull;
    k ^= k >> 27;
    k *= 0x94d049bb133111ebull;
    k ^= k >> 31;
    return (size_t)k;
}

bool slm_pairmap_init(slm_pairmap *m, size_t n) {
    size_t cap = capacity_for(n);
    m->slots = calloc(cap, sizeof *m->slots);
    m->mask = cap - 1;
    m->count = 0;
    return m->slots != NULL;
}

void slm_pairmap_free(slm_pairmap *m) {
    free(m->slots);
    m->slots = NULL;
    m->mask = m->count = 0;
}

bool slm_pairmap_put(slm_pairmap *m, int32_t left, int32_t right, int32_t rank, int32_t result) {
    if ((m->count + 1) * 2 > m->mask + 1) return false;
    uint64_t k = pair_key(left, right);
    for (size_t i = pair_hash(k) & m->mask;; i = (i + 1) & m->mask) {
        slm_pairmap_slot *s = &m->slots[i];
        if (s->key == k) return true;
        if (!s->key) {
            s->key = k;
            s->rank = rank;
            s->result = result;
            m->count++;
            return true;
        }
    }
}

const slm_pairmap_slot *slm_pairmap_get(const slm_pairmap *m, int32_t left, int32_t right) {
    if (!m->slots) return NULL;
    uint64_t k = pair_key(left, right);
    for (size_t i = pair_hash(k) & m->mask;; i = (i + 1) & m->mask) {
        const slm_pairmap_slot *s = &m->slots[i];
        if (s->key == k) return s;
        if (!s->key) return NULL;
    }
}
