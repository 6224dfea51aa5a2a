/* server.h - the state of `slm serve` shared by the HTTP handlers. */
#ifndef SLM_SERVER_SERVER_H
#define SLM_SERVER_SERVER_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "server/chat_template.h"
#include "server/metrics.h"
#include "runtime/error.h"
#include "server/scheduler.h"
#include "slm.h"

typedef struct server_config {
    const char *model_path;
    const char *host;
    int port;
    int parallel;
    int n_ctx;
    int n_threads;
    const char *api_key; /* NULL: no authentication */
    int max_queue;
    size_t max_body;
    double timeout_s;    /* 0: none */
    const char *alias;   /* model name reported and echoed */
    const char *cors;    /* Access-Control-Allow-Origin value, NULL: none */
    slm_load_mode load_mode; /* --mmap / --no-mmap */
} server_config;

typedef struct server {
    server_config cfg;
    struct MHD_Daemon *daemon;
    atomic_bool ready; /* model loaded: the endpoints that need it answer */
    slm_model *model;
    const slm_vocab *vocab;
    slm_context *ctx;
    scheduler *sched;
    chat_template tmpl;
    char *tmpl_text; /* tokenizer.chat_template, NUL-terminated (NULL: none) */
    char *eos_text;  /* the EOS token's text, for templates that print it */
    atomic_bool warned_template;
    server_metrics metrics;
    long long started; /* wall-clock seconds, for "created" */
    atomic_ullong next_id;
} server;

/* Starts listening (the model is loaded afterwards; /health says 503 until
 * then).  Returns false with a message in err. */
bool server_listen(server *s, char *err, size_t cap);
/* Loads the model, creates the context and starts the scheduler. */
bool server_load(server *s, char *err, size_t cap);
/* Stops accepting, ends running requests, joins every thread, frees. */
void server_shutdown(server *s);

/* ---- used by the handlers (http.c, api_*.c) ---- */

typedef struct conn_ctx conn_ctx; /* one HTTP request */

/* Queues a JSON response (json stolen) with the usual headers. */
enum MHD_Result reply_json(server *s, struct MHD_Connection *c, unsigned status, json_t *json);

/* Headers some error replies add; zero / NULL fields add nothing. */
typedef struct error_headers {
    unsigned retry_after_s; /* "Retry-After: N": the condition passes (503 queue full, model loading) */
    const char *allow;      /* "Allow: METHOD": what the route accepts (405) */
} error_headers;

#define RETRY_AFTER_S 1 /* what a 503 worth retrying asks clients to wait */

/* Every error a handler sends: {"error": {"message", "type", "code"}} with
 * the status, the usual headers and those in h (NULL: none). */
enum MHD_Result reply_error(server *s, struct MHD_Connection *c, unsigned status, const error_headers *h,
                            const char *type, const char *code, const char *fmt, ...)
    SLM_PRINTF(7, 8);
void add_common_headers(server *s, struct MHD_Response *r);
/* True when the peer closed the connection (checked without blocking). */
bool client_gone(struct MHD_Connection *c);

enum MHD_Result api_generate(server *s, struct MHD_Connection *c, req_kind kind, const char *body, size_t len);
enum MHD_Result api_health(server *s, struct MHD_Connection *c);
enum MHD_Result api_models(server *s, struct MHD_Connection *c);
enum MHD_Result api_props(server *s, struct MHD_Connection *c);
enum MHD_Result api_metrics(server *s, struct MHD_Connection *c);
enum MHD_Result api_tokenize(server *s, struct MHD_Connection *c, const char *body, size_t len);
enum MHD_Result api_detokenize(server *s, struct MHD_Connection *c, const char *body, size_t len);

#endif
