/* test_sampler.c - the sampler chain, checked statistically with fixed seeds:
 * every filter is compared with an allowed set computed here independently,
 * and temperature sampling with the softmax it should follow. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sample/penalties.h"
#include "testutil.h"

/* The tests' own generator for logits (independent of the sampler's). */
static uint64_t test_rng_state = 88172645463325252ull;
static double test_uniform(void) {
    test_rng_state ^= test_rng_state << 13;
    test_rng_state ^= test_rng_state >> 7;
    test_rng_state ^= test_rng_state << 17;
    return (double)(test_rng_state >> 11) * 0x1.0p-53;
}

static float *random_logits(int n, double scale) {
    float *l = malloc((size_t)n * sizeof *l);
    assert_non_null(l);
    for (int i = 0; i < n; i++) l[i] = (float)((test_uniform() * 2.0 - 1.0) * scale);
    return l;
}

/* Parameters with every filter off: plain sampling at temperature t. */
static slm_sampler_params plain_params(float t, uint64_t seed) {
    slm_sampler_params p = slm_sampler_default_params();
    p.temperature = t;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.typical_p = 1.0f;
    p.seed = seed;
    return p;
}

static slm_sampler *new_sampler(const slm_sampler_params *p, int n_vocab) {
    slm_sampler *s = NULL;
    slm_error err;
    SLM_ASSERT_OK(slm_sampler_new(p, n_vocab, &s, &err), &err);
    return s;
}

static void softmax(const float *logits, int n, double t, double *probs) {
    double max = -INFINITY, sum = 0.0;
    for (int i = 0; i < n; i++) max = fmax(max, logits[i] / t);
    for (int i = 0; i < n; i++) sum += probs[i] = exp(logits[i] / t - max);
    for (int i = 0; i < n; i++) probs[i] /= sum;
}

/* Ids sorted by probability, highest first (ties: lowest id). */
static const double *sort_probs;
static int cmp_prob_desc(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    if (sort_probs[i] != sort_probs[j]) return sort_probs[i] > sort_probs[j] ? -1 : 1;
    return i - j;
}
static int *ids_by_prob(const double *probs, int n) {
    int *ids = malloc((size_t)n * sizeof *ids);
    assert_non_null(ids);
    for (int i = 0; i < n; i++) ids[i] = i;
    sort_probs = probs;
    qsort(ids, (size_t)n, sizeof *ids, cmp_prob_desc);
    return ids;
}

/* Draws n_draws tokens; fails on one outside allowed[]; counts hits. */
static void draw_within(slm_sampler *s, const float *logits, int n_vocab, const bool *allowed, int n_draws,
                        int *hits) {
    for (int d = 0; d < n_draws; d++) {
        slm_token t = slm_sampler_sample(s, logits);
        assert_true(t >= 0 && t < n_vocab);
        if (!allowed[t]) fail_msg("draw %d returned token %d, outside the allowed set", d, t);
        hits[t]++;
    }
}

static void test_greedy_is_argmax(void **state) {
    (void)state;
    enum { N = 5000 };
    float *logits = random_logits(N, 10.0);
    int best = 0;
    for (int i = 1; i < N; i++)
        if (logits[i] > logits[best]) best = i;
    slm_sampler_params p = slm_sampler_default_params(); /* filters on, ignored when greedy */
    p.temperature = 0.0f;
    slm_sampler *s = new_sampler(&p, N);
    for (int k = 0; k < 10; k++) assert_int_equal(slm_sampler_sample(s, logits), best);
    /* A tie for the maximum goes to the lowest id. */
    logits[best] = 50.0f;
    logits[N - 1] = 50.0f;
    logits[7] = 50.0f;
    assert_int_equal(slm_sampler_sample(s, logits), best < 7 ? best : 7);
    p.temperature = -1.0f;
    slm_sampler *s2 = new_sampler(&p, N);
    assert_int_equal(slm_sampler_sample(s2, logits), best < 7 ? best : 7);
    slm_sampler_free(s);
    slm_sampler_free(s2);
    free(logits);
}

static void test_logits_not_modified(void **state) {
    (void)state;
    enum { N = 300 };
    float *logits = random_logits(N, 5.0);
    float copy[N];
    memcpy(copy, logits, sizeof copy);
    slm_sampler_params p = slm_sampler_default_params();
    p.repeat_penalty = 1.3f;
    p.typical_p = 0.9f;
    slm_logit_bias bias = {3, -INFINITY};
    p.logit_bias = &bias;
    p.n_logit_bias = 1;
    slm_sampler *s = new_sampler(&p, N);
    for (int i = 0; i < 50; i++) slm_sampler_accept(s, slm_sampler_sample(s, logits));
    assert_memory_equal(copy, logits, sizeof copy);
    slm_sampler_free(s);
    free(logits);
}

static void test_top_k_stays_in_k_best(void **state) {
    (void)state;
    enum { N = 2000, K = 12, DRAWS = 5000 };
    float *logits = random_logits(N, 3.0);
    double probs[N];
    softmax(logits, N, 1.0, probs);
    int *order = ids_by_prob(probs, N);
    bool allowed[N] = {false};
    for (int i = 0; i < K; i++) allowed[order[i]] = true;

    slm_sampler_params p = plain_params(2.0f, 42);
    p.top_k = K;
    slm_sampler *s = new_sampler(&p, N);
    int hits[N] = {0};
    draw_within(s, logits, N, allowed, DRAWS, hits);
    int distinct = 0;
    for (int i = 0; i < N; i++) distinct += hits[i] > 0;
    assert_true(distinct > K / 2); /* really sampling, not stuck on one token */
    slm_sampler_free(s);
    free(order);
    free(logits);
}

static void test_top_k_ties_take_lowest_ids(void **state) {
    (void)state;
    enum { N = 151936 }; /* a Qwen-sized vocabulary, all logits equal */
    float *logits = calloc(N, sizeof *logits);
    assert_non_null(logits);
    slm_sampler_params p = plain_params(1.0f, 7);
    p.top_k = 5;
    slm_sampler *s = new_sampler(&p, N);
    int hits[5] = {0};
    for (int d = 0; d < 500; d++) {
        slm_token t = slm_sampler_sample(s, logits);
        assert_true(t >= 0 && t < 5);
        hits[t]++;
    }
    for (int i = 0; i < 5; i++) assert_true(hits[i] > 50); /* uniform over the five: ~100 each */
    slm_sampler_free(s);
    free(logits);
}

/* A cut-off halfway between two cumulative sums, so rounding cannot move
 * the boundary: returns the threshold that keeps exactly `keep` ids. */
static double midpoint_cut(const double *sorted_mass, int keep) {
    double below = 0.0;
    for (int i = 0; i < keep - 1; i++) below += sorted_mass[i];
    double at = below + sorted_mass[keep - 1];
    return (below + at) / 2.0;
}

static void test_top_p_stays_in_nucleus(void **state) {
    (void)state;
    enum { N = 1000, KEEP = 7, DRAWS = 10000 };
    float *logits = random_logits(N, 1.0);
    for (int i = 0; i < 10; i++) logits[i * 37] += 6.0f; /* a peaked head */
    double probs[N];
    softmax(logits, N, 1.0, probs);
    int *order = ids_by_prob(probs, N);
    double mass[N];
    for (int i = 0; i < N; i++) mass[i] = probs[order[i]];
    /* The nucleus is the shortest prefix whose mass reaches p. */
    double top_p = midpoint_cut(mass, KEEP);
    bool allowed[N] = {false};
    for (int i = 0; i < KEEP; i++) allowed[order[i]] = true;

    slm_sampler_params p = plain_params(1.0f, 1234);
    p.top_p = (float)top_p;
    slm_sampler *s = new_sampler(&p, N);
    int hits[N] = {0};
    draw_within(s, logits, N, allowed, DRAWS, hits);
    for (int i = 0; i < KEEP; i++) assert_true(hits[order[i]] > 0);
    slm_sampler_free(s);
    free(order);
    free(logits);
}

static void test_min_p_keeps_likely_tokens(void **state) {
    (void)state;
    enum { N = 800, DRAWS = 10000 };
    float *logits = random_logits(N, 1.0);
    for (int i = 0; i < 6; i++) logits[i * 101 + 3] += 5.0f + 0.3f * (float)i;
    double probs[N];
    softmax(logits, N, 1.0, probs);
    int *order = ids_by_prob(probs, N);
    /* A min_p halfway (in ratio) between the 5th and 6th best tokens. */
    double r5 = probs[order[4]] / probs[order[0]], r6 = probs[order[5]] / probs[order[0]];
    float min_p = (float)((r5 + r6) / 2.0);
    bool allowed[N] = {false};
    int n_allowed = 0;
    for (int i = 0; i < N; i++)
        if (probs[i] >= min_p * probs[order[0]]) allowed[i] = true, n_allowed++;
    assert_int_equal(n_allowed, 5);

    slm_sampler_params p = plain_params(1.5f, 99);
    p.min_p = min_p;
    slm_sampler *s = new_sampler(&p, N);
    int hits[N] = {0};
    draw_within(s, logits, N, allowed, DRAWS, hits);
    for (int i = 0; i < 5; i++) assert_true(hits[order[i]] > 0);
    slm_sampler_free(s);
    free(order);
    free(logits);
}

/* Typical set, computed here: order by |surprise - entropy|, then the
 * shortest prefix whose mass exceeds p. */
static const double *sort_dev;
static int cmp_dev(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    if (sort_dev[i] != sort_dev[j]) return sort_dev[i] < sort_dev[j] ? -1 : 1;
    return i - j;
}

static void test_typical_p_stays_in_typical_set(void **state) {
    (void)state;
    enum { N = 600, KEEP = 40, DRAWS = 5000 };
    float *logits = random_logits(N, 2.5);
    double probs[N], dev[N], entropy = 0.0;
    softmax(logits, N, 1.0, probs);
    for (int i = 0; i < N; i++) entropy -= probs[i] * log(probs[i]);
    for (int i = 0; i < N; i++) dev[i] = fabs(-log(probs[i]) - entropy);
    int order[N];
    for (int i = 0; i < N; i++) order[i] = i;
    sort_dev = dev;
    qsort(order, N, sizeof order[0], cmp_dev);
    double mass[N];
    for (int i = 0; i < N; i++) mass[i] = probs[order[i]];
    double typical_p = midpoint_cut(mass, KEEP);
    bool allowed[N] = {false};
    for (int i = 0; i < KEEP; i++) allowed[order[i]] = true;

    slm_sampler_params p = plain_params(1.0f, 5);
    p.typical_p = (float)typical_p;
    slm_sampler *s = new_sampler(&p, N);
    int hits[N] = {0};
    draw_within(s, logits, N, allowed, DRAWS, hits);
    int distinct = 0;
    for (int i = 0; i < N; i++) distinct += hits[i] > 0;
    assert_true(distinct > KEEP / 2);
    slm_sampler_free(s);
    free(logits);
}

/* Pearson's chi-square of the draw counts against softmax(logits / t). */
static double chi_square(const float *logits, int n, float t, uint64_t seed, int draws) {
    double probs[64];
    int hits[64] = {0};
    softmax(logits, n, t, probs);
    slm_sampler_params p = plain_params(t, seed);
    slm_sampler *s = new_sampler(&p, n);
    for (int d = 0; d < draws; d++) {
        slm_token tok = slm_sampler_sample(s, logits);
        assert_true(tok >= 0 && tok < n);
        hits[tok]++;
    }
    slm_sampler_free(s);
    double chi2 = 0.0;
    for (int i = 0; i < n; i++) {
        double expected = probs[i] * draws;
        chi2 += (hits[i] - expected) * (hits[i] - expected) / expected;
    }
    return chi2;
}

static void test_temperature_follows_softmax(void **state) {
    (void)state;
    const float logits[8] = {1.0f, 2.0f, 0.5f, -1.0f, 1.5f, 0.0f, 2.2f, -0.3f};
    /* 7 degrees of freedom: P(chi2 > 24.3) = 0.001.  A sampler that ignored
     * the temperature (or used the wrong one) lands in the thousands. */
    assert_true(chi_square(logits, 8, 1.0f, 11, 100000) < 24.3);
    assert_true(chi_square(logits, 8, 0.5f, 12, 100000) < 24.3);
    assert_true(chi_square(logits, 8, 2.0f, 13, 100000) < 24.3);
    /* The bound can fail: the T=0.5 draws do not look like T=2. */
    double wrong = 0.0;
    {
        double probs[8];
        int hits[8] = {0};
        softmax(logits, 8, 2.0, probs);
        slm_sampler_params p = plain_params(0.5f, 12);
        slm_sampler *s = new_sampler(&p, 8);
        for (int d = 0; d < 100000; d++) hits[slm_sampler_sample(s, logits)]++;
        slm_sampler_free(s);
        for (int i = 0; i < 8; i++) wrong += pow(hits[i] - probs[i] * 1e5, 2) / (probs[i] * 1e5);
    }
    assert_true(wrong > 1000.0);
}

/* The penalty stage on its own, on exact binary values. */
static void test_penalties_change_the_right_logits(void **state) {
    (void)state;
    enum { N = 6 };
    const float logits[N] = {2.0f, -2.0f, 1.0f, 4.0f, -1.0f, 0.5f};
    slm_history h;
    slm_error err;
    SLM_ASSERT_OK(slm_history_init(&h, 4, N, &err), &err);
    /* Window 4: the first 5 falls out, leaving 0, 1, 0, 3. */
    const slm_token seen[] = {5, 0, 1, 0, 3};
    for (size_t i = 0; i < sizeof seen / sizeof seen[0]; i++) slm_history_push(&h, seen[i]);
    float data[N];
    memcpy(data, logits, sizeof data);
    slm_penalty_params pen = {2.0f, 0.5f, 0.25f};
    slm_penalties_apply(&h, &pen, data);
    assert_float_equal(data[0], 2.0f / 2 - 2 * 0.25f - 0.5f, 0.0f); /* twice, positive */
    assert_float_equal(data[1], -2.0f * 2 - 0.25f - 0.5f, 0.0f);    /* once, negative */
    assert_float_equal(data[2], 1.0f, 0.0f);                         /* never seen */
    assert_float_equal(data[3], 4.0f / 2 - 0.25f - 0.5f, 0.0f);
    assert_float_equal(data[4], -1.0f, 0.0f);
    assert_float_equal(data[5], 0.5f, 0.0f); /* left the window */
    /* The history is unchanged by applying: a second pass does the same. */
    memcpy(data, logits, sizeof data);
    slm_penalties_apply(&h, &pen, data);
    assert_float_equal(data[0], 0.0f, 0.0f);
    assert_float_equal(data[1], -4.75f, 0.0f);
    slm_history_free(&h);
}

static slm_token greedy_after(const float *logits, int n, const slm_sampler_params *base, const slm_token *history,
                              int n_history) {
    slm_sampler_params p = *base;
    p.temperature = 0.0f;
    slm_sampler *s = new_sampler(&p, n);
    for (int i = 0; i < n_history; i++) slm_sampler_accept(s, history[i]);
    slm_token t = slm_sampler_sample(s, logits);
    slm_sampler_free(s);
    return t;
}

static void test_penalties_steer_greedy(void **state) {
    (void)state;
    const float pos[4] = {2.0f, 1.9f, 0.0f, 0.0f};
    const float neg[4] = {-1.0f, -1.05f, -3.0f, -3.0f};
    const float freq[4] = {1.0f, 0.5f, 0.0f, 0.0f};
    const slm_token zero[3] = {0, 0, 0};
    slm_sampler_params p = plain_params(0.0f, 1);

    p.repeat_penalty = 1.1f; /* 2.0 / 1.1 < 1.9; -1.0 * 1.1 < -1.05 */
    assert_int_equal(greedy_after(pos, 4, &p, zero, 0), 0);
    assert_int_equal(greedy_after(pos, 4, &p, zero, 1), 1);
    assert_int_equal(greedy_after(neg, 4, &p, zero, 1), 1);

    p = plain_params(0.0f, 1);
    p.presence_penalty = 0.25f; /* once, however often: 1.0 - 0.25 > 0.5 */
    assert_int_equal(greedy_after(freq, 4, &p, zero, 3), 0);

    p = plain_params(0.0f, 1);
    p.frequency_penalty = 0.25f; /* 1.0 - 2 * 0.25 ties 0.5: lowest id; 3x loses */
    assert_int_equal(greedy_after(freq, 4, &p, zero, 2), 0);
    assert_int_equal(greedy_after(freq, 4, &p, zero, 3), 1);

    /* Only the last repeat_last_n tokens count. */
    const slm_token old_zero[3] = {0, 2, 3};
    p = plain_params(0.0f, 1);
    p.repeat_penalty = 1.1f;
    p.repeat_last_n = 2;
    assert_int_equal(greedy_after(pos, 4, &p, old_zero, 3), 0);
    p.repeat_last_n = 3;
    assert_int_equal(greedy_after(pos, 4, &p, old_zero, 3), 1);
    p.repeat_last_n = -1; /* the whole history */
    assert_int_equal(greedy_after(pos, 4, &p, old_zero, 3), 1);
    p.repeat_last_n = 0; /* off */
    assert_int_equal(greedy_after(pos, 4, &p, old_zero, 3), 0);

    /* reset forgets the history. */
    p.repeat_last_n = 64;
    slm_sampler *s = new_sampler(&p, 4);
    slm_sampler_accept(s, 0);
    assert_int_equal(slm_sampler_sample(s, pos), 1);
    slm_sampler_reset(s);
    assert_int_equal(slm_sampler_sample(s, pos), 0);
    slm_sampler_free(s);
}

static void test_logit_bias_bans_a_token(void **state) {
    (void)state;
    enum { N = 50 };
    float *logits = random_logits(N, 2.0);
    logits[17] = 10.0f;
    slm_logit_bias bias[2] = {{17, -INFINITY}, {3, 0.0f}};
    slm_sampler_params p = plain_params(0.0f, 3);
    p.logit_bias = bias;
    p.n_logit_bias = 2;
    slm_sampler *greedy = new_sampler(&p, N);
    assert_int_not_equal(slm_sampler_sample(greedy, logits), 17);
    slm_sampler_free(greedy);

    p.temperature = 3.0f;
    slm_sampler *s = new_sampler(&p, N);
    bool allowed[N];
    for (int i = 0; i < N; i++) allowed[i] = i != 17;
    int hits[N] = {0};
    draw_within(s, logits, N, allowed, 5000, hits);
    slm_sampler_free(s);

    /* A positive bias makes a token win. */
    bias[1].bias = 100.0f;
    p.temperature = 0.0f;
    slm_sampler *boosted = new_sampler(&p, N);
    assert_int_equal(slm_sampler_sample(boosted, logits), 3);
    slm_sampler_free(boosted);

    /* Every token banned: -1, not a crash. */
    slm_logit_bias all[3] = {{0, -INFINITY}, {1, -INFINITY}, {2, -INFINITY}};
    p = plain_params(1.0f, 3);
    p.logit_bias = all;
    p.n_logit_bias = 3;
    slm_sampler *none = new_sampler(&p, 3);
    assert_int_equal(slm_sampler_sample(none, logits), -1);
    slm_sampler_free(none);
    free(logits);
}

static void draw_sequence(uint64_t seed, const float *logits, int n, slm_token *out, int count) {
    slm_sampler_params p = slm_sampler_default_params();
    p.seed = seed;
    p.repeat_penalty = 1.1f;
    slm_sampler *s = new_sampler(&p, n);
    for (int i = 0; i < count; i++) {
        out[i] = slm_sampler_sample(s, logits);
        slm_sampler_accept(s, out[i]);
    }
    slm_sampler_free(s);
}

static void test_seed_determines_sequence(void **state) {
    (void)state;
    enum { N = 1000, COUNT = 200 };
    float *logits = random_logits(N, 1.0);
    slm_token a[COUNT], b[COUNT], c[COUNT];
    draw_sequence(2024, logits, N, a, COUNT);
    draw_sequence(2024, logits, N, b, COUNT);
    draw_sequence(2025, logits, N, c, COUNT);
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c, sizeof a);

    /* reset restarts the stream. */
    slm_sampler_params p = plain_params(1.0f, 77);
    slm_sampler *s = new_sampler(&p, N);
    slm_token first[20];
    for (int i = 0; i < 20; i++) first[i] = slm_sampler_sample(s, logits);
    slm_sampler_reset(s);
    for (int i = 0; i < 20; i++) assert_int_equal(slm_sampler_sample(s, logits), first[i]);
    slm_sampler_free(s);
    free(logits);
}

static void expect_invalid(const slm_sampler_params *p, int n_vocab) {
    slm_sampler *s = (slm_sampler *)&s; /* must be reset to NULL */
    slm_error err = {SLM_OK, ""};
    assert_int_equal(slm_sampler_new(p, n_vocab, &s, &err), SLM_E_INVALID);
    assert_null(s);
    assert_int_equal(err.status, SLM_E_INVALID);
    assert_true(strlen(err.message) > 0);
}

static void test_invalid_params(void **state) {
    (void)state;
    slm_sampler_params p = slm_sampler_default_params();
    expect_invalid(&p, 0);
    expect_invalid(&p, -5);
    p.top_p = -0.1f;
    expect_invalid(&p, 100);
    p = slm_sampler_default_params();
    p.typical_p = -1.0f;
    expect_invalid(&p, 100);
    p = slm_sampler_default_params();
    p.min_p = 1.5f;
    expect_invalid(&p, 100);
    p = slm_sampler_default_params();
    p.temperature = NAN;
    expect_invalid(&p, 100);
    p = slm_sampler_default_params();
    p.repeat_penalty = 0.0f;
    expect_invalid(&p, 100);
    p = slm_sampler_default_params();
    p.repeat_last_n = -2;
    expect_invalid(&p, 100);
    slm_logit_bias out_of_range = {100, 1.0f};
    p = slm_sampler_default_params();
    p.logit_bias = &out_of_range;
    p.n_logit_bias = 1;
    expect_invalid(&p, 100);
    p.logit_bias = NULL;
    expect_invalid(&p, 100);
    slm_error err;
    slm_sampler *s = NULL;
    assert_int_equal(slm_sampler_new(NULL, 100, &s, &err), SLM_E_INVALID);
    /* The valid edge values are accepted. */
    p = slm_sampler_default_params();
    p.top_p = 0.0f;
    p.min_p = 1.0f;
    p.typical_p = 0.0f;
    s = new_sampler(&p, 1);
    const float one = 0.5f;
    assert_int_equal(slm_sampler_sample(s, &one), 0);
    assert_int_equal(slm_sampler_sample(s, NULL), -1);
    assert_int_equal(slm_sampler_sample(NULL, &one), -1);
    slm_sampler_free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_is_argmax),
        cmocka_unit_test(test_logits_not_modified),
        cmocka_unit_test(test_top_k_stays_in_k_best),
        cmocka_unit_test(test_top_k_ties_take_lowest_ids),
        cmocka_unit_test(test_top_p_stays_in_nucleus),
        cmocka_unit_test(test_min_p_keeps_likely_tokens),
        cmocka_unit_test(test_typical_p_stays_in_typical_set),
        cmocka_unit_test(test_temperature_follows_softmax),
        cmocka_unit_test(test_penalties_change_the_right_logits),
        cmocka_unit_test(test_penalties_steer_greedy),
        cmocka_unit_test(test_logit_bias_bans_a_token),
        cmocka_unit_test(test_seed_determines_sequence),
        cmocka_unit_test(test_invalid_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
