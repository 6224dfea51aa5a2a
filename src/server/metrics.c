/* metrics.c - counters behind GET /metrics (see metrics.h). */
#include "server/metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const double TTFT_BOUNDS[METRICS_TTFT_BUCKETS] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

void metrics_init(server_metrics *m, int n_slots) {
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
    m->n_slots = n_slots;
}

void metrics_destroy(server_metrics *m) { pthread_mutex_destroy(&m->mu); }

void metrics_response(server_metrics *m, unsigned status) {
    pthread_mutex_lock(&m->mu);
    if (status >= 100 && status < 600) m->responses[status / 100]++;
    pthread_mutex_unlock(&m->mu);
}

void metrics_ttft(server_metrics *m, double seconds) {
    pthread_mutex_lock(&m->mu);
    for (int i = 0; i < METRICS_TTFT_BUCKETS; i++)
        if (seconds <= TTFT_BOUNDS[i]) {
            m->ttft_bucket[i]++;
            break;
        }
    m->ttft_count++;
    m->ttft_sum += seconds;
    pthread_mutex_unlock(&m->mu);
}

void metrics_step(server_metrics *m, int n_prompt, int n_gen, int n_sampled, double seconds) {
    int total = n_prompt + n_gen;
    if (total <= 0) return;
    pthread_mutex_lock(&m->mu);
    m->prompt_tokens += (uint64_t)n_prompt;
    m->generated_tokens += (uint64_t)n_sampled;
    m->prompt_seconds += seconds * n_prompt / total;
    m->generation_seconds += seconds * n_gen / total;
    pthread_mutex_unlock(&m->mu);
}

static void line(strbuf *b, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0) sb_append(b, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

static void counter(strbuf *b, const char *name, const char *help, double v) {
    line(b, "# HELP slm_%s %s\n# TYPE slm_%s counter\nslm_%s %.17g\n", name, help, name, name, v);
}

static void gauge(strbuf *b, const char *name, const char *help, double v) {
    line(b, "# HELP slm_%s %s\n# TYPE slm_%s gauge\nslm_%s %.17g\n", name, help, name, name, v);
}

void metrics_render(server_metrics *m, strbuf *b) {
    pthread_mutex_lock(&m->mu);
    server_metrics s = *m;
    pthread_mutex_unlock(&m->mu);
    line(b, "# HELP slm_http_responses_total HTTP responses by status class.\n"
            "# TYPE slm_http_responses_total counter\n");
    for (int c = 1; c <= 5; c++) line(b, "slm_http_responses_total{code=\"%dxx\"} %llu\n", c, (unsigned long long)s.responses[c]);
    counter(b, "requests_total", "Generation requests accepted.", (double)s.requests_started);
    counter(b, "requests_cancelled_total", "Generation requests cancelled by a client disconnect.",
            (double)s.requests_cancelled);
    counter(b, "requests_timed_out_total", "Generation requests stopped by --timeout.", (double)s.requests_timed_out);
    counter(b, "prompt_tokens_total", "Prompt tokens evaluated (prompt cache hits excluded).", (double)s.prompt_tokens);
    counter(b, "prompt_tokens_cached_total", "Prompt tokens reused from a slot's cache.", (double)s.cached_tokens);
    counter(b, "generated_tokens_total", "Tokens generated.", (double)s.generated_tokens);
    gauge(b, "prompt_tokens_per_second", "Prompt evaluation speed since start.",
          s.prompt_seconds > 0 ? s.prompt_tokens / s.prompt_seconds : 0);
    gauge(b, "generation_tokens_per_second", "Generation speed since start (all slots together).",
          s.generation_seconds > 0 ? s.generated_tokens / s.generation_seconds : 0);
    gauge(b, "queue_depth", "Requests waiting for a slot.", s.queue_depth);
    gauge(b, "slots_busy", "Slots running a request.", s.busy_slots);
    gauge(b, "slots_total", "Slots (--parallel).", s.n_slots);
    line(b, "# HELP slm_time_to_first_token_seconds Time from request to first generated token.\n"
            "# TYPE slm_time_to_first_token_seconds histogram\n");
    uint64_t cum = 0;
    for (int i = 0; i < METRICS_TTFT_BUCKETS; i++) {
        cum += s.ttft_bucket[i];
        line(b, "slm_time_to_first_token_seconds_bucket{le=\"%g\"} %llu\n", TTFT_BOUNDS[i], (unsigned long long)cum);
    }
    line(b, "slm_time_to_first_token_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)s.ttft_count);
    line(b, "slm_time_to_first_token_seconds_sum %.17g\n", s.ttft_sum);
    line(b, "slm_time_to_first_token_seconds_count %llu\n", (unsigned long long)s.ttft_count);
}
