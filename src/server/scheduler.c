/* scheduler.c - slots, the wait queue and the batching loop (see
 * scheduler.h).
 *
 * Determinism: the forward pass gives bitwise the same logits for a token
 * whatever else shares its batch, and each job has its own sampler, so a
 * seeded request returns the same tokens alone or beside others. */
#include "server/scheduler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/stop.h"

/* Tokens per decode step: every generating slot's token plus prompt chunks
 * up to this total (a long prompt is spread over several steps so the
 * streams already running keep flowing). */
#define STEP_TOKENS 256

double monotonic_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

job *job_new(gen_request *req, slm_token *prompt, int32_t n_prompt, int32_t max_tokens, double timeout_s) {
    job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->req = *req;
    memset(req, 0, sizeof *req);
    j->prompt = prompt;
    j->n_prompt = n_prompt;
    j->max_tokens = max_tokens;
    j->t_submit = monotonic_seconds();
    j->deadline = timeout_s > 0 ? j->t_submit + timeout_s : 0;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    sb_init(&j->text);
    atomic_init(&j->cancelled, false);
    atomic_init(&j->refs, 2); /* the HTTP side and the scheduler */
    j->usage.prompt_tokens = n_prompt;
    return j;
}

void job_release(job *j) {
    if (!j || atomic_fetch_sub(&j->refs, 1) != 1) return;
    request_free(&j->req);
    free(j->prompt);
    sb_free(&j->text);
    free(j->lps);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}

typedef struct slot {
    int id;
    job *job;           /* NULL: idle */
    slm_token *cache;   /* the tokens this sequence holds in the KV cache */
    int32_t n_cache, cap_cache;
    bool generating;    /* false: prompt still being evaluated */
    slm_token next;     /* generating: the token to feed this step */
    int32_t batch_row;  /* row of this slot's logits in the step, -1 = none */
    int32_t n_fed;      /* tokens this slot put in the step */
    slm_sampler *sampler;
    slm_detok detok;
    strbuf gen;         /* everything generated, for the stop string scan */
    size_t released;    /* gen[0..released) was handed to the job */
    int32_t n_generated;
    uint64_t last_used;
} slot;

struct scheduler {
    slm_context *ctx;
    const slm_model *model;
    const slm_vocab *vocab;
    int32_t n_ctx, n_vocab;
    server_metrics *metrics;
    slot *slots;
    int n_slots;
    uint64_t clock; /* slot use counter, for least-recently-used choice */

    pthread_mutex_t mu; /* guards the queue and stopping */
    pthread_cond_t cv;
    job **queue;
    int q_len, q_cap;
    bool stopping;
    pthread_t thread;

    /* step buffers */
    slm_token *b_tokens;
    int32_t *b_pos, *b_seq;
    bool *b_logits;
};

/* ---- job output (called by the scheduler thread) ------------------------ */

static void job_finish(job *j, const char *finish, int error_status, const char *error) {
    pthread_mutex_lock(&j->mu);
    j->done = true;
    j->finish = finish;
    j->error_status = error_status;
    if (error) snprintf(j->error, sizeof j->error, "%s", error);
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

/* ---- slots ---------------------------------------------------------------- */

static int32_t common_prefix(const slm_token *a, int32_t na, const slm_token *b, int32_t nb) {
    int32_t i = 0;
    while (i < na && i < nb && a[i] == b[i]) i++;
    return i;
}

/* The idle slot whose cache shares the longest prefix with the prompt;
 * among equals the least recently used one. */
static slot *pick_slot(scheduler *s, const job *j, int32_t *prefix) {
    slot *best = NULL;
    int32_t best_len = -1;
    for (int i = 0; i < s->n_slots; i++) {
        slot *sl = &s->slots[i];
        if (sl->job) continue;
        int32_t p = common_prefix(sl->cache, sl->n_cache, j->prompt, j->n_prompt);
        if (p > best_len || (p == best_len && sl->last_used < best->last_used)) {
            best = sl;
            best_len = p;
        }
    }
    *prefix = best_len;
    return best;
}

static bool slot_start(scheduler *s, slot *sl, job *j, int32_t prefix) {
    /* keep at least one prompt token to evaluate: its logits start the answer */
    int32_t reuse = prefix < j->n_prompt - 1 ? prefix : j->n_prompt - 1;
    if (reuse < 0) reuse = 0;
    slm_kv_truncate(s->ctx, sl->id, reuse);
    sl->n_cache = reuse;
    if (j->n_prompt > sl->cap_cache) return false; /* the HTTP side checked the context size */
    slm_sampler_params sp = j->req.sampling;
    slm_sampler *smp = NULL;
    if (slm_sampler_new(&sp, s->n_vocab, &smp, NULL) != SLM_OK) return false;
    for (int32_t i = 0; i < j->n_prompt; i++) slm_sampler_accept(smp, j->prompt[i]);
    slm_sampler_free(sl->sampler);
    sl->sampler = smp;
    sl->job = j;
    sl->generating = false;
    sl->n_generated = 0;
    sl->released = 0;
    sb_free(&sl->gen);
    slm_detok_init(&sl->detok, false);
    sl->last_used = ++s->clock;
    j->usage.cached_tokens = reuse;
    pthread_mutex_lock(&s->metrics->mu);
    s->metrics->cached_tokens += (uint64_t)reuse;
    s->metrics->busy_slots++;
    pthread_mutex_unlock(&s->metrics->mu);
    return true;
}

static void slot_end(scheduler *s, slot *sl) {
    job_release(sl->job);
    sl->job = NULL;
    pthread_mutex_lock(&s->metrics->mu);
    s->metrics->busy_slots--;
    pthread_mutex_unlock(&s->metrics->mu);
}

/* ---- queue ---------------------------------------------------------------- */

submit_result scheduler_submit(scheduler *s, job *j) {
    pthread_mutex_lock(&s->mu);
    submit_result r = SUBMIT_OK;
    if (s->stopping) r = SUBMIT_STOPPING;
    else if (s->q_len >= s->q_cap) r = SUBMIT_QUEUE_FULL;
    else {
        s->queue[s->q_len++] = j;
        pthread_cond_signal(&s->cv);
        pthread_mutex_lock(&s->metrics->mu);
        s->metrics->queue_depth = s->q_len;
        s->metrics->requests_started++;
        pthread_mutex_unlock(&s->metrics->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return r;
}

static job *queue_pop(scheduler *s, int i) {
    job *j = s->queue[i];
    memmove(s->queue + i, s->queue + i + 1, (size_t)(s->q_len - i - 1) * sizeof *s->queue);
    s->q_len--;
    pthread_mutex_lock(&s->metrics->mu);
    s->metrics->queue_depth = s->q_len;
    pthread_mutex_unlock(&s->metrics->mu);
    return j;
}

static int busy_slots(const scheduler *s) {
    int n = 0;
    for (int i = 0; i < s->n_slots; i++) n += s->slots[i].job != NULL;
    return n;
}

/* Drops cancelled and expired jobs from the queue, then moves jobs into
 * idle slots in arrival order.  Called with s->mu held. */
static void admit(scheduler *s, double now) {
    for (int i = 0; i < s->q_len;) {
        job *j = s->queue[i];
        bool gone = atomic_load(&j->cancelled), late = j->deadline > 0 && now > j->deadline;
        if (!gone && !late) {
            i++;
            continue;
        }
        queue_pop(s, i);
        if (late && !gone) {
            pthread_mutex_lock(&s->metrics->mu);
            s->metrics->requests_timed_out++;
            pthread_mutex_unlock(&s->metrics->mu);
        }
        job_finish(j, NULL, 503, "the request waited for a slot longer than --timeout");
        job_release(j);
    }
    while (s->q_len > 0 && busy_slots(s) < s->n_slots) {
        job *j = queue_pop(s, 0);
        int32_t prefix = 0;
        slot *sl = pick_slot(s, j, &prefix);
        if (!slot_start(s, sl, j, prefix)) {
            job_finish(j, NULL, 500, "out of memory starting the request");
            job_release(j);
        }
    }
}

/* ---- one step ------------------------------------------------------------- */

/* Log-softmax of the raw logits: the chosen token's log-probability and
 * the n_top best tokens. */
static void fill_logprob(scheduler *s, const float *logits, slm_token t, int n_top, token_logprob *out) {
    float mx = -INFINITY;
    for (int32_t i = 0; i < s->n_vocab; i++) mx = logits[i] > mx ? logits[i] : mx;
    double sum = 0;
    for (int32_t i = 0; i < s->n_vocab; i++) sum += exp((double)logits[i] - mx);
    float norm = mx + (float)log(sum);
    out->token = t;
    out->logprob = logits[t] - norm;
    out->n_top = 0;
    for (int32_t i = 0; i < s->n_vocab; i++) {
        int k = out->n_top;
        if (k == n_top && (n_top == 0 || logits[i] <= out->top_logprob[k - 1])) continue;
        if (k < n_top) out->n_top++;
        else k--;
        while (k > 0 && out->top_logprob[k - 1] < logits[i]) {
            out->top[k] = out->top[k - 1];
            out->top_logprob[k] = out->top_logprob[k - 1];
            k--;
        }
        out->top[k] = i;
        out->top_logprob[k] = logits[i];
    }
    for (int k = 0; k < out->n_top; k++) out->top_logprob[k] -= norm;
}

/* Hands gen[released..upto) and a logprob entry to the job; finishes it
 * when finish is set.  When memory for the text or the logprobs runs out the
 * job ends with an error instead of a reply with pieces missing; returns
 * false then. */
static bool publish(slot *sl, size_t upto, const token_logprob *lp, const char *finish) {
    job *j = sl->job;
    pthread_mutex_lock(&j->mu);
    bool oom = sl->gen.oom;
    if (!oom && upto > sl->released) sb_append(&j->text, sl->gen.data + sl->released, upto - sl->released);
    oom = oom || j->text.oom;
    sl->released = upto > sl->released ? upto : sl->released;
    if (lp && !oom) {
        if (j->n_lps == j->cap_lps) {
            size_t cap = j->cap_lps ? j->cap_lps * 2 : 16;
            token_logprob *a = realloc(j->lps, cap * sizeof *a);
            if (a) {
                j->lps = a;
                j->cap_lps = cap;
            }
        }
        if (j->n_lps < j->cap_lps) j->lps[j->n_lps++] = *lp;
        else oom = true;
    }
    j->usage.completion_tokens = sl->n_generated;
    if (oom) {
        j->done = true;
        j->finish = NULL;
        j->error_status = 500;
        snprintf(j->error, sizeof j->error, "out of memory while generating the reply");
    } else if (finish) {
        j->done = true;
        j->finish = finish;
    }
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    return !oom;
}

/* Samples the next token of a slot whose logits the step produced and
 * decides whether it goes on.  Returns true when the slot finished. */
static bool advance(scheduler *s, slot *sl, const float *logits, double now) {
    job *j = sl->job;
    slm_token t = slm_sampler_sample(sl->sampler, logits);
    if (t < 0) { /* the logit bias banned every token */
        publish(sl, sl->gen.len, NULL, "stop");
        return true;
    }
    slm_sampler_accept(sl->sampler, t);
    token_logprob lp;
    bool want_lp = j->req.logprobs;
    if (want_lp) fill_logprob(s, logits, t, j->req.top_logprobs, &lp);
    if (sl->n_generated++ == 0) metrics_ttft(s->metrics, now - j->t_submit);
    const char *finish = NULL;
    size_t upto = sl->gen.len;
    bool stop_string = false;
    if (slm_vocab_is_eog(s->vocab, t)) {
        finish = "stop";
    } else {
        size_t from = sl->gen.len;
        sb_append_token(&sl->gen, &sl->detok, s->vocab, t);
        stop_result r = stop_scan(j->req.stop, j->req.n_stop, sl->gen.data ? sl->gen.data : "", sl->gen.len, from);
        upto = r.safe;
        stop_string = r.found;
        if (r.found) finish = "stop";
    }
    if (!finish && (sl->n_generated >= j->max_tokens || sl->n_cache + 1 > s->n_ctx)) finish = "length";
    if (!finish && j->deadline > 0 && now > j->deadline) {
        finish = "length";
        pthread_mutex_lock(&s->metrics->mu);
        s->metrics->requests_timed_out++;
        pthread_mutex_unlock(&s->metrics->mu);
    }
    if (finish && !stop_string) {
        /* no more tokens: text held back for a possible stop string is released */
        char tail[16]; /* more than the at most 3 bytes a detokenizer holds back */
        size_t n = slm_detok_flush(&sl->detok, tail, sizeof tail);
        sb_append(&sl->gen, tail, n);
        upto = sl->gen.len;
    }
    if (!publish(sl, upto, want_lp ? &lp : NULL, finish)) return true;
    sl->next = t;
    sl->generating = true;
    return finish != NULL;
}

/* Fails every job of the step (a decode error that is not theirs to fix). */
static void fail_active(scheduler *s, int status, const char *msg) {
    for (int i = 0; i < s->n_slots; i++) {
        slot *sl = &s->slots[i];
        if (!sl->job) continue;
        job_finish(sl->job, NULL, status, msg);
        slm_kv_truncate(s->ctx, sl->id, 0);
        sl->n_cache = 0;
        slot_end(s, sl);
    }
}

/* Builds the step's batch: generating slots first (one token each), then
 * prompt chunks within STEP_TOKENS. */
static int32_t build_batch(scheduler *s, int *n_prompt, int *n_gen) {
    int32_t n = 0;
    *n_prompt = *n_gen = 0;
    for (int i = 0; i < s->n_slots; i++) {
        slot *sl = &s->slots[i];
        sl->batch_row = -1;
        sl->n_fed = 0;
        if (!sl->job || !sl->generating) continue;
        s->b_tokens[n] = sl->next;
        s->b_seq[n] = sl->id;
        s->b_pos[n] = sl->n_cache;
        s->b_logits[n] = true;
        sl->batch_row = n++;
        sl->n_fed = 1;
        (*n_gen)++;
    }
    for (int i = 0; i < s->n_slots && n < STEP_TOKENS; i++) {
        slot *sl = &s->slots[i];
        if (!sl->job || sl->generating) continue;
        int32_t left = sl->job->n_prompt - sl->n_cache, room = STEP_TOKENS - n;
        int32_t take = left < room ? left : room;
        for (int32_t k = 0; k < take; k++) {
            s->b_tokens[n] = sl->job->prompt[sl->n_cache + k];
            s->b_seq[n] = sl->id;
            s->b_pos[n] = sl->n_cache + k;
            s->b_logits[n] = k == left - 1;
            if (s->b_logits[n]) sl->batch_row = n;
            n++;
        }
        sl->n_fed = take;
        *n_prompt += take;
    }
    return n;
}

/* Cancelled (client gone) jobs leave their slot before the step. */
static void drop_cancelled(scheduler *s) {
    for (int i = 0; i < s->n_slots; i++) {
        slot *sl = &s->slots[i];
        if (!sl->job || !atomic_load(&sl->job->cancelled)) continue;
        job_finish(sl->job, NULL, 499, "cancelled");
        pthread_mutex_lock(&s->metrics->mu);
        s->metrics->requests_cancelled++;
        pthread_mutex_unlock(&s->metrics->mu);
        slot_end(s, sl);
    }
}

static void step(scheduler *s) {
    drop_cancelled(s);
    int n_prompt = 0, n_gen = 0;
    int32_t n = build_batch(s, &n_prompt, &n_gen);
    if (n == 0) return;
    slm_batch b = {n, s->b_tokens, s->b_pos, s->b_seq, s->b_logits};
    slm_error err = {0};
    double t0 = monotonic_seconds();
    slm_status st = slm_decode(s->ctx, &b, &err);
    double now = monotonic_seconds();
    if (st != SLM_OK) {
        fail_active(s, 500, err.message);
        return;
    }
    int n_sampled = 0;
    for (int i = 0; i < s->n_slots; i++) {
        slot *sl = &s->slots[i];
        if (!sl->job || sl->n_fed == 0) continue;
        const slm_token *fed = sl->generating ? &sl->next : sl->job->prompt + sl->n_cache;
        memcpy(sl->cache + sl->n_cache, fed, (size_t)sl->n_fed * sizeof *fed);
        sl->n_cache += sl->n_fed;
        if (sl->batch_row < 0) continue; /* prompt not complete yet */
        n_sampled++;
        if (advance(s, sl, slm_get_logits(s->ctx, sl->batch_row), now)) slot_end(s, sl);
    }
    metrics_step(s->metrics, n_prompt, n_gen, n_sampled, now - t0);
}

static void *run(void *arg) {
    scheduler *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->stopping && s->q_len == 0 && busy_slots(s) == 0) pthread_cond_wait(&s->cv, &s->mu);
        if (s->stopping) {
            while (s->q_len > 0) {
                job *j = queue_pop(s, 0);
                job_finish(j, NULL, 503, "the server is shutting down");
                job_release(j);
            }
            pthread_mutex_unlock(&s->mu);
            fail_active(s, 503, "the server is shutting down");
            return NULL;
        }
        admit(s, monotonic_seconds());
        pthread_mutex_unlock(&s->mu);
        step(s);
    }
}

void scheduler_free(scheduler *s) {
    for (int i = 0; s->slots && i < s->n_slots; i++) {
        free(s->slots[i].cache);
        slm_sampler_free(s->slots[i].sampler);
        sb_free(&s->slots[i].gen);
    }
    free(s->slots);
    free(s->queue);
    free(s->b_tokens);
    free(s->b_pos);
    free(s->b_seq);
    free(s->b_logits);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

scheduler *scheduler_start(slm_context *ctx, const slm_model *model, int n_slots, int max_queue,
                           server_metrics *metrics) {
    scheduler *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->ctx = ctx;
    s->model = model;
    s->vocab = slm_model_vocab(model);
    s->n_ctx = (int32_t)slm_context_n_ctx(ctx);
    s->n_vocab = slm_model_n_vocab(model);
    s->metrics = metrics;
    s->n_slots = n_slots;
    s->q_cap = max_queue;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->slots = calloc((size_t)n_slots, sizeof *s->slots);
    s->queue = calloc((size_t)(max_queue > 0 ? max_queue : 1), sizeof *s->queue);
    size_t cap = STEP_TOKENS + (size_t)n_slots;
    s->b_tokens = malloc(cap * sizeof *s->b_tokens);
    s->b_pos = malloc(cap * sizeof *s->b_pos);
    s->b_seq = malloc(cap * sizeof *s->b_seq);
    s->b_logits = malloc(cap * sizeof *s->b_logits);
    bool ok = s->slots && s->queue && s->b_tokens && s->b_pos && s->b_seq && s->b_logits;
    for (int i = 0; ok && i < n_slots; i++) {
        s->slots[i].id = i;
        s->slots[i].cache = malloc((size_t)s->n_ctx * sizeof(slm_token));
        s->slots[i].cap_cache = s->n_ctx;
        ok = s->slots[i].cache != NULL;
    }
    if (!ok || pthread_create(&s->thread, NULL, run, s) != 0) {
        scheduler_free(s);
        return NULL;
    }
    return s;
}

void scheduler_stop(scheduler *s) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
}
