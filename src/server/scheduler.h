/* scheduler.h - continuous batching: one thread owns the model context and,
 * every step, runs ONE slm_decode holding the next token of every
 * generating slot plus a chunk of prompt for slots still being filled.
 *
 * HTTP threads submit jobs and read their output; a job is shared by its
 * HTTP thread and the scheduler (reference counted) and its output part is
 * guarded by job->mu. */
#ifndef SLM_SERVER_SCHEDULER_H
#define SLM_SERVER_SCHEDULER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "server/metrics.h"
#include "server/oai_format.h"
#include "server/request.h"
#include "server/strbuf.h"
#include "slm.h"

typedef struct job {
    /* input: written before submit, read-only afterwards */
    gen_request req;
    slm_token *prompt;
    int32_t n_prompt;
    int32_t max_tokens;
    double t_submit;
    double deadline; /* monotonic seconds; 0 = none */

    /* output, guarded by mu; cv signals every change */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    strbuf text;          /* released text (never part of a stop string) */
    token_logprob *lps;   /* one per generated token when logprobs were asked */
    size_t n_lps, cap_lps;
    bool done;
    const char *finish;   /* "stop" or "length" once done without error */
    int error_status;     /* done with an error: HTTP status and message */
    char error[256];
    oai_usage usage;

    atomic_bool cancelled; /* set by the HTTP side when the client is gone */
    atomic_int refs;
} job;

/* A job for req (moved in) and its prompt tokens (owned). */
job *job_new(gen_request *req, slm_token *prompt, int32_t n_prompt, int32_t max_tokens, double timeout_s);
void job_release(job *j);

typedef enum submit_result { SUBMIT_OK, SUBMIT_QUEUE_FULL, SUBMIT_STOPPING } submit_result;

typedef struct scheduler scheduler;

/* Starts the scheduler thread on ctx (n_seq slots). */
scheduler *scheduler_start(slm_context *ctx, const slm_model *model, int n_slots, int max_queue,
                           server_metrics *metrics);
submit_result scheduler_submit(scheduler *s, job *j);
/* Ends every queued and running job (error 503) and joins the thread;
 * later submits answer SUBMIT_STOPPING. */
void scheduler_stop(scheduler *s);
/* Frees a stopped scheduler once no HTTP thread can call it any more. */
void scheduler_free(scheduler *s);

double monotonic_seconds(void);

#endif
