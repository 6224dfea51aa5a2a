/* threadpool.c - workers wait for the generation counter to move, run their
 * share of the task, and count themselves out.
 *
 * A forward pass runs hundreds of short tasks per token, so waiting is a
 * cheap barrier: spin on the atomic counters for a few microseconds (the next
 * task usually comes that soon), then sleep on a condition variable.
 *
 * The mutex is taken only when someone sleeps.  A sleeper announces itself
 * (n_sleeping, main_sleeping) under the mutex and then checks the counter;
 * the poster moves the counter and then checks for sleepers, both with
 * sequentially consistent atomics, so at least one of the two sees the
 * other: either the sleeper never sleeps, or the poster takes the mutex and
 * signals it. */
#include "runtime/threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

/* Polls of a counter before sleeping: some tens of microseconds. */
#define SPIN_POLLS 20000

struct slm_threadpool {
    int n_threads;
    pthread_t *workers; /* n_threads - 1 */
    int n_started;
    pthread_mutex_t lock;
    pthread_cond_t wake; /* a new task or shutdown */
    pthread_cond_t done; /* the last worker finished its share */
    atomic_ulong generation;
    atomic_int pending; /* workers still running the current task */
    atomic_bool stop;
    atomic_int n_sleeping;    /* workers in (or about to enter) cond_wait on wake */
    atomic_bool main_sleeping; /* the caller waits on done */
    slm_task_fn fn; /* published by the release increment of generation */
    void *arg;
};

typedef struct worker_arg {
    slm_threadpool *pool;
    int ith;
} worker_arg;

static bool task_posted(slm_threadpool *p, unsigned long seen) {
    return atomic_load_explicit(&p->generation, memory_order_acquire) != seen ||
           atomic_load_explicit(&p->stop, memory_order_acquire);
}

static void wait_for_task(slm_threadpool *p, unsigned long seen) {
    for (int i = 0; i < SPIN_POLLS; i++)
        if (task_posted(p, seen)) return;
    pthread_mutex_lock(&p->lock);
    atomic_fetch_add(&p->n_sleeping, 1);
    while (!task_posted(p, seen)) pthread_cond_wait(&p->wake, &p->lock);
    atomic_fetch_sub(&p->n_sleeping, 1);
    pthread_mutex_unlock(&p->lock);
}

static void *worker_main(void *arg) {
    worker_arg *wa = arg;
    slm_threadpool *p = wa->pool;
    int ith = wa->ith;
    free(wa);
    unsigned long seen = 0;
    for (;;) {
        wait_for_task(p, seen);
        if (atomic_load_explicit(&p->stop, memory_order_acquire)) break;
        seen = atomic_load_explicit(&p->generation, memory_order_acquire);
        p->fn(p->arg, ith, p->n_threads);
        if (atomic_fetch_sub(&p->pending, 1) == 1 && atomic_load(&p->main_sleeping)) {
            pthread_mutex_lock(&p->lock);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->lock);
        }
    }
    return NULL;
}

slm_threadpool *slm_threadpool_new(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    slm_threadpool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n_threads = n_threads;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->generation, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->stop, false);
    atomic_init(&p->n_sleeping, 0);
    atomic_init(&p->main_sleeping, false);
    if (n_threads > 1) {
        p->workers = calloc((size_t)n_threads - 1, sizeof *p->workers);
        if (!p->workers) {
            slm_threadpool_free(p);
            return NULL;
        }
    }
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa) {
            slm_threadpool_free(p);
            return NULL;
        }
        wa->pool = p;
        wa->ith = i;
        if (pthread_create(&p->workers[i - 1], NULL, worker_main, wa) != 0) {
            free(wa);
            slm_threadpool_free(p);
            return NULL;
        }
        p->n_started++;
    }
    return p;
}

void slm_threadpool_free(slm_threadpool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    atomic_store_explicit(&p->stop, true, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->n_started; i++) pthread_join(p->workers[i], NULL);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->lock);
    free(p->workers);
    free(p);
}

int slm_threadpool_n_threads(const slm_threadpool *p) { return p->n_threads; }

void slm_threadpool_run(slm_threadpool *p, slm_task_fn fn, void *arg) {
    if (!p || p->n_threads == 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store_explicit(&p->pending, p->n_threads - 1, memory_order_relaxed);
    atomic_fetch_add(&p->generation, 1);
    if (atomic_load(&p->n_sleeping) > 0) {
        pthread_mutex_lock(&p->lock);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);
    }
    fn(arg, 0, p->n_threads);
    for (int i = 0; i < SPIN_POLLS; i++)
        if (atomic_load_explicit(&p->pending, memory_order_acquire) == 0) return;
    pthread_mutex_lock(&p->lock);
    atomic_store(&p->main_sleeping, true);
    while (atomic_load(&p->pending) > 0) pthread_cond_wait(&p->done, &p->lock);
    atomic_store(&p->main_sleeping, false);
    pthread_mutex_unlock(&p->lock);
}

int slm_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
