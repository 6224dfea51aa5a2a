/* candidates.c - the stages of the sampler chain over a candidate array.
 *
 * The semantics follow llama.cpp's samplers (top-k, typical, top-p, min-p,
 * temperature) so that users get the behaviour they know, but every
 * ordering here is total (logit descending, then id ascending), so a
 * result never depends on the sort algorithm. */
#include "sample/candidates.h"

#include <math.h>
#include <stdlib.h>

/* True when a ranks before b: higher logit, or equal logit and lower id. */
static bool better(const slm_candidate *a, const slm_candidate *b) {
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

static int cmp_by_logit(const void *pa, const void *pb) {
    const slm_candidate *a = pa, *b = pb;
    if (better(a, b)) return -1;
    return better(b, a) ? 1 : 0;
}

static int cmp_by_key(const void *pa, const void *pb) {
    const slm_candidate *a = pa, *b = pb;
    if (a->key != b->key) return a->key < b->key ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

static void swap(slm_candidate *a, slm_candidate *b) {
    slm_candidate t = *a;
    *a = *b;
    *b = t;
}

static float max_logit(const slm_candidates *c) {
    if (c->sorted) return c->data[0].logit;
    float max = -INFINITY;
    for (size_t i = 0; i < c->n; i++)
        if (c->data[i].logit > max) max = c->data[i].logit;
    return max;
}

size_t slm_logits_argmax(const float *logits, size_t n) {
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (logits[i] > logits[best]) best = i;
    return best;
}

void slm_cand_from_logits(slm_candidates *c, const float *logits, size_t n) {
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (logits[i] == -INFINITY) continue;
        c->data[kept].id = (slm_token)i;
        c->data[kept].logit = logits[i];
        c->data[kept].p = 0.0f;
        kept++;
    }
    c->n = kept;
    c->sorted = false;
}

/* Restores the min-heap order (worst candidate at the root) below i. */
static void sift_down(slm_candidate *heap, size_t n, size_t i) {
    for (;;) {
        size_t worst = i, l = 2 * i + 1, r = l + 1;
        if (l < n && better(&heap[worst], &heap[l])) worst = l;
        if (r < n && better(&heap[worst], &heap[r])) worst = r;
        if (worst == i) return;
        swap(&heap[i], &heap[worst]);
        i = worst;
    }
}

static void sift_up(slm_candidate *heap, size_t i) {
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!better(&heap[parent], &heap[i])) return;
        swap(&heap[parent], &heap[i]);
        i = parent;
    }
}

/* One pass with a heap of the k best seen so far: most logits lose the
 * single comparison with the heap's worst entry, so this is close to O(n). */
void slm_cand_top_k_from_logits(slm_candidates *c, const float *logits, size_t n, size_t k) {
    slm_candidate *heap = c->data;
    size_t size = 0;
    for (size_t i = 0; i < n; i++) {
        if (logits[i] == -INFINITY) continue;
        slm_candidate x = {(slm_token)i, logits[i], 0.0f, 0.0f};
        if (size < k) {
            heap[size] = x;
            sift_up(heap, size++);
        } else if (better(&x, &heap[0])) {
            heap[0] = x;
            sift_down(heap, size, 0);
        }
    }
    c->n = size;
    c->sorted = false;
    slm_cand_sort(c);
}

void slm_cand_sort(slm_candidates *c) {
    if (c->sorted) return;
    qsort(c->data, c->n, sizeof c->data[0], cmp_by_logit);
    c->sorted = true;
}

void slm_cand_softmax(slm_candidates *c) {
    if (c->n == 0) return;
    float max = max_logit(c);
    double sum = 0.0;
    for (size_t i = 0; i < c->n; i++) {
        c->data[i].p = expf(c->data[i].logit - max);
        sum += c->data[i].p;
    }
    for (size_t i = 0; i < c->n; i++) c->data[i].p = (float)(c->data[i].p / sum);
}

/* Locally typical sampling (Meister et al. 2022): keep the tokens whose
 * surprise -log p is closest to the entropy, until their mass exceeds p. */
void slm_cand_typical(slm_candidates *c, float p, size_t min_keep) {
    if (p >= 1.0f || c->n <= min_keep) return;
    slm_cand_softmax(c);
    double entropy = 0.0;
    for (size_t i = 0; i < c->n; i++)
        if (c->data[i].p > 0.0f) entropy -= c->data[i].p * log(c->data[i].p);
    for (size_t i = 0; i < c->n; i++) {
        double surprise = c->data[i].p > 0.0f ? -log(c->data[i].p) : INFINITY;
        c->data[i].key = (float)fabs(surprise - entropy);
    }
    qsort(c->data, c->n, sizeof c->data[0], cmp_by_key);
    c->sorted = false;
    double cum = 0.0;
    for (size_t i = 0; i < c->n; i++) {
        cum += c->data[i].p;
        if (cum > p && i + 1 >= min_keep) {
            c->n = i + 1;
            return;
        }
    }
}

/* Partitions a[lo..hi) around a median-of-three pivot; returns the pivot's
 * final index: everything before it ranks better, everything after worse. */
static size_t partition(slm_candidate *a, size_t lo, size_t hi) {
    size_t mid = lo + (hi - lo) / 2, last = hi - 1;
    if (better(&a[mid], &a[lo])) swap(&a[mid], &a[lo]);
    if (better(&a[last], &a[lo])) swap(&a[last], &a[lo]);
    if (better(&a[mid], &a[last])) swap(&a[mid], &a[last]);
    size_t store = lo;
    for (size_t i = lo; i < last; i++)
        if (better(&a[i], &a[last])) swap(&a[i], &a[store++]);
    swap(&a[store], &a[last]);
    return store;
}

/* Nucleus sampling: the smallest set of best candidates whose mass reaches
 * p.  Found by a quickselect on probability mass (expected O(n)) rather than
 * by sorting the vocabulary: invariant, mass(a[0..lo)) < p <= mass(a[0..hi)).
 * The nucleus is left unsorted. */
void slm_cand_top_p(slm_candidates *c, float p, size_t min_keep) {
    if (p >= 1.0f || c->n <= min_keep) return;
    slm_cand_softmax(c);
    slm_candidate *a = c->data;
    size_t lo = 0, hi = c->n;
    double need = p; /* mass still missing after a[0..lo) */
    while (hi - lo > 1) {
        size_t pivot = partition(a, lo, hi);
        double ahead = 0.0;
        for (size_t i = lo; i < pivot; i++) ahead += a[i].p;
        if (ahead >= need) {
            hi = pivot;
            continue;
        }
        need -= ahead + a[pivot].p;
        lo = pivot + 1;
        if (need <= 0.0) {
            hi = lo;
            break;
        }
    }
    c->n = hi > min_keep ? hi : min_keep;
    c->sorted = false;
}

/* Keeps the tokens whose probability is at least p times the largest one,
 * i.e. logit >= max_logit + log(p); no sort needed. */
void slm_cand_min_p(slm_candidates *c, float p, size_t min_keep) {
    if (p <= 0.0f || c->n <= min_keep) return;
    float threshold = max_logit(c) + logf(p);
    size_t kept = 0;
    for (size_t i = 0; i < c->n; i++)
        if (c->data[i].logit >= threshold) kept++;
    if (kept < min_keep) {
        slm_cand_sort(c);
        c->n = min_keep;
        return;
    }
    kept = 0;
    for (size_t i = 0; i < c->n; i++)
        if (c->data[i].logit >= threshold) c->data[kept++] = c->data[i];
    c->n = kept;
}

/* Divides by t after subtracting the largest logit (softmax does not
 * change), so that a tiny t cannot overflow to inf - inf = NaN. */
void slm_cand_temperature(slm_candidates *c, float t) {
    if (c->n == 0) return;
    float max = max_logit(c);
    for (size_t i = 0; i < c->n; i++) c->data[i].logit = (c->data[i].logit - max) / t;
}

size_t slm_cand_draw(const slm_candidates *c, double u) {
    double cum = 0.0;
    size_t last_nonzero = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (c->data[i].p <= 0.0f) continue;
        cum += c->data[i].p;
        last_nonzero = i;
        if (u < cum) return i;
    }
    /* Rounding left the total a hair below u. */
    return last_nonzero;
}
