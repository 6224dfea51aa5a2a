/* metrics.h - server counters and the Prometheus text of GET /metrics. */
#ifndef SLM_SERVER_METRICS_H
#define SLM_SERVER_METRICS_H

#include <pthread.h>
#include <stdint.h>

#include "server/strbuf.h"

#define METRICS_TTFT_BUCKETS 11

typedef struct server_metrics {
    pthread_mutex_t mu;
    uint64_t responses[6];      /* by status class: 1xx..5xx (index 1..5) */
    uint64_t requests_started;  /* generation requests accepted into the queue */
    uint64_t requests_cancelled; /* client went away */
    uint64_t requests_timed_out;
    uint64_t prompt_tokens;     /* evaluated (cached ones not counted) */
    uint64_t cached_tokens;
    uint64_t generated_tokens;
    double prompt_seconds;      /* decode time spent on prompt tokens */
    double generation_seconds;  /* decode time spent on generated tokens */
    int queue_depth;
    int busy_slots;
    int n_slots;
    uint64_t ttft_bucket[METRICS_TTFT_BUCKETS]; /* cumulative counts are computed when printed */
    uint64_t ttft_count;
    double ttft_sum;
} server_metrics;

void metrics_init(server_metrics *m, int n_slots);
void metrics_destroy(server_metrics *m);
void metrics_response(server_metrics *m, unsigned status);
void metrics_ttft(server_metrics *m, double seconds);
/* One decode step: its time is split between prompt and generated tokens
 * in proportion to their counts; n_sampled tokens came out of it. */
void metrics_step(server_metrics *m, int n_prompt, int n_gen, int n_sampled, double seconds);
/* Prometheus text exposition format 0.0.4. */
void metrics_render(server_metrics *m, strbuf *out);

#endif
