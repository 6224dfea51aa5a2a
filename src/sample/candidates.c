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

void slm_cand_fill(slm_candidates *c, const float *logits, size_t n_vocab) {
    for (size_t i = 0; i < n_vocab; i++) {
        float l = logits[i];
        c->data[i].id = (slm_token)i;
        c->data[i].logit = isnan(l) ? -INFINITY : l;
        c->data[i].p = 0.0f;
    }
    c->n = n_vocab;
    c->sorted = false;
}

void slm_cand_drop_banned(slm_candidates *c) {
    size_t kept = 0;
    for (size_t i = 0; i < c->n; i++)
        if (c->data[i].logit != -INFINITY) c->data[kept++] = c->data[i];
    c->n = kept;
}

size_t slm_cand_argmax(const slm_candidates *c) {
    size_t best = 0;
    for (size_t i = 1; i < c->n; i++)
        if (better(&c->data[i], &c->data[best])) best = i;
    return best;
}

void slm_cand_sort(slm_candidates *c) {
    if (c->sorted) return;
    qsort(c->data, c->n, sizeof c->data[0], cmp_by_logit);
    c->sorted = true;
}

void slm_cand_softmax(slm_candidates *c) {
    if (c->n == 0) return;
    float max = c->sorted ? c->data[0].logit : c->data[slm_cand_argmax(c)].logit;
    double sum = 0.0;
    for (size_t i = 0; i < c->n; i++) {
        c->data[i].p = expf(c->data[i].logit - max);
        sum += c->data[i].p;
    }
    for (size_t i = 0; i < c->n; i++) c->data[i].p = (float)(c->data[i].p / sum);
}

/* Moves the k best candidates to a[0..k) (in no particular order) by
 * quickselect: expected O(n), so top-k never sorts the whole vocabulary. */
static void select_best(slm_candidate *a, size_t n, size_t k) {
    size_t lo = 0, hi = n;
    while (hi - lo > 1) {
        /* Median of three, left at hi-1 as the pivot. */
        size_t mid = lo + (hi - lo) / 2, last = hi - 1;
        if (better(&a[mid], &a[lo])) swap(&a[mid], &a[lo]);
        if (better(&a[last], &a[lo])) swap(&a[last], &a[lo]);
        if (better(&a[mid], &a[last])) swap(&a[mid], &a[last]);
        size_t store = lo;
        for (size_t i = lo; i < last; i++)
            if (better(&a[i], &a[last])) swap(&a[i], &a[store++]);
        swap(&a[store], &a[last]);
        /* Exactly `store` candidates now rank before a[store]. */
        if (store == k) return;
        if (store < k) lo = store + 1;
        else hi = store;
    }
}

void slm_cand_top_k(slm_candidates *c, size_t k) {
    if (k == 0 || k >= c->n) return;
    if (!c->sorted) {
        select_best(c->data, c->n, k);
        c->n = k;
        slm_cand_sort(c);
    }
    c->n = k;
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

/* Nucleus sampling: the smallest prefix of the sorted candidates whose mass
 * reaches p. */
void slm_cand_top_p(slm_candidates *c, float p, size_t min_keep) {
    if (p >= 1.0f || c->n <= min_keep) return;
    slm_cand_sort(c);
    slm_cand_softmax(c);
    double cum = 0.0;
    for (size_t i = 0; i < c->n; i++) {
        cum += c->data[i].p;
        if (cum >= p && i + 1 >= min_keep) {
            c->n = i + 1;
            return;
        }
    }
}

/* Keeps the tokens whose probability is at least p times the largest one,
 * i.e. logit >= max_logit + log(p); no sort needed. */
void slm_cand_min_p(slm_candidates *c, float p, size_t min_keep) {
    if (p <= 0.0f || c->n <= min_keep) return;
    float max = c->sorted ? c->data[0].logit : c->data[slm_cand_argmax(c)].logit;
    float threshold = max + logf(p);
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
    float max = c->sorted ? c->data[0].logit : c->data[slm_cand_argmax(c)].logit;
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
