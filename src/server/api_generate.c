/* api_generate.c - POST /v1/completions and /v1/chat/completions: validate,
 * tokenize, queue a job, then either wait for it (one JSON response) or
 * stream it as Server-Sent Events from an MHD content reader.  Both paths
 * watch the socket while they wait, so a client that hangs up cancels its
 * job within a scheduler step. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/rng.h"
#include "server/oai_format.h"
#include "server/server.h"

#define POLL_NS 20000000L /* how often a waiting handler looks at the socket */

static void wait_a_little(job *j) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += POLL_NS;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&j->cv, &j->mu, &ts);
}

/* The seed of a request that gave none: the clock and the request's serial
 * number, mixed by the library's generator so that close values still give
 * unrelated streams. */
static uint64_t fresh_seed(unsigned long long serial) {
    slm_rng r;
    slm_rng_seed(&r, (uint64_t)(monotonic_seconds() * 1e9) ^ serial);
    return slm_rng_next(&r);
}

/* ---- prompt --------------------------------------------------------------- */

static char *render_chat(server *s, const gen_request *req) {
    if (!s->tmpl.recognised && !atomic_exchange(&s->warned_template, true))
        fprintf(stderr, "slm serve: warning: %s; formatting chats as ChatML\n",
                slm_gguf_get(slm_model_gguf(s->model), "tokenizer.chat_template")
                    ? "the model's chat template is not one this build recognises"
                    : "the model has no chat template (tokenizer.chat_template)");
    time_t now = time(NULL);
    struct tm today;
    localtime_r(&now, &today);
    return chat_render(&s->tmpl, req->messages, req->n_messages, &today);
}

/* The prompt's token ids (malloc'ed), or false with an HTTP status and a
 * message. */
static bool prompt_tokens(server *s, gen_request *req, slm_token **out, size_t *n, int *status, char *msg, size_t cap) {
    if (req->prompt_ids) {
        *out = req->prompt_ids;
        *n = req->n_prompt_ids;
        req->prompt_ids = NULL;
        return true;
    }
    char *text = req->kind == REQ_CHAT ? render_chat(s, req) : req->prompt;
    if (!text) {
        *status = 500;
        snprintf(msg, cap, "out of memory rendering the chat");
        return false;
    }
    slm_error err = {0};
    slm_status st = slm_tokenize(s->vocab, text, strlen(text), true, true, out, n, &err);
    if (req->kind == REQ_CHAT) free(text);
    if (st != SLM_OK) {
        *status = st == SLM_E_NOMEM ? 500 : 400;
        snprintf(msg, cap, "cannot tokenize the prompt: %s", err.message);
        return false;
    }
    if (*n == 0) {
        free(*out);
        *status = 400;
        snprintf(msg, cap, "the prompt is empty (no tokens)");
        return false;
    }
    return true;
}

/* max_tokens must fit in the context with the prompt: say the numbers
 * rather than cut anything. */
static bool fit_context(server *s, const gen_request *req, size_t n_prompt, int32_t *max_tokens, char *msg, size_t cap) {
    int64_t n_ctx = slm_context_n_ctx(s->ctx);
    if ((int64_t)n_prompt >= n_ctx) {
        snprintf(msg, cap, "the prompt has %zu tokens, but the context holds %lld (prompt plus at least one new token)",
                 n_prompt, (long long)n_ctx);
        return false;
    }
    if (req->max_tokens < 0) {
        *max_tokens = (int32_t)(n_ctx - (int64_t)n_prompt);
        return true;
    }
    if ((int64_t)n_prompt + req->max_tokens > n_ctx) {
        snprintf(msg, cap, "the prompt has %zu tokens and max_tokens is %d: %lld in all, more than the context's %lld "
                 "tokens; lower max_tokens to %lld or less",
                 n_prompt, req->max_tokens, (long long)n_prompt + req->max_tokens, (long long)n_ctx,
                 (long long)(n_ctx - (int64_t)n_prompt));
        return false;
    }
    *max_tokens = req->max_tokens;
    return true;
}

/* ---- one JSON response ---------------------------------------------------- */

/* The "code" of a job that ended in error, in a reply or a stream's last event. */
static const char *job_error_code(const job *j) {
    return j->error_status == 503 ? "unavailable" : "internal_error";
}

static enum MHD_Result reply_whole(server *s, struct MHD_Connection *c, job *j, const oai_meta *m) {
    pthread_mutex_lock(&j->mu);
    while (!j->done) {
        wait_a_little(j);
        if (j->done) break;
        pthread_mutex_unlock(&j->mu);
        bool gone = client_gone(c);
        pthread_mutex_lock(&j->mu);
        if (gone) {
            atomic_store(&j->cancelled, true);
            pthread_mutex_unlock(&j->mu);
            job_release(j);
            return MHD_NO; /* nobody to answer: close the connection */
        }
    }
    pthread_mutex_unlock(&j->mu);
    enum MHD_Result r;
    if (j->error_status) {
        r = reply_error(s, c, (unsigned)j->error_status, NULL, "server_error", job_error_code(j), "%s", j->error);
    } else {
        size_t offset = 0;
        json_t *lp = j->req.logprobs ? oai_logprobs(m->kind, s->vocab, j->lps, j->n_lps, &offset) : NULL;
        r = reply_json(s, c, 200, oai_response(m, j->text.data ? j->text.data : "", j->text.len, j->finish, &j->usage, lp));
    }
    job_release(j);
    return r;
}

/* ---- streaming ------------------------------------------------------------ */

typedef struct stream_state {
    server *s;
    job *j;
    struct MHD_Connection *c;
    oai_meta meta;
    char id[64];
    strbuf out;        /* SSE bytes not yet handed to MHD */
    size_t out_pos;
    size_t text_sent;  /* bytes of j->text already in events */
    size_t lps_sent;
    size_t text_offset;
    bool role_sent;
    bool ended;
} stream_state;

/* Turns whatever the job produced since last time into SSE events. */
static void collect(stream_state *st) {
    job *j = st->j;
    st->out.len = 0;
    st->out_pos = 0;
    if (!st->role_sent) {
        st->role_sent = true;
        if (st->meta.kind == REQ_CHAT) {
            json_t *ch = oai_chunk(&st->meta, "", 0, true, NULL, NULL);
            sse_event(&st->out, ch);
            json_decref(ch);
        }
    }
    /* copy the new output under the lock: the scheduler may move its buffers */
    strbuf delta;
    sb_init(&delta);
    token_logprob *lps = NULL;
    size_t n_lps = 0;
    pthread_mutex_lock(&j->mu);
    bool done = j->done;
    if (j->text.len > st->text_sent) sb_append(&delta, j->text.data + st->text_sent, j->text.len - st->text_sent);
    st->text_sent = j->text.len;
    if (j->n_lps > st->lps_sent && (lps = malloc((j->n_lps - st->lps_sent) * sizeof *lps)) != NULL) {
        n_lps = j->n_lps - st->lps_sent;
        memcpy(lps, j->lps + st->lps_sent, n_lps * sizeof *lps);
    }
    st->lps_sent = j->n_lps;
    pthread_mutex_unlock(&j->mu);
    if (delta.len || n_lps) {
        json_t *lp = j->req.logprobs ? oai_logprobs(st->meta.kind, st->s->vocab, lps, n_lps, &st->text_offset) : NULL;
        json_t *ch = oai_chunk(&st->meta, delta.data ? delta.data : "", delta.len, false, NULL, lp);
        sse_event(&st->out, ch);
        json_decref(ch);
    }
    if (delta.oom) st->out.oom = true;
    sb_free(&delta);
    free(lps);
    if (!done) return;
    if (j->error_status) {
        json_t *e = oai_error(j->error, "server_error", job_error_code(j));
        sse_event(&st->out, e);
        json_decref(e);
    } else {
        json_t *ch = oai_chunk(&st->meta, NULL, 0, false, j->finish, NULL);
        sse_event(&st->out, ch);
        json_decref(ch);
        if (j->req.include_usage) {
            json_t *u = oai_usage_chunk(&st->meta, &j->usage);
            sse_event(&st->out, u);
            json_decref(u);
        }
    }
    sb_puts(&st->out, SSE_DONE);
    st->ended = true;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    stream_state *st = cls;
    while (st->out_pos == st->out.len) {
        if (st->ended) return MHD_CONTENT_READER_END_OF_STREAM;
        collect(st);
        if (st->out.oom) return MHD_CONTENT_READER_END_WITH_ERROR;
        if (st->out_pos < st->out.len) break;
        pthread_mutex_lock(&st->j->mu);
        if (!st->j->done && st->j->text.len == st->text_sent && st->j->n_lps == st->lps_sent) wait_a_little(st->j);
        pthread_mutex_unlock(&st->j->mu);
        if (client_gone(st->c)) {
            atomic_store(&st->j->cancelled, true);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
    size_t n = st->out.len - st->out_pos;
    if (n > max) n = max;
    memcpy(buf, st->out.data + st->out_pos, n);
    st->out_pos += n;
    return (ssize_t)n;
}

/* MHD is done with the response (finished, or the client went away). */
static void stream_free(void *cls) {
    stream_state *st = cls;
    atomic_store(&st->j->cancelled, true); /* no-op when the job already ended */
    job_release(st->j);
    sb_free(&st->out);
    free(st);
}

static enum MHD_Result reply_stream(server *s, struct MHD_Connection *c, job *j, const oai_meta *m) {
    stream_state *st = calloc(1, sizeof *st);
    if (!st) {
        atomic_store(&j->cancelled, true);
        job_release(j);
        return MHD_NO;
    }
    st->s = s;
    st->j = j;
    st->c = c;
    st->meta = *m;
    snprintf(st->id, sizeof st->id, "%s", m->id);
    st->meta.id = st->id;
    sb_init(&st->out);
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_read, st, stream_free);
    if (!r) {
        stream_free(st);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    add_common_headers(s, r);
    enum MHD_Result ok = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    metrics_response(&s->metrics, 200);
    return ok;
}

/* ---- entry ---------------------------------------------------------------- */

enum MHD_Result api_generate(server *s, struct MHD_Connection *c, req_kind kind, const char *body, size_t len) {
    char msg[768];
    gen_request req;
    if (!request_parse(body, len, kind, slm_model_n_vocab(s->model), &req, msg, sizeof msg))
        return reply_error(s, c, 400, NULL, "invalid_request_error", "invalid_request", "%s", msg);
    slm_token *toks = NULL;
    size_t n = 0;
    int status = 400;
    int32_t max_tokens = 0;
    if (!prompt_tokens(s, &req, &toks, &n, &status, msg, sizeof msg)) {
        request_free(&req);
        return reply_error(s, c, (unsigned)status, NULL, status == 400 ? "invalid_request_error" : "server_error",
                           status == 400 ? "invalid_prompt" : "internal_error", "%s", msg);
    }
    if (!fit_context(s, &req, n, &max_tokens, msg, sizeof msg)) {
        free(toks);
        request_free(&req);
        return reply_error(s, c, 400, NULL, "invalid_request_error", "context_length_exceeded", "%s", msg);
    }
    unsigned long long serial = atomic_fetch_add(&s->next_id, 1);
    if (!req.has_seed) req.sampling.seed = fresh_seed(serial);
    bool stream = req.stream;
    job *j = job_new(&req, toks, (int32_t)n, max_tokens, s->cfg.timeout_s);
    if (!j) {
        free(toks);
        request_free(&req);
        return reply_error(s, c, 500, NULL, "server_error", "internal_error", "out of memory");
    }
    submit_result sr = scheduler_submit(s->sched, j);
    if (sr != SUBMIT_OK) {
        job_release(j);
        job_release(j);
        if (sr == SUBMIT_QUEUE_FULL)
            return reply_error(s, c, 503, &(error_headers){.retry_after_s = RETRY_AFTER_S}, "server_error",
                               "queue_full",
                               "the server is busy: too many requests are waiting (--max-queue); retry later");
        return reply_error(s, c, 503, NULL, "server_error", "unavailable", "the server is shutting down");
    }
    char id[64];
    snprintf(id, sizeof id, "%s-%llx%04llx", kind == REQ_CHAT ? "chatcmpl" : "cmpl", (unsigned long long)s->started,
             serial);
    oai_meta m = {kind, id, (long long)time(NULL), s->cfg.alias};
    return stream ? reply_stream(s, c, j, &m) : reply_whole(s, c, j, &m);
}
