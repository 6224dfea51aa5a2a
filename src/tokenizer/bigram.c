/* bigram.c - a binary min-heap of slm_bigram. */
#include "tokenizer/bigram.h"

#include <stdlib.h>

static bool before(const slm_bigram *a, const slm_bigram *b) {
    if (a->key != b->key) return a->key < b->key;
    return a->left < b->left;
}

bool slm_bigram_push(slm_bigram_queue *q, slm_bigram b) {
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        slm_bigram *grown = realloc(q->items, cap * sizeof *grown);
        if (!grown) return false;
        q->items = grown;
        q->cap = cap;
    }
    size_t i = q->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(&b, &q->items[parent])) break;
        q->items[i] = q->items[parent];
        i = parent;
    }
    q->items[i] = b;
    return true;
}

bool slm_bigram_pop(slm_bigram_queue *q, slm_bigram *out) {
    if (q->n == 0) return false;
    *out = q->items[0];
    slm_bigram last = q->items[--q->n];
    size_t i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= q->n) break;
        if (child + 1 < q->n && before(&q->items[child + 1], &q->items[child])) child++;
        if (!before(&q->items[child], &last)) break;
        q->items[i] = q->items[child];
        i = child;
    }
    if (q->n) q->items[i] = last;
    return true;
}

void slm_bigram_free(slm_bigram_queue *q) {
    free(q->items);
    q->items = NULL;
    q->n = q->cap = 0;
}
