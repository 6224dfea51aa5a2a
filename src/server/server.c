/* server.c - starting and stopping `slm serve`: model, context,
 * scheduler and HTTP daemon, in an order that lets every thread finish. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/model_template.h"
#include "server/server.h"

bool server_load(server *s, char *err, size_t cap) {
    slm_error e = {0};
    if (slm_model_load_with(s->cfg.model_path, s->cfg.load_mode, &s->model, &e) != SLM_OK) {
        snprintf(err, cap, "%s", e.message);
        return false;
    }
    s->vocab = slm_model_vocab(s->model);
    slm_context_params p = slm_context_default_params();
    p.n_ctx = (uint32_t)s->cfg.n_ctx;
    p.n_seq = (uint32_t)s->cfg.parallel;
    p.n_threads = (uint32_t)s->cfg.n_threads;
    if (slm_context_new(s->model, &p, &s->ctx, &e) != SLM_OK) {
        snprintf(err, cap, "%s", e.message);
        return false;
    }
    s->tmpl = model_chat_template(s->model, &s->tmpl_text, &s->eos_text);
    s->sched = scheduler_start(s->ctx, s->model, s->cfg.parallel, s->cfg.max_queue, &s->metrics);
    if (!s->sched) {
        snprintf(err, cap, "cannot start the scheduler thread");
        return false;
    }
    atomic_store(&s->ready, true);
    return true;
}

void server_shutdown(server *s) {
    if (s->daemon) MHD_quiesce_daemon(s->daemon); /* no new connections */
    if (s->sched) scheduler_stop(s->sched);       /* running requests end with 503 */
    if (s->daemon) MHD_stop_daemon(s->daemon);    /* joins the connection threads */
    s->daemon = NULL;
    if (s->sched) scheduler_free(s->sched);
    s->sched = NULL;
    slm_context_free(s->ctx);
    slm_model_free(s->model);
    free(s->tmpl_text);
    free(s->eos_text);
    s->ctx = NULL;
    s->model = NULL;
}
