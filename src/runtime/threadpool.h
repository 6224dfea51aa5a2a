/* threadpool.h - a fixed set of worker threads that run one task at a time.
 *
 * slm_threadpool_run(p, fn, arg) calls fn(arg, ith, nth) once for every
 * ith in 0..nth-1 (the caller's thread is ith 0) and returns when all calls
 * have returned.  Tasks split their work by ith alone, so the split -- and
 * with slm's fixed reduction orders, the result -- is the same every time.
 * A NULL pool stands for no workers: fn(arg, 0, 1) runs on the caller. */
#ifndef SLM_RUNTIME_THREADPOOL_H
#define SLM_RUNTIME_THREADPOOL_H

typedef struct slm_threadpool slm_threadpool;
typedef void (*slm_task_fn)(void *arg, int ith, int nth);

/* NULL when out of memory or a thread cannot be started. */
slm_threadpool *slm_threadpool_new(int n_threads);
void slm_threadpool_free(slm_threadpool *p);
int slm_threadpool_n_threads(const slm_threadpool *p);
void slm_threadpool_run(slm_threadpool *p, slm_task_fn fn, void *arg);

/* Number of processors online (at least 1). */
int slm_cpu_count(void);

#endif
